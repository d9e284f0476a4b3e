"""The default VPC EC2 gives every account in every region: 172.31.0.0/16, a /20 default subnet per
availability zone (172.31.0.0/20, 172.31.16.0/20, 172.31.32.0/20), an attached internet gateway and a
0.0.0.0/0 route to it. onebox creates it on the first VPC-family call in an account and region (or
when RunInstances needs it); once deleted it stays deleted until CreateDefaultVpc, as in EC2.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.services.ec2 import gateways, route_tables, subnets
from onebox.services.ec2.regions import zones
from onebox.services.ec2.vpc_records import SUBNET, VPC, check_dry_run
from onebox.services.ec2.vpcs import DEFAULT_VPC_NAME, create_vpc_records, vpc_view
from onebox.store import AlreadyExists, Record, Store
from onebox.store.ids import arn

if TYPE_CHECKING:
    from onebox.runtime import Runtime

api = ServiceApi("ec2")

DEFAULT_VPC_CIDR = "172.31.0.0/16"
DEFAULT_SUBNET_PREFIX = 20
_MARKER = "ec2:default-vpc-created"  # one record per account/region once the default VPC was made


def ensure_default_vpc(runtime: Runtime, account: str, region: str) -> Record:
    """The account's default VPC in the region, created on first use. VPCIdNotSpecified if the user
    deleted it."""
    store = runtime.store
    existing = store.get_by_name(VPC, account, region, DEFAULT_VPC_NAME)
    if existing is not None:
        return existing
    if store.get(_MARKER, account, region, "default-vpc") is not None:
        raise AwsError("VPCIdNotSpecified", "No default VPC for this user.")
    return _create_default_vpc(store, account, region)


def default_vpc_if_any(runtime: Runtime, account: str, region: str) -> Record | None:
    """Like ensure_default_vpc, but None (not an error) once the user deleted it: for Describe calls."""
    try:
        return ensure_default_vpc(runtime, account, region)
    except AwsError:
        return None


def _create_default_vpc(store: Store, account: str, region: str) -> Record:
    try:
        with store.transaction():
            vpc = create_vpc_records(store, account, region, DEFAULT_VPC_CIDR, is_default=True)
            for index, zone in enumerate(zones(region)):
                cidr = f"172.31.{index * 16}.0/{DEFAULT_SUBNET_PREFIX}"
                subnets.create_subnet_record(store, account, region, vpc, cidr, zone, default_for_az=True)
            gateway = gateways.create_gateway_record(store, account, region, vpc.id)
            main = route_tables.main_table(store, account, region, vpc.id)
            if main is not None:
                route_tables.add_route(
                    store,
                    main,
                    {
                        "DestinationCidrBlock": "0.0.0.0/0",
                        "GatewayId": gateway.id,
                        "Origin": "CreateRoute",
                        "State": "active",
                    },
                )
            if store.get(_MARKER, account, region, "default-vpc") is None:
                store.create(
                    _MARKER,
                    account,
                    region,
                    "default-vpc",
                    arn=arn("ec2", region, account, "default-vpc"),
                    spec={},
                )
            return vpc
    except AlreadyExists:
        # Another request made it first.
        existing = store.get_by_name(VPC, account, region, DEFAULT_VPC_NAME)
        if existing is None:
            raise
        return existing


def default_subnet_for_az(
    runtime: Runtime, account: str, region: str, availability_zone: str | None
) -> Record:
    """The default subnet of `availability_zone` (or of the first zone) in the default VPC."""
    vpc = ensure_default_vpc(runtime, account, region)
    candidates = [
        s
        for s in runtime.store.list(SUBNET, account, region)
        if s.spec["VpcId"] == vpc.id and s.spec.get("DefaultForAz")
    ]
    if availability_zone is None and candidates:
        return sorted(candidates, key=lambda s: s.spec["AvailabilityZone"])[0]
    for subnet in candidates:
        if subnet.spec["AvailabilityZone"] == availability_zone:
            return subnet
    raise AwsError(
        "InvalidParameterValue",
        f"Value ({availability_zone}) for parameter availabilityZone is invalid. There is no default subnet"
        f" for it in {region}.",
    )


@api.operation("CreateDefaultVpc")
def create_default_vpc(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    if store.get_by_name(VPC, ctx.account_id, ctx.region, DEFAULT_VPC_NAME) is not None:
        raise AwsError(
            "DefaultVpcAlreadyExists", "A Default VPC already exists for this account in this region."
        )
    check_dry_run(params)
    return {"Vpc": vpc_view(ctx.account_id, _create_default_vpc(store, ctx.account_id, ctx.region))}
