"""Where a DB instance sits in a VPC: its DB subnet group (or the default VPC's subnets), a private
address in one of them held by a requester-managed interface ("RDSNetworkInterface", as AWS shows it
in DescribeNetworkInterfaces) and its VPC security groups. The addresses, interfaces and groups are
EC2's own records (services/ec2/addressing, security_groups): the VPC controller keeps the groups'
rules applied to the interface like an instance's. The instance controller plugs it in
(controller.py, host/engines/vpc_access.py).

Without EC2's VPC modules (an install without VPC support) instances have no placement and only their
loopback endpoint."""

from __future__ import annotations

import importlib
import ipaddress
from typing import Any

from onebox.aws.dispatch import RequestContext
from onebox.aws.errors import AwsError
from onebox.services.ec2 import instance_network
from onebox.store import Store
from onebox.store.ids import new_id

DESCRIPTION = "RDSNetworkInterface"
REQUESTER = "amazon-rds"


def _ec2(name: str) -> Any:
    try:
        return importlib.import_module(f"onebox.services.ec2.{name}")
    except ImportError:
        return None


def subnet_group_spec(ctx: RequestContext, subnet_ids: list[str]) -> dict[str, Any]:
    """The VPC and zones of a DB subnet group's subnets, with RDS's errors: unknown subnets, subnets of
    several VPCs, fewer than two Availability Zones."""
    records = _ec2("vpc_records")
    if records is None:
        return {"SubnetIds": subnet_ids, "VpcId": "", "Zones": {}}
    store = ctx.runtime.store
    found = {s: store.get(records.SUBNET, ctx.account_id, ctx.region, s) for s in subnet_ids}
    missing = [s for s, record in found.items() if record is None]
    if missing:
        raise AwsError("InvalidSubnet", f"Some input subnets in :[{', '.join(missing)}] are invalid.")
    vpcs = {record.spec["VpcId"] for record in found.values()}
    if len(vpcs) > 1:
        raise AwsError(
            "InvalidParameterValue", "The subnets of a DB subnet group must all be in the same VPC."
        )
    zones = {s: record.spec["AvailabilityZone"] for s, record in found.items()}
    if len(set(zones.values())) < 2:
        raise AwsError(
            "DBSubnetGroupDoesNotCoverEnoughAZs",
            "The DB subnet group doesn't meet Availability Zone (AZ) coverage requirement. Current AZ "
            f"coverage: {', '.join(sorted(set(zones.values())))}. Add subnets to cover at least 2 AZs.",
        )
    return {"SubnetIds": subnet_ids, "VpcId": vpcs.pop(), "Zones": zones}


def _candidate_subnets(ctx: RequestContext, group: Any) -> list[Any]:
    records = _ec2("vpc_records")
    store = ctx.runtime.store
    if group is not None:
        subnets = [store.get(records.SUBNET, ctx.account_id, ctx.region, s) for s in group.spec["SubnetIds"]]
        return [s for s in subnets if s is not None]
    default_vpc = _ec2("default_vpc")
    if default_vpc is None:
        return []
    try:
        vpc = default_vpc.ensure_default_vpc(ctx.runtime, ctx.account_id, ctx.region)
    except AwsError:
        return []  # the user deleted the default VPC: the instance keeps only its host endpoint
    return [
        s
        for s in store.list(records.SUBNET, ctx.account_id, ctx.region)
        if s.spec["VpcId"] == vpc.id and s.spec.get("DefaultForAz")
    ]


def check_groups(ctx: RequestContext, vpc_id: str, group_ids: list[str]) -> list[str]:
    """VpcSecurityGroupIds must exist and be in the instance's VPC; none means the VPC's default group."""
    records = _ec2("vpc_records")
    store = ctx.runtime.store
    chosen = []
    for group_id in group_ids:
        group = store.get(records.SECURITY_GROUP, ctx.account_id, ctx.region, group_id)
        if group is None:
            raise AwsError(
                "InvalidParameterValue", f"Invalid security group , groupId= {group_id}, groupName=."
            )
        if group.spec.get("VpcId") != vpc_id:
            raise AwsError(
                "InvalidParameterCombination",
                "The DB instance and EC2 security group are in different VPCs. The DB instance is in "
                f"{vpc_id} and the EC2 security group is in {group.spec.get('VpcId')}",
            )
        chosen.append(group.id)
    if not chosen:
        chosen = [
            g.id
            for g in store.list(records.SECURITY_GROUP, ctx.account_id, ctx.region)
            if g.spec.get("VpcId") == vpc_id and g.spec.get("GroupName") == "default"
        ][:1]
    return list(dict.fromkeys(chosen))


def place(
    ctx: RequestContext, identifier: str, subnet_group: Any, group_ids: list[str], zone: str | None
) -> dict[str, Any] | None:
    """Choose the subnet (in `zone` if given), check the groups and take a private address for the
    instance's interface. Call inside the store transaction that records the instance."""
    if not instance_network.vpc_support():
        return None  # groups and subnet group are recorded and returned, with nowhere to apply them
    subnets = sorted(_candidate_subnets(ctx, subnet_group), key=lambda s: (s.spec["AvailabilityZone"], s.id))
    if not subnets:
        return None
    if zone:
        in_zone = [s for s in subnets if s.spec["AvailabilityZone"] == zone]
        if not in_zone:
            raise AwsError(
                "InvalidParameterCombination",
                f"No subnet of the DB subnet group is in the Availability Zone {zone}.",
            )
        subnets = in_zone
    subnet = subnets[0]
    vpc_id = subnet.spec["VpcId"]
    groups = check_groups(ctx, vpc_id, group_ids)
    interface_id = new_id("eni")
    addressing = _ec2("addressing")
    ip = addressing.allocate_private_ip(
        ctx.runtime.store,
        ctx.account_id,
        ctx.region,
        subnet.id,
        None,
        interface_id=interface_id,
        group_ids=groups,
        owner=REQUESTER,
    )
    _mark_requester_managed(ctx.runtime.store, ctx.account_id, ctx.region, subnet.id, ip, identifier)
    return {
        "VpcId": vpc_id,
        "SubnetId": subnet.id,
        "AvailabilityZone": subnet.spec["AvailabilityZone"],
        "PrivateIp": ip,
        "PrefixLen": ipaddress.ip_network(subnet.spec["CidrBlock"]).prefixlen,
        "InterfaceId": interface_id,
        "GroupIds": groups,
    }


def _mark_requester_managed(
    store: Store, account: str, region: str, subnet_id: str, ip: str, db: str
) -> None:
    records = _ec2("vpc_records")
    record = store.get(records.PRIVATE_IP, account, region, f"{subnet_id}/{ip}")
    if record is not None:
        spec = {**record.spec, "Description": DESCRIPTION, "RequesterManaged": True, "RequesterId": REQUESTER}
        store.update(record, spec={**spec, "DBInstanceIdentifier": db})


def set_groups(ctx: RequestContext, placement: dict[str, Any], group_ids: list[str]) -> list[str]:
    """ModifyDBInstance VpcSecurityGroupIds: the VPC controller re-applies the interface's rules."""
    groups = check_groups(ctx, placement["VpcId"], group_ids)
    instance_network.set_groups(
        ctx.runtime.store, ctx.account_id, ctx.region, placement["SubnetId"], placement["PrivateIp"], groups
    )
    return groups


def release(store: Store, account: str, region: str, placement: dict[str, Any] | None) -> None:
    if placement:
        instance_network.release_ip(store, account, region, placement["SubnetId"], placement["PrivateIp"])


def rules(store: Store, account: str, region: str, placement: dict[str, Any]) -> Any:
    """The interface's current firewall rules (its record's groups: ModifyDBInstance may change them)."""
    records = _ec2("vpc_records")
    security_groups = _ec2("security_groups")
    address = store.get(
        records.PRIVATE_IP, account, region, f"{placement['SubnetId']}/{placement['PrivateIp']}"
    )
    groups = (address.spec.get("GroupIds") if address else None) or placement["GroupIds"]
    return security_groups.rules_for(store, account, region, groups)
