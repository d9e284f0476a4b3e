"""EC2 network ACLs: each VPC's default ACL (allow all, then the catch-all deny), described as AWS does.

onebox does not enforce ACL entries: the default ACL allows everything, which is what it describes.
"""

from __future__ import annotations

from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.services.ec2 import vpc_records
from onebox.services.ec2.vpc_records import NETWORK_ACL, SUBNET
from onebox.store import Record, Store
from onebox.store.filters import Filters
from onebox.store.ids import arn, new_id
from onebox.store.tags import tags_to_list

api = ServiceApi("ec2")

ACL_FILTERS = (
    "network-acl-id",
    "vpc-id",
    "default",
    "owner-id",
    "association.association-id",
    "association.network-acl-id",
    "association.subnet-id",
    "entry.cidr",
    "entry.egress",
    "entry.protocol",
    "entry.rule-action",
    "entry.rule-number",
)


def _default_entries() -> list[dict[str, Any]]:
    entries = []
    for egress in (True, False):
        entries.append(
            {
                "CidrBlock": "0.0.0.0/0",
                "Egress": egress,
                "Protocol": "-1",
                "RuleAction": "allow",
                "RuleNumber": 100,
            }
        )
        entries.append(
            {
                "CidrBlock": "0.0.0.0/0",
                "Egress": egress,
                "Protocol": "-1",
                "RuleAction": "deny",
                "RuleNumber": 32767,
            }
        )
    return entries


def create_default_acl(store: Store, account: str, region: str, vpc_id: str) -> Record:
    acl_id = new_id("acl")
    return store.create(
        NETWORK_ACL,
        account,
        region,
        acl_id,
        arn=arn("ec2", region, account, f"network-acl/{acl_id}"),
        spec={"VpcId": vpc_id, "IsDefault": True, "Entries": _default_entries()},
    )


@api.operation("DescribeNetworkAcls")
def describe_network_acls(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    from onebox.services.ec2.default_vpc import default_vpc_if_any  # made on first use

    default_vpc_if_any(ctx.runtime, ctx.account_id, ctx.region)
    store = ctx.runtime.store
    filters = Filters.parse(params.get("Filters"), ACL_FILTERS)
    records = vpc_records.get_many(store, "acl", ctx.account_id, ctx.region, params.get("NetworkAclIds"))
    subnets = store.list(SUBNET, ctx.account_id, ctx.region)
    views = [_view(ctx.account_id, record, subnets) for record in records]
    views = filters.select(views, _filter_view, lambda v: {t["Key"]: t["Value"] for t in v["Tags"]})
    return {"NetworkAcls": views}


def _view(account: str, record: Record, subnets: list[Record]) -> dict[str, Any]:
    # Every subnet of the VPC uses its default ACL (onebox has no custom ACLs to associate yet).
    associations = [
        {
            "NetworkAclAssociationId": "aclassoc-" + subnet.id.removeprefix("subnet-"),
            "NetworkAclId": record.id,
            "SubnetId": subnet.id,
        }
        for subnet in subnets
        if subnet.spec["VpcId"] == record.spec["VpcId"]
    ]
    return {
        "Associations": associations,
        "Entries": [dict(entry) for entry in record.spec["Entries"]],
        "IsDefault": record.spec["IsDefault"],
        "NetworkAclId": record.id,
        "Tags": tags_to_list(record.tags),
        "VpcId": record.spec["VpcId"],
        "OwnerId": account,
    }


def _filter_view(view: dict[str, Any]) -> dict[str, Any]:
    return {
        "network-acl-id": view["NetworkAclId"],
        "vpc-id": view["VpcId"],
        "default": "true" if view["IsDefault"] else "false",
        "owner-id": view["OwnerId"],
        "association.association-id": [a["NetworkAclAssociationId"] for a in view["Associations"]],
        "association.network-acl-id": [a["NetworkAclId"] for a in view["Associations"]],
        "association.subnet-id": [a["SubnetId"] for a in view["Associations"]],
        "entry.cidr": [e["CidrBlock"] for e in view["Entries"]],
        "entry.egress": ["true" if e["Egress"] else "false" for e in view["Entries"]],
        "entry.protocol": [e["Protocol"] for e in view["Entries"]],
        "entry.rule-action": [e["RuleAction"] for e in view["Entries"]],
        "entry.rule-number": [str(e["RuleNumber"]) for e in view["Entries"]],
    }
