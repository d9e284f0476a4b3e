"""EC2 internet gateways: create, attach to one VPC, detach, delete, describe.

An attached gateway is recorded as AWS shows it; it opens no path off the machine (onebox instances
have none, by design: docs/vpc-networking.md).
"""

from __future__ import annotations

from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.services.ec2 import vpc_records
from onebox.services.ec2.tagging import tags_from_specifications
from onebox.services.ec2.vpc_records import INTERNET_GATEWAY, check_dry_run
from onebox.store import Record, Store
from onebox.store.filters import Filters
from onebox.store.ids import arn, new_id
from onebox.store.tags import tags_to_list

api = ServiceApi("ec2")

GATEWAY_FILTERS = ("internet-gateway-id", "attachment.vpc-id", "attachment.state", "owner-id")


def create_gateway_record(
    store: Store, account: str, region: str, vpc_id: str | None = None, tags: dict[str, str] | None = None
) -> Record:
    gateway_id = new_id("igw")
    return store.create(
        INTERNET_GATEWAY,
        account,
        region,
        gateway_id,
        arn=arn("ec2", region, account, f"internet-gateway/{gateway_id}"),
        spec={"VpcId": vpc_id},
        tags=tags or {},
    )


def gateway_of(store: Store, account: str, region: str, vpc_id: str) -> Record | None:
    for gateway in store.list(INTERNET_GATEWAY, account, region):
        if gateway.spec.get("VpcId") == vpc_id:
            return gateway
    return None


@api.operation("CreateInternetGateway")
def create_internet_gateway(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    tags = tags_from_specifications(params.get("TagSpecifications"), "internet-gateway")
    check_dry_run(params)
    record = create_gateway_record(ctx.runtime.store, ctx.account_id, ctx.region, tags=tags)
    return {"InternetGateway": _view(ctx.account_id, record)}


@api.operation("DescribeInternetGateways")
def describe_internet_gateways(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    from onebox.services.ec2.default_vpc import default_vpc_if_any  # made on first use

    default_vpc_if_any(ctx.runtime, ctx.account_id, ctx.region)
    filters = Filters.parse(params.get("Filters"), GATEWAY_FILTERS)
    records = vpc_records.get_many(
        ctx.runtime.store, "igw", ctx.account_id, ctx.region, params.get("InternetGatewayIds")
    )
    records = filters.select(
        records,
        lambda r: {
            "internet-gateway-id": r.id,
            "attachment.vpc-id": r.spec.get("VpcId") or "",
            "attachment.state": "available" if r.spec.get("VpcId") else "",
            "owner-id": ctx.account_id,
        },
        lambda r: r.tags,
    )
    max_results = params.get("MaxResults")
    if max_results is not None and not 5 <= max_results <= 1000:
        raise AwsError("InvalidParameterValue", "MaxResults must be between 5 and 1000")
    page, token = ctx.runtime.store.paginator.paginate(
        records,
        max_results,
        params.get("NextToken"),
        key=lambda r: r.seq,
        scope=f"ec2/igw/{ctx.account_id}/{ctx.region}",
    )
    return {"InternetGateways": [_view(ctx.account_id, r) for r in page], "NextToken": token}


@api.operation("AttachInternetGateway")
def attach_internet_gateway(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    gateway = vpc_records.get(store, "igw", ctx.account_id, ctx.region, params["InternetGatewayId"])
    vpc = vpc_records.get(store, "vpc", ctx.account_id, ctx.region, params["VpcId"])
    check_dry_run(params)
    with store.transaction():
        gateway = store.get(INTERNET_GATEWAY, ctx.account_id, ctx.region, gateway.id) or gateway
        if gateway.spec.get("VpcId"):
            raise AwsError(
                "Resource.AlreadyAssociated",
                f"resource {gateway.id} is already attached to network {gateway.spec['VpcId']}",
            )
        other = gateway_of(store, ctx.account_id, ctx.region, vpc.id)
        if other is not None:
            raise AwsError(
                "Resource.AlreadyAssociated", f"resource {vpc.id} already has an internet gateway attached"
            )
        store.update(gateway, spec={**gateway.spec, "VpcId": vpc.id})
    return {}


@api.operation("DetachInternetGateway")
def detach_internet_gateway(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    gateway = vpc_records.get(store, "igw", ctx.account_id, ctx.region, params["InternetGatewayId"])
    vpc_id = params["VpcId"]
    vpc_records.check_id("vpc", vpc_id)
    check_dry_run(params)
    with store.transaction():
        gateway = store.get(INTERNET_GATEWAY, ctx.account_id, ctx.region, gateway.id) or gateway
        if gateway.spec.get("VpcId") != vpc_id:
            raise AwsError(
                "Gateway.NotAttached", f"resource {gateway.id} is not attached to network {vpc_id}"
            )
        store.update(gateway, spec={**gateway.spec, "VpcId": None})
    return {}


@api.operation("DeleteInternetGateway")
def delete_internet_gateway(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    gateway = vpc_records.get(store, "igw", ctx.account_id, ctx.region, params["InternetGatewayId"])
    if gateway.spec.get("VpcId"):
        raise vpc_records.dependency_violation("internetGateway", gateway.id)
    check_dry_run(params)
    store.delete_by_id(INTERNET_GATEWAY, ctx.account_id, ctx.region, gateway.id)
    return {}


def _view(account: str, record: Record) -> dict[str, Any]:
    attachments = []
    if record.spec.get("VpcId"):
        attachments = [{"State": "available", "VpcId": record.spec["VpcId"]}]
    return {
        "Attachments": attachments,
        "InternetGatewayId": record.id,
        "OwnerId": account,
        "Tags": tags_to_list(record.tags),
    }
