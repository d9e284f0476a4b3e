"""EC2 CreateTags, DeleteTags and DescribeTags for every taggable EC2 resource, found by id prefix.

A resource family makes its records taggable with one `register(...)` call at import time (the VPC
family and key pairs are registered here; instances, images and launch templates register in their
own modules). Tags live in each record's `tags`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.services.ec2.vpc_records import (
    INTERNET_GATEWAY,
    NETWORK_ACL,
    ROUTE_TABLE,
    SECURITY_GROUP,
    SUBNET,
    VPC,
    check_dry_run,
)
from onebox.store import Record
from onebox.store.filters import Filters
from onebox.store.tags import EC2_TAG_RULES, apply_tags, remove_tags, tags_from_list

api = ServiceApi("ec2")


@dataclass(frozen=True)
class Taggable:
    kind: str  # store kind, e.g. "ec2:vpc"
    resource_type: str  # DescribeTags' ResourceType, e.g. "vpc"
    not_found_code: str  # e.g. "InvalidVpcID.NotFound"
    not_found_message: str  # with {id}, e.g. "The vpc ID '{id}' does not exist"


_TAGGABLE: dict[str, Taggable] = {}


def register(prefix: str, taggable: Taggable) -> None:
    """Make ids `<prefix>-…` taggable (idempotent)."""
    _TAGGABLE[prefix] = taggable


for _prefix, _taggable in {
    "vpc": Taggable(VPC, "vpc", "InvalidVpcID.NotFound", "The vpc ID '{id}' does not exist"),
    "subnet": Taggable(SUBNET, "subnet", "InvalidSubnetID.NotFound", "The subnet ID '{id}' does not exist"),
    "sg": Taggable(
        SECURITY_GROUP, "security-group", "InvalidGroup.NotFound", "The security group '{id}' does not exist"
    ),
    "rtb": Taggable(
        ROUTE_TABLE, "route-table", "InvalidRouteTableID.NotFound", "The routeTable ID '{id}' does not exist"
    ),
    "igw": Taggable(
        INTERNET_GATEWAY,
        "internet-gateway",
        "InvalidInternetGatewayID.NotFound",
        "The internetGateway ID '{id}' does not exist",
    ),
    "acl": Taggable(
        NETWORK_ACL, "network-acl", "InvalidNetworkAclID.NotFound", "The networkAcl ID '{id}' does not exist"
    ),
    "key": Taggable(
        "ec2:key-pair", "key-pair", "InvalidKeyPair.NotFound", "The key pair '{id}' does not exist"
    ),
}.items():
    register(_prefix, _taggable)

TAG_FILTERS = ("key", "value", "resource-id", "resource-type")


def _resolve(ctx: RequestContext, resource_id: str) -> tuple[Taggable, Record]:
    prefix = resource_id.rsplit("-", 1)[0] if "-" in resource_id else ""
    taggable = _TAGGABLE.get(prefix)
    if taggable is None:
        raise AwsError("InvalidID", f"The ID '{resource_id}' is not valid")
    record = ctx.runtime.store.get(taggable.kind, ctx.account_id, ctx.region, resource_id)
    if record is None:
        raise AwsError(taggable.not_found_code, taggable.not_found_message.format(id=resource_id))
    return taggable, record


@api.operation("CreateTags")
def create_tags(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    new = tags_from_list(params.get("Tags"))
    check_dry_run(params)
    with store.transaction():
        resolved = [_resolve(ctx, resource_id) for resource_id in params["Resources"]]
        updates = [(record, apply_tags(record.tags, new, EC2_TAG_RULES)) for _, record in resolved]
        for record, tags in updates:
            store.update(record, tags=tags)
    return {}


@api.operation("DeleteTags")
def delete_tags(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    removals = [(tag["Key"], tag.get("Value")) for tag in params.get("Tags") or []]
    check_dry_run(params)
    with store.transaction():
        resolved = [_resolve(ctx, resource_id) for resource_id in params["Resources"]]
        for _, record in resolved:
            # No Tags at all means: delete every user tag of the resource.
            pairs = removals if params.get("Tags") is not None else [(key, None) for key in record.tags]
            store.update(record, tags=remove_tags(record.tags, pairs, EC2_TAG_RULES))
    return {}


@api.operation("DescribeTags")
def describe_tags(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    filters = Filters.parse(params.get("Filters"), TAG_FILTERS, allow_tags=False)
    items: list[dict[str, str]] = []
    for taggable in _TAGGABLE.values():
        for record in store.list(taggable.kind, ctx.account_id, ctx.region):
            for key, value in record.tags.items():
                items.append(
                    {
                        "Key": key,
                        "ResourceId": record.id,
                        "ResourceType": taggable.resource_type,
                        "Value": value,
                    }
                )
    items = filters.select(
        items,
        lambda t: {
            "key": t["Key"],
            "value": t["Value"],
            "resource-id": t["ResourceId"],
            "resource-type": t["ResourceType"],
        },
        lambda t: {},
    )
    max_results = params.get("MaxResults")
    if max_results is not None and not 5 <= max_results <= 1000:
        raise AwsError("InvalidParameterValue", "MaxResults must be between 5 and 1000")
    page, token = store.paginator.paginate(
        items,
        max_results,
        params.get("NextToken"),
        key=lambda t: (t["ResourceId"], t["Key"]),
        scope=f"ec2/tags/{ctx.account_id}/{ctx.region}",
    )
    return {"Tags": page, "NextToken": token}
