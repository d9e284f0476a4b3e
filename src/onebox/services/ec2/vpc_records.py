"""What the VPC resource modules share: record kinds, id checks and lookups with EC2's error codes."""

from __future__ import annotations

import re
from typing import Any

from onebox.aws.errors import AwsError
from onebox.store import Record, Store

VPC = "ec2:vpc"
SUBNET = "ec2:subnet"
SECURITY_GROUP = "ec2:security-group"
ROUTE_TABLE = "ec2:route-table"
INTERNET_GATEWAY = "ec2:internet-gateway"
NETWORK_ACL = "ec2:network-acl"
PRIVATE_IP = "ec2:private-ip"  # one record per address handed out in a subnet (id "subnet-…/10.0.1.5")

_ID = re.compile(r"^[a-z]+-(?:[0-9a-f]{8}|[0-9a-f]{17})$")

# prefix -> (kind, the word EC2 uses in "The <word> ID '…' does not exist", NotFound code, Malformed code)
_LOOKUPS: dict[str, tuple[str, str, str, str]] = {
    "vpc": (VPC, "vpc", "InvalidVpcID.NotFound", "InvalidVpcID.Malformed"),
    "subnet": (SUBNET, "subnet", "InvalidSubnetID.NotFound", "InvalidSubnetID.Malformed"),
    "sg": (SECURITY_GROUP, "security group", "InvalidGroup.NotFound", "InvalidGroupId.Malformed"),
    "rtb": (ROUTE_TABLE, "routeTable", "InvalidRouteTableID.NotFound", "InvalidRouteTableId.Malformed"),
    "igw": (
        INTERNET_GATEWAY,
        "internetGateway",
        "InvalidInternetGatewayID.NotFound",
        "InvalidInternetGatewayId.Malformed",
    ),
    "acl": (NETWORK_ACL, "networkAcl", "InvalidNetworkAclID.NotFound", "InvalidNetworkAclId.Malformed"),
}


def check_id(prefix: str, value: str) -> None:
    """EC2's Malformed error for an id that cannot be one of `prefix` (ids are checked before lookups)."""
    _, _, _, malformed = _LOOKUPS[prefix]
    if not value.startswith(prefix + "-") or not _ID.match(value):
        raise AwsError(malformed, f'Invalid id: "{value}"')


def not_found(prefix: str, value: str) -> AwsError:
    _, word, code, _ = _LOOKUPS[prefix]
    if prefix == "sg":
        return AwsError(code, f"The security group '{value}' does not exist")
    return AwsError(code, f"The {word} ID '{value}' does not exist")


def get(store: Store, prefix: str, account: str, region: str, value: str) -> Record:
    """The record for id `value`, or EC2's Malformed/NotFound error."""
    check_id(prefix, value)
    kind = _LOOKUPS[prefix][0]
    record = store.get(kind, account, region, value)
    if record is None:
        raise not_found(prefix, value)
    return record


def get_many(store: Store, prefix: str, account: str, region: str, ids: list[str] | None) -> list[Record]:
    """Every record of the kind, or exactly `ids` (all must exist, as Describe* requires)."""
    kind = _LOOKUPS[prefix][0]
    if not ids:
        return store.list(kind, account, region)
    for value in ids:
        check_id(prefix, value)
    records = {record.id: record for record in store.list(kind, account, region, ids=ids)}
    for value in ids:
        if value not in records:
            raise not_found(prefix, value)
    return [records[value] for value in dict.fromkeys(ids)]


def check_dry_run(params: dict[str, Any]) -> None:
    if params.get("DryRun"):
        raise AwsError("DryRunOperation", "Request would have succeeded, but DryRun flag is set.", 412)


def dependency_violation(word: str, resource_id: str) -> AwsError:
    return AwsError(
        "DependencyViolation", f"The {word} '{resource_id}' has dependencies and cannot be deleted."
    )
