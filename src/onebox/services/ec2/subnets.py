"""EC2 subnets: a CIDR inside its VPC in one availability zone, made real as a Linux bridge (the VPC
controller builds it in the VPC's router namespace, with the subnet's gateway .1 on it)."""

from __future__ import annotations

import ipaddress
from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.services.ec2 import addressing, route_tables, vpc_records
from onebox.services.ec2.regions import zones
from onebox.services.ec2.tagging import tags_from_specifications
from onebox.services.ec2.vpc_records import PRIVATE_IP, SUBNET, check_dry_run
from onebox.store import Record, Store
from onebox.store.filters import Filters
from onebox.store.ids import arn, new_id
from onebox.store.tags import tags_to_list

api = ServiceApi("ec2")

SUBNET_FILTERS = (
    "availability-zone",
    "availability-zone-id",
    "availabilityZone",
    "available-ip-address-count",
    "cidr-block",
    "cidrBlock",
    "cidr",
    "default-for-az",
    "defaultForAz",
    "map-public-ip-on-launch",
    "owner-id",
    "state",
    "subnet-arn",
    "subnet-id",
    "vpc-id",
)


def create_subnet_record(
    store: Store,
    account: str,
    region: str,
    vpc: Record,
    cidr: str,
    zone: dict[str, Any],
    *,
    default_for_az: bool = False,
    tags: dict[str, str] | None = None,
) -> Record:
    """Validate the block against its VPC and its siblings, then record it (inside the caller's
    transaction when there is one, so two racing creates cannot both pass the overlap check)."""
    block = addressing.parse_cidr(cidr, code="InvalidSubnet.Range")
    vpc_block = ipaddress.IPv4Network(vpc.spec["CidrBlock"])
    if not block.subnet_of(vpc_block):
        raise AwsError("InvalidSubnet.Range", f"The CIDR '{cidr}' is invalid.")
    with store.transaction():
        for other in store.list(SUBNET, account, region):
            if other.spec["VpcId"] == vpc.id and block.overlaps(
                ipaddress.IPv4Network(other.spec["CidrBlock"])
            ):
                raise AwsError("InvalidSubnet.Conflict", f"The CIDR '{cidr}' conflicts with another subnet")
        subnet_id = new_id("subnet")
        return store.create(
            SUBNET,
            account,
            region,
            subnet_id,
            arn=arn("ec2", region, account, f"subnet/{subnet_id}"),
            spec={
                "VpcId": vpc.id,
                "CidrBlock": str(block),
                "AvailabilityZone": zone["ZoneName"],
                "AvailabilityZoneId": zone["ZoneId"],
                "DefaultForAz": default_for_az,
                "MapPublicIpOnLaunch": default_for_az,
            },
            status={"State": "available" if default_for_az else "pending"},
            tags=tags or {},
        )


def _zone(region: str, name: str | None, zone_id: str | None) -> dict[str, Any]:
    available = zones(region)
    if not name and not zone_id:
        return available[0]
    for zone in available:
        if zone["ZoneName"] == name or zone["ZoneId"] == zone_id:
            return zone
    names = ", ".join(str(z["ZoneName"]) for z in available)
    parameter = "availabilityZone" if name else "availabilityZoneId"
    raise AwsError(
        "InvalidParameterValue",
        f"Value ({name or zone_id}) for parameter {parameter} is invalid. Subnets can currently only be"
        f" created in the following availability zones: {names}.",
    )


@api.operation("CreateSubnet")
def create_subnet(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    vpc = vpc_records.get(store, "vpc", ctx.account_id, ctx.region, params["VpcId"])
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
    zone = _zone(ctx.region, params.get("AvailabilityZone"), params.get("AvailabilityZoneId"))
    tags = tags_from_specifications(params.get("TagSpecifications"), "subnet")
    check_dry_run(params)
    record = create_subnet_record(store, ctx.account_id, ctx.region, vpc, cidr, zone, tags=tags)
    return {"Subnet": subnet_view(store, ctx.account_id, record)}


@api.operation("DescribeSubnets")
def describe_subnets(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    from onebox.services.ec2.default_vpc import default_vpc_if_any  # made on first use

    default_vpc_if_any(ctx.runtime, ctx.account_id, ctx.region)
    store = ctx.runtime.store
    filters = Filters.parse(params.get("Filters"), SUBNET_FILTERS)
    records = vpc_records.get_many(store, "subnet", ctx.account_id, ctx.region, params.get("SubnetIds"))
    views = [subnet_view(store, ctx.account_id, record) for record in records]
    views = filters.select(views, _filter_view, lambda v: {t["Key"]: t["Value"] for t in v["Tags"]})
    max_results = params.get("MaxResults")
    if max_results is not None and not 5 <= max_results <= 1000:
        raise AwsError("InvalidParameterValue", "MaxResults must be between 5 and 1000")
    page, token = store.paginator.paginate(
        views,
        max_results,
        params.get("NextToken"),
        key=lambda v: v["SubnetId"],
        scope=f"ec2/subnet/{ctx.account_id}/{ctx.region}",
    )
    return {"Subnets": page, "NextToken": token}


@api.operation("DeleteSubnet")
def delete_subnet(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    subnet = vpc_records.get(store, "subnet", ctx.account_id, ctx.region, params["SubnetId"])
    check_dry_run(params)
    with store.transaction():
        if any(
            r.spec.get("SubnetId") == subnet.id for r in store.list(PRIVATE_IP, ctx.account_id, ctx.region)
        ):
            raise vpc_records.dependency_violation("subnet", subnet.id)
        route_tables.forget_subnet(store, ctx.account_id, ctx.region, subnet.id)
        store.delete_by_id(SUBNET, ctx.account_id, ctx.region, subnet.id)
    return {}


_BOOLEAN_ATTRIBUTES = (
    "MapPublicIpOnLaunch",
    "AssignIpv6AddressOnCreation",
    "EnableDns64",
    "MapCustomerOwnedIpOnLaunch",
    "EnableResourceNameDnsARecordOnLaunch",
    "EnableResourceNameDnsAAAARecordOnLaunch",
)


@api.operation("ModifySubnetAttribute")
def modify_subnet_attribute(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    subnet = vpc_records.get(store, "subnet", ctx.account_id, ctx.region, params["SubnetId"])
    changes: dict[str, Any] = {}
    for field in _BOOLEAN_ATTRIBUTES:
        if params.get(field) is not None:
            changes[field] = bool(params[field]["Value"])
    if params.get("PrivateDnsHostnameTypeOnLaunch"):
        if params["PrivateDnsHostnameTypeOnLaunch"] not in ("ip-name", "resource-name"):
            raise AwsError(
                "InvalidParameterValue", "PrivateDnsHostnameTypeOnLaunch must be ip-name or resource-name"
            )
        changes["PrivateDnsHostnameTypeOnLaunch"] = params["PrivateDnsHostnameTypeOnLaunch"]
    if len(changes) != 1:
        raise AwsError("InvalidParameterCombination", "Specify exactly one subnet attribute to modify.")
    if changes.get("AssignIpv6AddressOnCreation") or changes.get("EnableDns64"):
        raise AwsError("InvalidParameterValue", f"Subnet {subnet.id} has no IPv6 CIDR block.")
    with store.transaction():  # re-read under the lock: the controller may have written its status
        subnet = store.get(SUBNET, ctx.account_id, ctx.region, subnet.id) or subnet
        store.update(subnet, spec={**subnet.spec, **changes})
    return {}


def subnet_view(store: Store, account: str, record: Record) -> dict[str, Any]:
    return {
        "AvailabilityZone": record.spec["AvailabilityZone"],
        "AvailabilityZoneId": record.spec["AvailabilityZoneId"],
        "AvailableIpAddressCount": addressing.available_count(store, account, record.region, record),
        "CidrBlock": record.spec["CidrBlock"],
        "DefaultForAz": record.spec["DefaultForAz"],
        "MapPublicIpOnLaunch": record.spec["MapPublicIpOnLaunch"],
        "MapCustomerOwnedIpOnLaunch": False,
        "State": record.status.get("State", "pending"),
        "SubnetId": record.id,
        "VpcId": record.spec["VpcId"],
        "OwnerId": account,
        "AssignIpv6AddressOnCreation": False,
        "Ipv6CidrBlockAssociationSet": [],
        "Tags": tags_to_list(record.tags),
        "SubnetArn": record.arn,
        "EnableDns64": False,
        "Ipv6Native": False,
        "PrivateDnsNameOptionsOnLaunch": {
            "HostnameType": record.spec.get("PrivateDnsHostnameTypeOnLaunch", "ip-name"),
            "EnableResourceNameDnsARecord": record.spec.get("EnableResourceNameDnsARecordOnLaunch", False),
            "EnableResourceNameDnsAAAARecord": record.spec.get(
                "EnableResourceNameDnsAAAARecordOnLaunch", False
            ),
        },
    }


def _filter_view(view: dict[str, Any]) -> dict[str, Any]:
    return {
        "availability-zone": view["AvailabilityZone"],
        "availabilityZone": view["AvailabilityZone"],
        "availability-zone-id": view["AvailabilityZoneId"],
        "available-ip-address-count": str(view["AvailableIpAddressCount"]),
        "cidr-block": view["CidrBlock"],
        "cidrBlock": view["CidrBlock"],
        "cidr": view["CidrBlock"],
        "default-for-az": "true" if view["DefaultForAz"] else "false",
        "defaultForAz": "true" if view["DefaultForAz"] else "false",
        "map-public-ip-on-launch": "true" if view["MapPublicIpOnLaunch"] else "false",
        "owner-id": view["OwnerId"],
        "state": view["State"],
        "subnet-arn": view["SubnetArn"],
        "subnet-id": view["SubnetId"],
        "vpc-id": view["VpcId"],
    }
