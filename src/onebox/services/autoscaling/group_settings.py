"""Group settings and read-only catalogues: tags, suspended processes, metrics collection, SNS
notifications, scaling activities, account limits and the Describe*Types lists."""

from __future__ import annotations

import json
from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.services.autoscaling.common import (
    ACTIVITY,
    GROUP,
    GROUP_METRICS,
    LAUNCH_CONFIGURATION,
    MAX_GROUPS,
    MAX_LAUNCH_CONFIGURATIONS,
    NOTIFICATION_TYPES,
    PROCESSES,
    TERMINATION_POLICIES,
    get_group,
    group_from,
    iso,
    validation,
)
from onebox.services.autoscaling.group_instances import activity_view
from onebox.services.autoscaling.groups import group_tags

api = ServiceApi("autoscaling")


# -- tags -------------------------------------------------------------------------------------------


def _tag_groups(ctx: RequestContext, tags: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    by_group: dict[str, list[dict[str, Any]]] = {}
    for tag in tags:
        if tag.get("ResourceType", "auto-scaling-group") != "auto-scaling-group":
            raise validation(f"Invalid resource type: {tag.get('ResourceType')}")
        if not tag.get("ResourceId"):
            raise validation("ResourceId is required for a tag.")
        by_group.setdefault(tag["ResourceId"], []).append(tag)
    return by_group


@api.operation("CreateOrUpdateTags")
def create_or_update_tags(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    with store.transaction():
        for name, tags in _tag_groups(ctx, params.get("Tags") or []).items():
            group = get_group(ctx.runtime, ctx.account_id, ctx.region, name)
            current = {t["Key"]: t for t in group.spec.get("Tags") or []}
            for tag in group_tags(name, tags):
                current[tag["Key"]] = tag
            merged = group_tags(name, list(current.values()))
            store.update(group, spec={**group.spec, "Tags": merged})
    return {}


@api.operation("DeleteTags")
def delete_tags(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    with store.transaction():
        for name, tags in _tag_groups(ctx, params.get("Tags") or []).items():
            group = get_group(ctx.runtime, ctx.account_id, ctx.region, name)
            keys = {t["Key"] for t in tags}
            remaining = [t for t in group.spec.get("Tags") or [] if t["Key"] not in keys]
            store.update(group, spec={**group.spec, "Tags": remaining})
    return {}


@api.operation("DescribeTags")
def describe_tags(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    rows: list[tuple[int, int, dict[str, Any]]] = []
    for group in ctx.runtime.store.list(GROUP, ctx.account_id, ctx.region):
        if group.spec.get("Deleting"):
            continue
        for index, tag in enumerate(group.spec.get("Tags") or []):
            view = {"ResourceId": group.id, "ResourceType": "auto-scaling-group", **tag}
            if _tag_matches(view, params.get("Filters") or []):
                rows.append((group.seq, index, view))
    page, token = ctx.runtime.store.paginator.paginate(
        rows,
        params.get("MaxRecords") or 50,
        params.get("NextToken"),
        key=lambda r: (r[0], r[1]),
        scope="DescribeTags",
    )
    result: dict[str, Any] = {"Tags": [row[2] for row in page]}
    if token:
        result["NextToken"] = token
    return result


def _tag_matches(view: dict[str, Any], filters: list[dict[str, Any]]) -> bool:
    fields = {
        "auto-scaling-group": view["ResourceId"],
        "key": view["Key"],
        "value": view["Value"],
        "propagate-at-launch": str(view["PropagateAtLaunch"]).lower(),
    }
    for item in filters:
        name = item.get("Name", "")
        if name not in fields:
            raise validation(
                f"Filter type {name} is not correct. Allowed Filter types are: auto-scaling-group key value propagate-at-launch"
            )
        if fields[name] not in (item.get("Values") or []):
            return False
    return True


# -- processes and metrics ---------------------------------------------------------------------------


def _processes(params: dict[str, Any]) -> list[str]:
    names = list(params.get("ScalingProcesses") or PROCESSES)
    for name in names:
        if name not in PROCESSES:
            raise validation(f"Process {name} is not a valid scaling process name.")
    return names


@api.operation("SuspendProcesses")
def suspend_processes(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    names = _processes(params)
    now = ctx.runtime.clock.time()
    with ctx.runtime.store.transaction():
        group = group_from(ctx, params)
        current = {p: t for p, t in group.spec.get("SuspendedProcesses") or []}
        for name in names:
            current.setdefault(name, now)
        ctx.runtime.store.update(
            group, spec={**group.spec, "SuspendedProcesses": [[p, t] for p, t in current.items()]}
        )
    return {}


@api.operation("ResumeProcesses")
def resume_processes(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    names = _processes(params)
    with ctx.runtime.store.transaction():
        group = group_from(ctx, params)
        remaining = [[p, t] for p, t in group.spec.get("SuspendedProcesses") or [] if p not in names]
        ctx.runtime.store.update(group, spec={**group.spec, "SuspendedProcesses": remaining})
    return {}


def _metrics(params: dict[str, Any]) -> list[str]:
    if params.get("Granularity") not in (None, "1Minute"):
        raise validation("Valid metrics granularity type is: [ 1Minute ].")
    names = list(params.get("Metrics") or GROUP_METRICS)
    for name in names:
        if name not in GROUP_METRICS and name not in ("WarmPoolMinSize", "WarmPoolDesiredCapacity"):
            raise validation(f"Metric {name} is not a valid metric.")
    return names


@api.operation("EnableMetricsCollection")
def enable_metrics_collection(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    names = _metrics(params)
    with ctx.runtime.store.transaction():
        group = group_from(ctx, params)
        current = list(dict.fromkeys(list(group.spec.get("EnabledMetrics") or []) + names))
        ctx.runtime.store.update(group, spec={**group.spec, "EnabledMetrics": current})
    return {}


@api.operation("DisableMetricsCollection")
def disable_metrics_collection(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    names = list(params.get("Metrics") or GROUP_METRICS)
    with ctx.runtime.store.transaction():
        group = group_from(ctx, params)
        current = [m for m in group.spec.get("EnabledMetrics") or [] if m not in names]
        ctx.runtime.store.update(group, spec={**group.spec, "EnabledMetrics": current})
    return {}


# -- notifications -----------------------------------------------------------------------------------


def publish_notification(runtime: Any, group: Any, event: str, message: dict[str, Any]) -> None:
    """Publish one Auto Scaling event to every topic the group sends `event` to, shaped as AWS's
    notification (the activity's description, cause, times and progress); failures are logged."""
    topics = [t for t, types in (group.spec.get("Notifications") or {}).items() if event in types]
    if not topics:
        return
    from onebox.services.sns import delivery

    subject_event = {
        "autoscaling:EC2_INSTANCE_LAUNCH": "launch",
        "autoscaling:EC2_INSTANCE_TERMINATE": "termination",
        "autoscaling:EC2_INSTANCE_LAUNCH_ERROR": "failed launch",
        "autoscaling:EC2_INSTANCE_TERMINATE_ERROR": "failed termination",
    }.get(event, "test notification")
    body: dict[str, Any] = {
        "Origin": "AutoScalingGroup" if "TERMINATE" in event else "EC2",
        "Destination": "EC2" if "TERMINATE" in event else "AutoScalingGroup",
        "Progress": 50,
        "AccountId": group.account,
        "Description": "",
        "RequestId": message.get("ActivityId", ""),
        "AutoScalingGroupARN": group.arn,
        "Service": "AWS Auto Scaling",
        "Time": iso(runtime.clock.time()),
        "StatusCode": "InProgress",
        "StatusMessage": "",
        "Details": {},
        "AutoScalingGroupName": group.id,
        "Cause": "",
        "Event": event,
    }
    activity = runtime.store.get(ACTIVITY, group.account, group.region, message.get("ActivityId") or "")
    if activity is not None:
        body.update(
            {
                "Description": activity.spec["Description"],
                "Cause": activity.spec["Cause"],
                "StartTime": iso(activity.spec["StartTime"]),
                "Details": activity.spec.get("Details") or {},
                "Progress": activity.status.get("Progress", 50),
                "StatusCode": activity.status.get("StatusCode", "InProgress"),
            }
        )
        if activity.status.get("EndTime") is not None:
            body["EndTime"] = iso(activity.status["EndTime"])
    body.update(message)
    for topic in topics:
        try:
            delivery.publish(
                runtime, topic, json.dumps(body), f'Auto Scaling: {subject_event} for group "{group.id}"'
            )
        except Exception:  # a deleted topic must not break the group
            import logging

            logging.getLogger(__name__).info("autoscaling: notification to %s failed", topic, exc_info=True)


@api.operation("PutNotificationConfiguration")
def put_notification_configuration(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    topic = params["TopicARN"]
    types = list(dict.fromkeys(params.get("NotificationTypes") or []))
    for kind in types:
        if kind not in NOTIFICATION_TYPES:
            raise validation(f"Notification type {kind} is not valid.")
    from onebox.services.sns.model import get_topic

    try:
        get_topic(ctx.runtime, topic)
    except (AwsError, ValueError):
        raise validation(f"SNS Topic not found: {topic}") from None
    with ctx.runtime.store.transaction():
        group = group_from(ctx, params)
        notifications = dict(group.spec.get("Notifications") or {})
        notifications[topic] = types
        group = ctx.runtime.store.update(group, spec={**group.spec, "Notifications": notifications})
    _test_notification(ctx, group, topic)
    return {}


def _test_notification(ctx: RequestContext, group: Any, topic: str) -> None:
    from onebox.services.sns import delivery

    body = {
        "AccountId": group.account,
        "RequestId": ctx.request_id,
        "AutoScalingGroupARN": group.arn,
        "AutoScalingGroupName": group.id,
        "Service": "AWS Auto Scaling",
        "Event": "autoscaling:TEST_NOTIFICATION",
        "Time": iso(ctx.runtime.clock.time()),
    }
    try:
        delivery.publish(
            ctx.runtime, topic, json.dumps(body), f'Auto Scaling: test notification for group "{group.id}"'
        )
    except AwsError:
        pass


@api.operation("DescribeNotificationConfigurations")
def describe_notification_configurations(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    names = params.get("AutoScalingGroupNames") or None
    rows = []
    for group in ctx.runtime.store.list(GROUP, ctx.account_id, ctx.region):
        if group.spec.get("Deleting") or (names and group.id not in names):
            continue
        for topic, types in (group.spec.get("Notifications") or {}).items():
            for kind in types:
                rows.append({"AutoScalingGroupName": group.id, "TopicARN": topic, "NotificationType": kind})
    return {"NotificationConfigurations": rows}


@api.operation("DeleteNotificationConfiguration")
def delete_notification_configuration(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.runtime.store.transaction():
        group = group_from(ctx, params)
        notifications = dict(group.spec.get("Notifications") or {})
        if params["TopicARN"] not in notifications:
            raise validation(f"No notification configuration found for topic {params['TopicARN']}")
        notifications.pop(params["TopicARN"])
        ctx.runtime.store.update(group, spec={**group.spec, "Notifications": notifications})
    return {}


# -- activities ----------------------------------------------------------------------------------------


@api.operation("DescribeScalingActivities")
def describe_scaling_activities(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    name = params.get("AutoScalingGroupName")
    ids = params.get("ActivityIds") or None
    max_records = params.get("MaxRecords") or 100
    if not 1 <= max_records <= 100:
        raise validation("MaxRecords must be between 1 and 100")
    records = store.list(ACTIVITY, ctx.account_id, ctx.region, ids=ids)
    if name:
        records = [r for r in records if r.spec["AutoScalingGroupName"] == name]
    if not params.get("IncludeDeletedGroups"):
        live = {g.id for g in store.list(GROUP, ctx.account_id, ctx.region)}
        records = [r for r in records if r.spec["AutoScalingGroupName"] in live]
    # Newest first, as AWS lists them.
    page, token = store.paginator.paginate(
        records,
        max_records,
        params.get("NextToken"),
        key=lambda r: -r.seq,
        scope=f"DescribeScalingActivities/{name}",
    )
    result: dict[str, Any] = {"Activities": [activity_view(r) for r in page]}
    if token:
        result["NextToken"] = token
    return result


# -- catalogues ----------------------------------------------------------------------------------------


@api.operation("DescribeAccountLimits")
def describe_account_limits(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    return {
        "MaxNumberOfAutoScalingGroups": MAX_GROUPS,
        "MaxNumberOfLaunchConfigurations": MAX_LAUNCH_CONFIGURATIONS,
        "NumberOfAutoScalingGroups": store.count(GROUP, ctx.account_id, ctx.region),
        "NumberOfLaunchConfigurations": store.count(LAUNCH_CONFIGURATION, ctx.account_id, ctx.region),
    }


@api.operation("DescribeAdjustmentTypes")
def describe_adjustment_types(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "AdjustmentTypes": [
            {"AdjustmentType": t} for t in ("ChangeInCapacity", "ExactCapacity", "PercentChangeInCapacity")
        ]
    }


@api.operation("DescribeScalingProcessTypes")
def describe_scaling_process_types(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"Processes": [{"ProcessName": p} for p in sorted(PROCESSES)]}


@api.operation("DescribeMetricCollectionTypes")
def describe_metric_collection_types(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "Metrics": [{"Metric": m} for m in GROUP_METRICS],
        "Granularities": [{"Granularity": "1Minute"}],
    }


@api.operation("DescribeTerminationPolicyTypes")
def describe_termination_policy_types(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"TerminationPolicyTypes": list(TERMINATION_POLICIES)}


@api.operation("DescribeAutoScalingNotificationTypes")
def describe_auto_scaling_notification_types(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"AutoScalingNotificationTypes": list(NOTIFICATION_TYPES)}


@api.operation("DescribeLifecycleHookTypes")
def describe_lifecycle_hook_types(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "LifecycleHookTypes": ["autoscaling:EC2_INSTANCE_LAUNCHING", "autoscaling:EC2_INSTANCE_TERMINATING"]
    }
