"""EC2 VPCs: create (with its main route table, default network ACL and default security group),
describe, delete, and the DNS attributes. The VPC controller makes each one a real router namespace."""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.services.ec2 import addressing, gateways, network_acls, route_tables, security_groups, vpc_records
from onebox.services.ec2.tagging import tags_from_specifications
from onebox.services.ec2.vpc_records import (
    NETWORK_ACL,
    ROUTE_TABLE,
    SECURITY_GROUP,
    SUBNET,
    VPC,
    check_dry_run,
)
from onebox.store import Record, Store
from onebox.store.filters import Filters
from onebox.store.ids import arn, new_id
from onebox.store.tags import tags_to_list

api = ServiceApi("ec2")

VPC_FILTERS = (
    "cidr",
    "cidr-block-association.cidr-block",
    "cidr-block-association.association-id",
    "cidr-block-association.state",
    "dhcp-options-id",
    "is-default",
    "owner-id",
    "state",
    "vpc-id",
    # EC2 still accepts its older camelCase names (Terraform's aws_vpc data source sends isDefault).
    "isDefault",
    "cidrBlock",
    "dhcpOptionsId",
)
_ATTRIBUTES = {
    "enableDnsSupport": "EnableDnsSupport",
    "enableDnsHostnames": "EnableDnsHostnames",
    "enableNetworkAddressUsageMetrics": "EnableNetworkAddressUsageMetrics",
}
DEFAULT_VPC_NAME = "default"  # the store name of an account's default VPC in a region (unique there)


def dhcp_options_id(account: str, region: str) -> str:
    # One default DHCP option set per account and region, as in EC2; stable so Describe agrees.
    return "dopt-" + hashlib.sha1(f"{account}/{region}".encode()).hexdigest()[:17]


def create_vpc_records(
    store: Store,
    account: str,
    region: str,
    cidr: str,
    *,
    is_default: bool = False,
    tenancy: str = "default",
    tags: dict[str, str] | None = None,
) -> Record:
    """The VPC and what EC2 creates with it (main route table, default ACL, default group), atomically."""
    vpc_id = new_id("vpc")
    with store.transaction():
        vpc = store.create(
            VPC,
            account,
            region,
            vpc_id,
            arn=arn("ec2", region, account, f"vpc/{vpc_id}"),
            name=DEFAULT_VPC_NAME if is_default else None,
            spec={
                "CidrBlock": cidr,
                "CidrAssociationId": new_id("vpc-cidr-assoc"),
                "InstanceTenancy": tenancy,
                "IsDefault": is_default,
                "EnableDnsSupport": True,
                "EnableDnsHostnames": is_default,
                "EnableNetworkAddressUsageMetrics": False,
                "DhcpOptionsId": dhcp_options_id(account, region),
            },
            # The default VPC exists before anyone asks for it in EC2: never seen pending.
            status={"State": "available" if is_default else "pending"},
            tags=tags or {},
        )
        route_tables.create_table_record(store, account, region, vpc_id, cidr, main=True)
        network_acls.create_default_acl(store, account, region, vpc_id)
        security_groups.create_group_record(
            store, account, region, vpc_id, "default", "default VPC security group"
        )
    return vpc


@api.operation("CreateVpc")
def create_vpc(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    cidr = params.get("CidrBlock")
    if not cidr:
        raise AwsError("MissingParameter", "The request must contain the parameter cidrBlock")
    try:
        ipaddress.IPv4Network(cidr, strict=True)
    except ValueError:
        raise AwsError(
            "InvalidParameterValue",
            f"Value ({cidr}) for parameter cidrBlock is invalid. This is not a valid CIDR block.",
        ) from None
    addressing.parse_cidr(cidr, code="InvalidVpc.Range")
    addressing.check_vpc_cidr_on_host(cidr)
    tenancy = params.get("InstanceTenancy") or "default"
    if tenancy not in ("default", "dedicated"):
        raise AwsError(
            "InvalidParameterValue", f"Value ({tenancy}) for parameter instanceTenancy is invalid."
        )
    tags = tags_from_specifications(params.get("TagSpecifications"), "vpc")
    check_dry_run(params)
    record = create_vpc_records(
        ctx.runtime.store, ctx.account_id, ctx.region, cidr, tenancy=tenancy, tags=tags
    )
    return {"Vpc": vpc_view(ctx.account_id, record)}


@api.operation("DescribeVpcs")
def describe_vpcs(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    from onebox.services.ec2.default_vpc import default_vpc_if_any  # made on first use

    default_vpc_if_any(ctx.runtime, ctx.account_id, ctx.region)
    filters = Filters.parse(params.get("Filters"), VPC_FILTERS)
    records = vpc_records.get_many(ctx.runtime.store, "vpc", ctx.account_id, ctx.region, params.get("VpcIds"))
    views = [vpc_view(ctx.account_id, record) for record in records]
    views = filters.select(views, _filter_view, lambda v: {t["Key"]: t["Value"] for t in v["Tags"]})
    max_results = params.get("MaxResults")
    if max_results is not None and not 5 <= max_results <= 1000:
        raise AwsError("InvalidParameterValue", "MaxResults must be between 5 and 1000")
    page, token = ctx.runtime.store.paginator.paginate(
        views,
        max_results,
        params.get("NextToken"),
        key=lambda v: v["VpcId"],
        scope=f"ec2/vpc/{ctx.account_id}/{ctx.region}",
    )
    return {"Vpcs": page, "NextToken": token}


@api.operation("DeleteVpc")
def delete_vpc(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    account, region = ctx.account_id, ctx.region
    vpc = vpc_records.get(store, "vpc", account, region, params["VpcId"])
    check_dry_run(params)
    with store.transaction():
        in_vpc = lambda kind: [r for r in store.list(kind, account, region) if r.spec.get("VpcId") == vpc.id]  # noqa: E731
        groups = in_vpc(SECURITY_GROUP)
        tables = in_vpc(ROUTE_TABLE)
        blockers = (
            in_vpc(SUBNET)
            or gateways.gateway_of(store, account, region, vpc.id)
            or [g for g in groups if g.spec["GroupName"] != "default"]
            or [t for t in tables if not any(a.get("Main") for a in t.spec["Associations"])]
        )
        if blockers:
            raise vpc_records.dependency_violation("vpc", vpc.id)
        for record in groups + tables + in_vpc(NETWORK_ACL):
            store.delete(record)
        store.delete_by_id(VPC, account, region, vpc.id)
    return {}


@api.operation("DescribeVpcAttribute")
def describe_vpc_attribute(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    vpc = vpc_records.get(ctx.runtime.store, "vpc", ctx.account_id, ctx.region, params["VpcId"])
    field = _ATTRIBUTES.get(params["Attribute"])
    if field is None:
        raise AwsError(
            "InvalidParameterValue", f"Value ({params['Attribute']}) for parameter attribute is invalid."
        )
    return {"VpcId": vpc.id, field: {"Value": bool(vpc.spec.get(field, False))}}


@api.operation("ModifyVpcAttribute")
def modify_vpc_attribute(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    vpc = vpc_records.get(store, "vpc", ctx.account_id, ctx.region, params["VpcId"])
    given = {name: field for name, field in _ATTRIBUTES.items() if params.get(field) is not None}
    if len(given) != 1:
        raise AwsError(
            "InvalidParameterCombination",
            "Fields for multiple attribute types specified: " + ", ".join(given)
            if given
            else "The request must contain exactly one attribute",
        )
    ((name, field),) = given.items()
    value = bool(params[field]["Value"])
    if field == "EnableDnsHostnames" and value and not vpc.spec["EnableDnsSupport"]:
        raise AwsError(
            "InvalidParameterValue",
            "Cannot enable DNS hostnames while DNS resolution is disabled for the VPC",
        )
    with store.transaction():  # re-read under the lock: the controller may have written its status
        vpc = store.get(VPC, ctx.account_id, ctx.region, vpc.id) or vpc
        store.update(vpc, spec={**vpc.spec, field: value})
    return {}


def vpc_view(account: str, record: Record) -> dict[str, Any]:
    state = record.status.get("State", "pending")
    return {
        "CidrBlock": record.spec["CidrBlock"],
        "DhcpOptionsId": record.spec["DhcpOptionsId"],
        "State": state,
        "VpcId": record.id,
        "OwnerId": account,
        "InstanceTenancy": record.spec["InstanceTenancy"],
        "CidrBlockAssociationSet": [
            {
                "AssociationId": record.spec["CidrAssociationId"],
                "CidrBlock": record.spec["CidrBlock"],
                "CidrBlockState": {"State": "associated"},
            }
        ],
        "Ipv6CidrBlockAssociationSet": [],
        "IsDefault": record.spec["IsDefault"],
        "Tags": tags_to_list(record.tags),
    }


def _filter_view(view: dict[str, Any]) -> dict[str, Any]:
    association = view["CidrBlockAssociationSet"][0]
    return {
        "cidr": view["CidrBlock"],
        "cidr-block-association.cidr-block": association["CidrBlock"],
        "cidr-block-association.association-id": association["AssociationId"],
        "cidr-block-association.state": "associated",
        "dhcp-options-id": view["DhcpOptionsId"],
        "is-default": "true" if view["IsDefault"] else "false",
        "owner-id": view["OwnerId"],
        "state": view["State"],
        "vpc-id": view["VpcId"],
        "isDefault": "true" if view["IsDefault"] else "false",
        "cidrBlock": view["CidrBlock"],
        "dhcpOptionsId": view["DhcpOptionsId"],
    }
