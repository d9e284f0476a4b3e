"""AddTags, RemoveTags and DescribeTags for load balancers, target groups, listeners and rules; and
DescribeAccountLimits."""

from __future__ import annotations

from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.services.elbv2.common import ELB_TAG_RULES, LIMITS, get_any
from onebox.store.tags import apply_tags, remove_tags, tags_from_list, tags_to_list

api = ServiceApi("elbv2")

MAX_ARNS = 20


def _arns(params: dict[str, Any]) -> list[str]:
    arns = list(dict.fromkeys(params.get("ResourceArns") or []))
    if not arns:
        raise AwsError("ValidationError", "At least one resource ARN must be specified")
    if len(arns) > MAX_ARNS:
        raise AwsError("ValidationError", f"At most {MAX_ARNS} resource ARNs can be specified")
    return arns


@api.operation("AddTags")
def add_tags(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    items = params.get("Tags") or []
    keys = [str(item.get("Key") or "") for item in items]
    if len(set(keys)) != len(keys):
        duplicate = next(k for k in keys if keys.count(k) > 1)
        raise AwsError("DuplicateTagKeys", f"Tag key '{duplicate}' is duplicated")
    new = tags_from_list(items)
    with store.transaction():
        records = [get_any(store, ctx.account_id, ctx.region, arn) for arn in _arns(params)]
        for record in records:
            store.update(record, tags=apply_tags(record.tags, new, ELB_TAG_RULES))
    return {}


@api.operation("RemoveTags")
def remove_tags_handler(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    keys = params.get("TagKeys") or []
    with store.transaction():
        records = [get_any(store, ctx.account_id, ctx.region, arn) for arn in _arns(params)]
        for record in records:
            store.update(record, tags=remove_tags(record.tags, [(k, None) for k in keys], ELB_TAG_RULES))
    return {}


@api.operation("DescribeTags")
def describe_tags(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    records = [get_any(store, ctx.account_id, ctx.region, arn) for arn in _arns(params)]
    return {"TagDescriptions": [{"ResourceArn": r.arn, "Tags": tags_to_list(r.tags)} for r in records]}


@api.operation("DescribeAccountLimits")
def describe_account_limits(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"Limits": [{"Name": name, "Max": str(value)} for name, value in LIMITS.items()]}
