"""Log groups: create, delete, describe (prefix, pattern, pagination), retention and tags."""

from __future__ import annotations

from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.services.logs.model import (
    GROUP_NAME,
    LOG_GROUP,
    METRIC_FILTER,
    RETENTION_DAYS,
    events,
    get_group,
    group_arn,
    group_name,
    group_not_found,
    invalid,
)
from onebox.store import AlreadyExists, Record
from onebox.store.ids import parse_arn
from onebox.store.tags import TagRules, apply_tags, remove_tags

api = ServiceApi("logs")

LOGS_TAG_RULES = TagRules(code="InvalidParameterException", limit_code="TooManyTagsException")
MAX_PAGE = 50


@api.operation("CreateLogGroup")
def create_log_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["logGroupName"]
    if not GROUP_NAME.match(name):
        raise invalid(
            f"1 validation error detected: Value '{name}' at 'logGroupName' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+"
        )
    tags = apply_tags({}, params.get("tags") or {}, LOGS_TAG_RULES)
    spec = {
        "logGroupClass": params.get("logGroupClass") or "STANDARD",
        "kmsKeyId": params.get("kmsKeyId"),
        "deletionProtectionEnabled": bool(params.get("deletionProtectionEnabled")),
        "retentionInDays": None,
    }
    try:
        ctx.runtime.store.create(
            LOG_GROUP,
            ctx.account_id,
            ctx.region,
            name,
            arn=group_arn(ctx.region, ctx.account_id, name),
            name=name,
            spec=spec,
            tags=tags,
        )
    except AlreadyExists:
        raise AwsError("ResourceAlreadyExistsException", "The specified log group already exists") from None
    return {}


@api.operation("DeleteLogGroup")
def delete_log_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    name = params["logGroupName"]
    group = get_group(ctx.runtime, ctx.account_id, ctx.region, name)
    if group.spec.get("deletionProtectionEnabled"):
        raise AwsError("OperationAbortedException", "Log group deletion protection is enabled.")
    with store.transaction():
        for record in store.list(METRIC_FILTER, ctx.account_id, ctx.region):
            if record.spec["logGroupName"] == name:
                store.delete_by_id(METRIC_FILTER, ctx.account_id, ctx.region, record.id)
        store.delete_by_id(LOG_GROUP, ctx.account_id, ctx.region, name)
    events(ctx.runtime).delete_group(ctx.account_id, ctx.region, name)
    return {}


@api.operation("DescribeLogGroups")
def describe_log_groups(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    prefix = params.get("logGroupNamePrefix")
    pattern = params.get("logGroupNamePattern")
    if prefix and pattern:
        raise invalid("LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.")
    records = ctx.runtime.store.list(LOG_GROUP, ctx.account_id, ctx.region)
    if prefix:
        records = [r for r in records if (r.name or "").startswith(prefix)]
    if pattern:
        records = [r for r in records if pattern.lower() in (r.name or "").lower()]
    if params.get("logGroupClass"):
        records = [r for r in records if r.spec.get("logGroupClass") == params["logGroupClass"]]
    if params.get("logGroupIdentifiers"):
        wanted = {
            identifier.removesuffix(":*").split(":log-group:")[-1]
            for identifier in params["logGroupIdentifiers"]
        }
        records = [r for r in records if r.name in wanted]
    page, token = ctx.runtime.store.paginator.paginate(
        records,
        params.get("limit") or MAX_PAGE,
        params.get("nextToken"),
        key=lambda r: r.name or "",
        scope=f"logs:DescribeLogGroups:{prefix}:{pattern}",
        code="InvalidParameterException",
        message="The specified nextToken is invalid.",
    )
    filters = ctx.runtime.store.list(METRIC_FILTER, ctx.account_id, ctx.region)
    result: dict[str, Any] = {"logGroups": [_group_view(ctx, record, filters) for record in page]}
    if token:
        result["nextToken"] = token
    return result


@api.operation("PutRetentionPolicy")
def put_retention_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    days = params["retentionInDays"]
    if days not in RETENTION_DAYS:
        raise invalid(
            f"1 validation error detected: Value '{days}' at 'retentionInDays' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(str(d) for d in RETENTION_DAYS)}]"
        )
    _update_spec(ctx, params["logGroupName"], retentionInDays=days)
    return {}


@api.operation("DeleteRetentionPolicy")
def delete_retention_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _update_spec(ctx, params["logGroupName"], retentionInDays=None)
    return {}


@api.operation("TagLogGroup")
def tag_log_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _tag(ctx, get_group(ctx.runtime, ctx.account_id, ctx.region, params["logGroupName"]), params["tags"])
    return {}


@api.operation("UntagLogGroup")
def untag_log_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _untag(ctx, get_group(ctx.runtime, ctx.account_id, ctx.region, params["logGroupName"]), params["tags"])
    return {}


@api.operation("ListTagsLogGroup")
def list_tags_log_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"tags": get_group(ctx.runtime, ctx.account_id, ctx.region, params["logGroupName"]).tags}


@api.operation("TagResource")
def tag_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _tag(ctx, _group_by_arn(ctx, params["resourceArn"]), params["tags"])
    return {}


@api.operation("UntagResource")
def untag_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _untag(ctx, _group_by_arn(ctx, params["resourceArn"]), params["tagKeys"])
    return {}


@api.operation("ListTagsForResource")
def list_tags_for_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"tags": _group_by_arn(ctx, params["resourceArn"]).tags}


def _group_by_arn(ctx: RequestContext, resource_arn: str) -> Record:
    try:
        parsed = parse_arn(resource_arn)
    except ValueError:
        raise invalid(f"Invalid resource ARN: {resource_arn}") from None
    if parsed.service != "logs" or not parsed.resource.startswith("log-group:"):
        raise invalid(f"Invalid resource ARN: {resource_arn}")
    name = parsed.resource.removeprefix("log-group:").removesuffix(":*")
    record = ctx.runtime.store.get(LOG_GROUP, parsed.account, parsed.region, name)
    if record is None or parsed.account != ctx.account_id:
        raise AwsError("ResourceNotFoundException", f"The specified resource does not exist: {resource_arn}")
    return record


def _tag(ctx: RequestContext, group: Record, tags: dict[str, str]) -> None:
    ctx.runtime.store.update(group, tags=apply_tags(group.tags, tags, LOGS_TAG_RULES))


def _untag(ctx: RequestContext, group: Record, keys: list[str]) -> None:
    ctx.runtime.store.update(
        group, tags=remove_tags(group.tags, [(key, None) for key in keys], LOGS_TAG_RULES)
    )


def _update_spec(ctx: RequestContext, name: str, **changes: Any) -> None:
    store = ctx.runtime.store
    with store.transaction():
        group = store.get(LOG_GROUP, ctx.account_id, ctx.region, name)
        if group is None:
            raise group_not_found()
        store.update(group, spec={**group.spec, **changes})


def _group_view(ctx: RequestContext, record: Record, filters: list[Record]) -> dict[str, Any]:
    name = record.name or record.id
    view: dict[str, Any] = {
        "logGroupName": name,
        "creationTime": int(record.created_at.timestamp() * 1000),
        "metricFilterCount": sum(1 for f in filters if f.spec["logGroupName"] == name),
        "arn": f"{record.arn}:*",
        "storedBytes": events(ctx.runtime).group_bytes(ctx.account_id, ctx.region, name),
        "logGroupClass": record.spec.get("logGroupClass", "STANDARD"),
        "logGroupArn": record.arn,
        "deletionProtectionEnabled": bool(record.spec.get("deletionProtectionEnabled")),
    }
    if record.spec.get("retentionInDays"):
        view["retentionInDays"] = record.spec["retentionInDays"]
    if record.spec.get("kmsKeyId"):
        view["kmsKeyId"] = record.spec["kmsKeyId"]
    return view


__all__ = ["api", "group_name"]
