"""StartInstanceRefresh, DescribeInstanceRefreshes, CancelInstanceRefresh: the API side of the rolling
replacement the group controller carries out (controller.py `_refresh`)."""

from __future__ import annotations

from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.services.autoscaling.common import INSTANCE_REFRESH, group_from, new_uuid, validation
from onebox.services.autoscaling.groups import resolve_launch_template
from onebox.store import Record

api = ServiceApi("autoscaling")
ACTIVE = ("Pending", "InProgress", "Cancelling", "RollbackInProgress", "Baking")
DONE = ("Successful", "Failed", "Cancelled", "RollbackSuccessful", "RollbackFailed")


def active_refresh(ctx_runtime: Any, account: str, region: str, group: str) -> Record | None:
    for record in ctx_runtime.store.list(INSTANCE_REFRESH, account, region):
        if record.spec["Group"] == group and record.status.get("Status") in ACTIVE:
            return record
    return None


@api.operation("StartInstanceRefresh")
def start_instance_refresh(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    preferences = dict(params.get("Preferences") or {})
    if params.get("Strategy", "Rolling") != "Rolling":
        raise validation(f"Invalid strategy: {params.get('Strategy')}")
    min_healthy = int(preferences.get("MinHealthyPercentage", 90))
    if not 0 <= min_healthy <= 100:
        raise validation("MinHealthyPercentage must be between 0 and 100.")
    max_healthy = preferences.get("MaxHealthyPercentage")
    if max_healthy is not None and (
        not 100 <= int(max_healthy) <= 200 or int(max_healthy) - min_healthy > 100
    ):
        raise validation(
            "MaxHealthyPercentage must be between 100 and 200, and at most 100 above MinHealthyPercentage."
        )
    desired_config = params.get("DesiredConfiguration") or {}
    if desired_config.get("MixedInstancesPolicy"):
        raise validation("onebox does not support MixedInstancesPolicy.")
    with store.transaction():
        group = group_from(ctx, params)
        if active_refresh(ctx.runtime, ctx.account_id, ctx.region, group.id) is not None:
            raise AwsError(
                "InstanceRefreshInProgress",
                "An Instance Refresh is already in progress and blocks the execution of this Instance Refresh.",
            )
        template = group.spec.get("LaunchTemplate")
        if desired_config.get("LaunchTemplate"):
            template = resolve_launch_template(ctx, desired_config["LaunchTemplate"])
        skip = bool(preferences.get("SkipMatching", False))
        if skip and not template:
            raise validation(
                "SkipMatching requires the group or the desired configuration to use a launch template."
            )
        now = ctx.runtime.clock.time()
        refresh_id = new_uuid()
        prefs = {
            "MinHealthyPercentage": min_healthy,
            "SkipMatching": skip,
            "AutoRollback": bool(preferences.get("AutoRollback", False)),
            "ScaleInProtectedInstances": preferences.get("ScaleInProtectedInstances") or "Ignore",
            "StandbyInstances": preferences.get("StandbyInstances") or "Ignore",
            "CheckpointPercentages": preferences.get("CheckpointPercentages") or [],
        }
        if preferences.get("InstanceWarmup") is not None:
            prefs["InstanceWarmup"] = int(preferences["InstanceWarmup"])
        if max_healthy is not None:
            prefs["MaxHealthyPercentage"] = int(max_healthy)
        if desired_config.get("LaunchTemplate"):
            # The group moves to the new configuration at once; the refresh replaces what runs.
            store.update(
                group, spec={**group.spec, "LaunchTemplate": template, "LaunchConfigurationName": None}
            )
        store.create(
            INSTANCE_REFRESH,
            ctx.account_id,
            ctx.region,
            refresh_id,
            arn=f"{group.arn}/instanceRefresh/{refresh_id}",
            spec={
                "Group": group.id,
                "Preferences": prefs,
                "DesiredConfiguration": {"LaunchTemplate": template}
                if desired_config.get("LaunchTemplate")
                else {},
                "StartedAt": now,
            },
            status={"Status": "Pending", "PercentageComplete": 0, "InstancesToUpdate": 0},
        )
    return {"InstanceRefreshId": refresh_id}


def refresh_view(record: Record) -> dict[str, Any]:
    status = record.status
    view: dict[str, Any] = {
        "InstanceRefreshId": record.id,
        "AutoScalingGroupName": record.spec["Group"],
        "Status": status.get("Status", "Pending"),
        "PercentageComplete": status.get("PercentageComplete", 0),
        "InstancesToUpdate": status.get("InstancesToUpdate", 0),
        "Preferences": record.spec["Preferences"],
        "Strategy": "Rolling",
        "ProgressDetails": {
            "LivePoolProgress": {
                "PercentageComplete": status.get("PercentageComplete", 0),
                "InstancesToUpdate": status.get("InstancesToUpdate", 0),
            }
        },
    }
    if status.get("StartTime") is not None:
        view["StartTime"] = status["StartTime"]
    if status.get("EndTime") is not None:
        view["EndTime"] = status["EndTime"]
    if status.get("StatusReason"):
        view["StatusReason"] = status["StatusReason"]
    if record.spec.get("DesiredConfiguration"):
        view["DesiredConfiguration"] = record.spec["DesiredConfiguration"]
    return view


@api.operation("DescribeInstanceRefreshes")
def describe_instance_refreshes(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    group = group_from(ctx, params)
    ids = params.get("InstanceRefreshIds") or None
    records = [
        r
        for r in store.list(INSTANCE_REFRESH, ctx.account_id, ctx.region)
        if r.spec["Group"] == group.id and (not ids or r.id in ids)
    ]
    page, token = store.paginator.paginate(
        records,
        params.get("MaxRecords") or 50,
        params.get("NextToken"),
        key=lambda r: -r.seq,
        scope="DescribeInstanceRefreshes",
    )
    result: dict[str, Any] = {"InstanceRefreshes": [refresh_view(r) for r in page]}
    if token:
        result["NextToken"] = token
    return result


@api.operation("CancelInstanceRefresh")
def cancel_instance_refresh(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    with store.transaction():
        group = group_from(ctx, params)
        record = active_refresh(ctx.runtime, ctx.account_id, ctx.region, group.id)
        if record is None:
            raise AwsError(
                "ActiveInstanceRefreshNotFound",
                f"No in progress or pending Instance Refresh found for Auto Scaling group {group.id}",
            )
        store.update_status(
            INSTANCE_REFRESH, ctx.account_id, ctx.region, record.id, {**record.status, "Status": "Cancelling"}
        )
    return {"InstanceRefreshId": record.id}
