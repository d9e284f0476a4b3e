"""Lifecycle hooks: Put/Describe/Delete, CompleteLifecycleAction and RecordLifecycleActionHeartbeat.

An instance waiting on a hook is in Pending:Wait or Terminating:Wait; its member record holds the hook
name, the action token and the deadline. The group controller moves it on when the action completes
or the heartbeat timeout passes (DefaultResult), and abandons a launch by terminating the instance.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.services.autoscaling.common import (
    LIFECYCLE_HOOK,
    MAX_LIFECYCLE_HOOKS,
    MEMBER,
    group_from,
    iso,
    validation,
)
from onebox.store import Record

if TYPE_CHECKING:
    from onebox.runtime import Runtime

api = ServiceApi("autoscaling")
TRANSITIONS = ("autoscaling:EC2_INSTANCE_LAUNCHING", "autoscaling:EC2_INSTANCE_TERMINATING")
DEFAULT_HEARTBEAT = 3600
MAX_GLOBAL = 172800  # 48 hours


def _key(group: str, name: str) -> str:
    return f"{group}/{name}"


@api.operation("PutLifecycleHook")
def put_lifecycle_hook(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    name = params["LifecycleHookName"]
    with store.transaction():
        group = group_from(ctx, params)
        existing = store.get(LIFECYCLE_HOOK, ctx.account_id, ctx.region, _key(group.id, name))
        previous = existing.spec if existing else {}
        transition = params.get("LifecycleTransition") or previous.get("LifecycleTransition")
        if transition not in TRANSITIONS:
            raise validation(f"Invalid value for lifecycle transition: {transition}")
        heartbeat = int(
            params.get("HeartbeatTimeout") or previous.get("HeartbeatTimeout") or DEFAULT_HEARTBEAT
        )
        if not 30 <= heartbeat <= 7200:
            raise validation("HeartbeatTimeout must be between 30 and 7200 seconds.")
        result = params.get("DefaultResult") or previous.get("DefaultResult") or "ABANDON"
        if result not in ("CONTINUE", "ABANDON"):
            raise validation(f"Invalid value for default result: {result}")
        spec = {
            "Group": group.id,
            "LifecycleHookName": name,
            "LifecycleTransition": transition,
            "HeartbeatTimeout": heartbeat,
            "GlobalTimeout": min(MAX_GLOBAL, 100 * heartbeat),
            "DefaultResult": result,
            "NotificationTargetARN": params.get("NotificationTargetARN")
            or previous.get("NotificationTargetARN"),
            "RoleARN": params.get("RoleARN") or previous.get("RoleARN"),
            "NotificationMetadata": params.get("NotificationMetadata")
            or previous.get("NotificationMetadata"),
        }
        if existing is not None:
            store.update(existing, spec=spec)
        else:
            count = sum(
                1
                for r in store.list(LIFECYCLE_HOOK, ctx.account_id, ctx.region)
                if r.spec["Group"] == group.id
            )
            if count >= MAX_LIFECYCLE_HOOKS:
                raise AwsError(
                    "LimitExceeded",
                    f"You have reached the limit of {MAX_LIFECYCLE_HOOKS} lifecycle hooks per group.",
                )
            store.create(
                LIFECYCLE_HOOK,
                ctx.account_id,
                ctx.region,
                _key(group.id, name),
                arn=f"{group.arn}:lifecycleHookName/{name}",
                spec=spec,
            )
    return {}


def hook_view(record: Record) -> dict[str, Any]:
    spec = record.spec
    view = {
        "LifecycleHookName": spec["LifecycleHookName"],
        "AutoScalingGroupName": spec["Group"],
        "LifecycleTransition": spec["LifecycleTransition"],
        "HeartbeatTimeout": spec["HeartbeatTimeout"],
        "GlobalTimeout": spec["GlobalTimeout"],
        "DefaultResult": spec["DefaultResult"],
    }
    for field in ("NotificationTargetARN", "RoleARN", "NotificationMetadata"):
        if spec.get(field):
            view[field] = spec[field]
    return view


@api.operation("DescribeLifecycleHooks")
def describe_lifecycle_hooks(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    group = group_from(ctx, params)
    names = params.get("LifecycleHookNames") or None
    hooks = [
        hook_view(r)
        for r in ctx.runtime.store.list(LIFECYCLE_HOOK, ctx.account_id, ctx.region)
        if r.spec["Group"] == group.id and (not names or r.spec["LifecycleHookName"] in names)
    ]
    return {"LifecycleHooks": hooks}


@api.operation("DeleteLifecycleHook")
def delete_lifecycle_hook(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.runtime.store.transaction():
        group = group_from(ctx, params)
        name = params["LifecycleHookName"]
        record = ctx.runtime.store.get(LIFECYCLE_HOOK, ctx.account_id, ctx.region, _key(group.id, name))
        if record is None:
            raise validation(f"No Lifecycle Hook found with name {name} for group {group.id}")
        ctx.runtime.store.delete(record)
    return {}


def hooks_for(runtime: Runtime, account: str, region: str, group: str, transition: str) -> list[Record]:
    return [
        r
        for r in runtime.store.list(LIFECYCLE_HOOK, account, region)
        if r.spec["Group"] == group and r.spec["LifecycleTransition"] == transition
    ]


def _waiting_member(ctx: RequestContext, params: dict[str, Any]) -> Record:
    group = group_from(ctx, params)
    hook_name = params["LifecycleHookName"]
    token = params.get("LifecycleActionToken")
    instance_id = params.get("InstanceId")
    if not token and not instance_id:
        raise validation("Either LifecycleActionToken or InstanceId must be specified.")
    for member in ctx.runtime.store.list(MEMBER, ctx.account_id, ctx.region):
        wait = member.spec.get("Hook") or {}
        if member.spec.get("Group") != group.id or wait.get("Name") != hook_name:
            continue
        if (token and wait.get("Token") == token) or (not token and member.id == instance_id):
            return member
    raise validation(
        f"No active Lifecycle Action found with token {token}"
        if token
        else f"No active Lifecycle Action found with instance ID {instance_id}"
    )


@api.operation("CompleteLifecycleAction")
def complete_lifecycle_action(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    result = params["LifecycleActionResult"]
    if result not in ("CONTINUE", "ABANDON"):
        raise validation(f"Invalid value for lifecycle action result: {result}")
    with ctx.runtime.store.transaction():
        member = _waiting_member(ctx, params)
        hook = {**member.spec["Hook"], "Result": result}
        ctx.runtime.store.update(member, spec={**member.spec, "Hook": hook})
    return {}


@api.operation("RecordLifecycleActionHeartbeat")
def record_lifecycle_action_heartbeat(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    now = ctx.runtime.clock.time()
    with ctx.runtime.store.transaction():
        member = _waiting_member(ctx, params)
        hook = dict(member.spec["Hook"])
        hook["Deadline"] = min(now + hook["Heartbeat"], hook["GlobalDeadline"])
        ctx.runtime.store.update(member, spec={**member.spec, "Hook": hook})
    return {}


def notify_hook(runtime: Runtime, group: Record, hook: Record, instance_id: str, token: str) -> None:
    """Send the lifecycle action to the hook's SNS target (SQS targets are not in onebox)."""
    target = hook.spec.get("NotificationTargetARN")
    if not target or ":sns:" not in target:
        return
    body = {
        "Origin": "EC2" if hook.spec["LifecycleTransition"].endswith("LAUNCHING") else "AutoScalingGroup",
        "Destination": "AutoScalingGroup"
        if hook.spec["LifecycleTransition"].endswith("LAUNCHING")
        else "EC2",
        "Service": "AWS Auto Scaling",
        "Time": iso(runtime.clock.time()),
        "AccountId": group.account,
        "LifecycleTransition": hook.spec["LifecycleTransition"],
        "AutoScalingGroupName": group.id,
        "EC2InstanceId": instance_id,
        "LifecycleActionToken": token,
        "LifecycleHookName": hook.spec["LifecycleHookName"],
    }
    if hook.spec.get("NotificationMetadata"):
        body["NotificationMetadata"] = hook.spec["NotificationMetadata"]
    try:
        from onebox.services.sns import delivery

        delivery.publish(runtime, target, json.dumps(body), "Auto Scaling:  Lifecycle action")
    except Exception:  # the hook still times out with its default result
        import logging

        logging.getLogger(__name__).info(
            "autoscaling: lifecycle notification to %s failed", target, exc_info=True
        )
