"""Scheduled actions: Put/BatchPut/Delete/BatchDelete and Describe. The group controller runs them on
the clock (status.NextRun says when; schedule.py computes it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.services.autoscaling.common import (
    MAX_SCHEDULED_ACTIONS,
    SCHEDULED_ACTION,
    group_from,
    validation,
)
from onebox.services.autoscaling.schedule import next_run, parse_cron, zone
from onebox.store import Record
from onebox.store.ids import arn

api = ServiceApi("autoscaling")


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)


def _key(group: str, name: str) -> str:
    return f"{group}/{name}"


def _put(ctx: RequestContext, group: Record, item: dict[str, Any]) -> None:
    store = ctx.runtime.store
    name = item["ScheduledActionName"]
    now = ctx.runtime.clock.time()
    start = _epoch(item.get("StartTime") or item.get("Time"))
    end = _epoch(item.get("EndTime"))
    recurrence = item.get("Recurrence")
    if recurrence:
        parse_cron(recurrence)
    if item.get("TimeZone"):
        zone(item["TimeZone"])
    if all(item.get(k) is None for k in ("MinSize", "MaxSize", "DesiredCapacity")):
        raise validation("At least one of MinSize, MaxSize or DesiredCapacity must be specified.")
    if start is None and not recurrence:
        raise validation("Either StartTime or Recurrence must be specified.")
    if start is not None and start < now - 1 and not recurrence:
        raise validation("Given start time is in the past")
    if end is not None and end < now:
        raise validation("Given end time is in the past")
    if start is not None and end is not None and end <= start:
        raise validation("Start time should be before the end time")
    min_size, max_size = item.get("MinSize"), item.get("MaxSize")
    if min_size is not None and max_size is not None and min_size > max_size:
        raise validation(f"Max bound, {max_size}, must be greater than or equal to min bound, {min_size}")
    spec = {
        "Group": group.id,
        "ScheduledActionName": name,
        "StartTime": start,
        "EndTime": end,
        "Recurrence": recurrence,
        "TimeZone": item.get("TimeZone"),
        "MinSize": min_size,
        "MaxSize": max_size,
        "DesiredCapacity": item.get("DesiredCapacity"),
        "CreatedAt": now,
    }
    status = {
        "NextRun": next_run(
            after=now,
            start_time=start,
            end_time=end,
            recurrence=recurrence,
            time_zone=spec["TimeZone"],
            last_run=None,
        )
    }
    key = _key(group.id, name)
    existing = store.get(SCHEDULED_ACTION, ctx.account_id, ctx.region, key)
    if existing is not None:
        store.update(existing, spec=spec, status=status)
        return
    count = sum(
        1 for r in store.list(SCHEDULED_ACTION, ctx.account_id, ctx.region) if r.spec["Group"] == group.id
    )
    if count >= MAX_SCHEDULED_ACTIONS:
        raise AwsError(
            "LimitExceeded",
            f"You have reached the limit of {MAX_SCHEDULED_ACTIONS} scheduled actions per group.",
        )
    from onebox.services.autoscaling.common import new_uuid

    store.create(
        SCHEDULED_ACTION,
        ctx.account_id,
        ctx.region,
        key,
        arn=arn(
            "autoscaling",
            ctx.region,
            ctx.account_id,
            f"scheduledUpdateGroupAction:{new_uuid()}:autoScalingGroupName/{group.id}:scheduledActionName/{name}",
        ),
        spec=spec,
        status=status,
    )


@api.operation("PutScheduledUpdateGroupAction")
def put_scheduled_update_group_action(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.runtime.store.transaction():
        group = group_from(ctx, params)
        _put(ctx, group, params)
    return {}


@api.operation("BatchPutScheduledUpdateGroupAction")
def batch_put_scheduled_update_group_action(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    failed = []
    with ctx.runtime.store.transaction():
        group = group_from(ctx, params)
        for item in params.get("ScheduledUpdateGroupActions") or []:
            try:
                with ctx.runtime.store.transaction():
                    _put(ctx, group, item)
            except AwsError as error:
                failed.append(
                    {
                        "ScheduledActionName": item["ScheduledActionName"],
                        "ErrorCode": error.code,
                        "ErrorMessage": error.message,
                    }
                )
    return {"FailedScheduledUpdateGroupActions": failed}


@api.operation("DeleteScheduledAction")
def delete_scheduled_action(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.runtime.store.transaction():
        group = group_from(ctx, params)
        name = params["ScheduledActionName"]
        record = ctx.runtime.store.get(SCHEDULED_ACTION, ctx.account_id, ctx.region, _key(group.id, name))
        if record is None:
            raise validation(
                f"Scheduled Update Group Action name not found - Could not find scheduled action {name}"
            )
        ctx.runtime.store.delete(record)
    return {}


@api.operation("BatchDeleteScheduledAction")
def batch_delete_scheduled_action(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    failed = []
    with ctx.runtime.store.transaction():
        group = group_from(ctx, params)
        for name in params.get("ScheduledActionNames") or []:
            record = ctx.runtime.store.get(SCHEDULED_ACTION, ctx.account_id, ctx.region, _key(group.id, name))
            if record is None:
                failed.append(
                    {
                        "ScheduledActionName": name,
                        "ErrorCode": "ValidationError",
                        "ErrorMessage": f"Could not find scheduled action {name}",
                    }
                )
                continue
            ctx.runtime.store.delete(record)
    return {"FailedScheduledActions": failed}


def delete_group_actions(ctx: RequestContext, group: str) -> None:
    for record in ctx.runtime.store.list(SCHEDULED_ACTION, ctx.account_id, ctx.region):
        if record.spec["Group"] == group:
            ctx.runtime.store.delete_by_id(SCHEDULED_ACTION, ctx.account_id, ctx.region, record.id)


def action_view(record: Record) -> dict[str, Any]:
    spec = record.spec
    start = record.status.get("NextRun") or spec.get("StartTime")
    view: dict[str, Any] = {
        "AutoScalingGroupName": spec["Group"],
        "ScheduledActionName": spec["ScheduledActionName"],
        "ScheduledActionARN": record.arn,
    }
    if start is not None:
        view["StartTime"] = start
        view["Time"] = start
    for field in ("EndTime", "Recurrence", "MinSize", "MaxSize", "DesiredCapacity", "TimeZone"):
        if spec.get(field) is not None:
            view[field] = spec[field]
    return view


@api.operation("DescribeScheduledActions")
def describe_scheduled_actions(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    group = params.get("AutoScalingGroupName")
    if group:
        group_from(ctx, params)
    names = params.get("ScheduledActionNames") or None
    start, end = _epoch(params.get("StartTime")), _epoch(params.get("EndTime"))
    records = []
    for record in store.list(SCHEDULED_ACTION, ctx.account_id, ctx.region):
        if group and record.spec["Group"] != group:
            continue
        if names and record.spec["ScheduledActionName"] not in names:
            continue
        when = record.status.get("NextRun")
        if start is not None and (when is None or when < start):
            continue
        if end is not None and (when is None or when > end):
            continue
        records.append(record)
    page, token = store.paginator.paginate(
        records,
        params.get("MaxRecords") or 50,
        params.get("NextToken"),
        key=lambda r: r.seq,
        scope="DescribeScheduledActions",
    )
    result: dict[str, Any] = {"ScheduledUpdateGroupActions": [action_view(r) for r in page]}
    if token:
        result["NextToken"] = token
    return result
