"""Auto Scaling's record kinds, ARNs, lookups, errors and scaling activities, shared by its modules.

Records (all scoped to account and region):
  autoscaling:group            id = name; spec = the group as configured; status = the controller's
                               bookkeeping (last activity end for cooldowns, metrics clock, cause text)
  autoscaling:instance         id = instance id; spec.Group, LifecycleState, HealthStatus, protection,
                               launch source, timestamps (handlers and the controller both move it,
                               always inside a transaction that read it)
  autoscaling:activity         id = activity id; DescribeScalingActivities' fields
  autoscaling:policy           id = policy uuid
  autoscaling:launch-configuration, autoscaling:scheduled-action, autoscaling:lifecycle-hook,
  autoscaling:instance-refresh
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from onebox.aws.dispatch import RequestContext
from onebox.aws.errors import AwsError
from onebox.aws.http import HttpRequest
from onebox.store.ids import arn, new_request_id

if TYPE_CHECKING:
    from onebox.runtime import Runtime
    from onebox.store import Record

GROUP = "autoscaling:group"
MEMBER = "autoscaling:instance"
ACTIVITY = "autoscaling:activity"
POLICY = "autoscaling:policy"
LAUNCH_CONFIGURATION = "autoscaling:launch-configuration"
SCHEDULED_ACTION = "autoscaling:scheduled-action"
LIFECYCLE_HOOK = "autoscaling:lifecycle-hook"
INSTANCE_REFRESH = "autoscaling:instance-refresh"

GROUP_TAG = "aws:autoscaling:groupName"
MAX_GROUPS = 500
MAX_LAUNCH_CONFIGURATIONS = 200
MAX_POLICIES_PER_GROUP = 50
MAX_SCHEDULED_ACTIONS = 125
MAX_LIFECYCLE_HOOKS = 50

PROCESSES = (
    "Launch",
    "Terminate",
    "AddToLoadBalancer",
    "AlarmNotification",
    "AZRebalance",
    "HealthCheck",
    "InstanceRefresh",
    "ReplaceUnhealthy",
    "ScheduledActions",
)
GROUP_METRICS = (
    "GroupMinSize",
    "GroupMaxSize",
    "GroupDesiredCapacity",
    "GroupInServiceInstances",
    "GroupPendingInstances",
    "GroupStandbyInstances",
    "GroupTerminatingInstances",
    "GroupTotalInstances",
    "GroupInServiceCapacity",
    "GroupPendingCapacity",
    "GroupStandbyCapacity",
    "GroupTerminatingCapacity",
    "GroupTotalCapacity",
)
TERMINATION_POLICIES = (
    "Default",
    "OldestInstance",
    "NewestInstance",
    "OldestLaunchConfiguration",
    "OldestLaunchTemplate",
    "ClosestToNextInstanceHour",
    "AllocationStrategy",
)
NOTIFICATION_TYPES = (
    "autoscaling:EC2_INSTANCE_LAUNCH",
    "autoscaling:EC2_INSTANCE_LAUNCH_ERROR",
    "autoscaling:EC2_INSTANCE_TERMINATE",
    "autoscaling:EC2_INSTANCE_TERMINATE_ERROR",
    "autoscaling:TEST_NOTIFICATION",
)

# Lifecycle states (AWS's LifecycleState values).
PENDING_STATES = ("Pending", "Pending:Wait", "Pending:Proceed")
TERMINATING_STATES = ("Terminating", "Terminating:Wait", "Terminating:Proceed")
STANDBY_STATES = ("Standby", "EnteringStandby")
DETACHING_STATES = ("Detaching",)


def validation(message: str) -> AwsError:
    return AwsError("ValidationError", message)


def group_arn(region: str, account: str, name: str, group_id: str) -> str:
    return arn("autoscaling", region, account, f"autoScalingGroup:{group_id}:autoScalingGroupName/{name}")


def policy_arn(region: str, account: str, policy_id: str, group: str, name: str) -> str:
    return arn(
        "autoscaling",
        region,
        account,
        f"scalingPolicy:{policy_id}:autoScalingGroupName/{group}:policyName/{name}",
    )


def new_uuid() -> str:
    return str(uuid.uuid4())


def iso(moment: float) -> str:
    """AWS's cause texts print times like 2023-06-15T10:01:02Z."""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def get_group(runtime: Runtime, account: str, region: str, name: str | None) -> Record:
    record = runtime.store.get(GROUP, account, region, name or "") if name else None
    if record is None or record.spec.get("Deleting"):
        raise validation(f"AutoScalingGroup name not found - AutoScalingGroup {name} not found")
    return record


def group_from(ctx: RequestContext, params: dict[str, Any]) -> Record:
    return get_group(ctx.runtime, ctx.account_id, ctx.region, params.get("AutoScalingGroupName"))


def members(runtime: Runtime, account: str, region: str, group: str) -> list[Record]:
    return [r for r in runtime.store.list(MEMBER, account, region) if r.spec.get("Group") == group]


def internal_context(
    runtime: Runtime, service: str, operation: str, account: str, region: str
) -> RequestContext:
    """A RequestContext for calling another service's handler on the group's behalf."""
    return RequestContext(
        runtime=runtime,
        service=service,
        operation=operation,
        account_id=account,
        region=region,
        request_id=new_request_id(),
        request=HttpRequest("POST", "/"),
    )


# -- scaling activities -----------------------------------------------------------------------------


def start_activity(
    runtime: Runtime,
    group: Record,
    *,
    description: str,
    cause: str,
    status: str = "InProgress",
    progress: int = 0,
    details: dict[str, Any] | None = None,
) -> str:
    """Record a scaling activity; returns its id. Finished ones pass status Successful/Failed/Cancelled."""
    now = runtime.clock.time()
    activity_id = new_uuid()
    done = status in ("Successful", "Failed", "Cancelled")
    runtime.store.create(
        ACTIVITY,
        group.account,
        group.region,
        activity_id,
        arn=f"{group.arn}/activity/{activity_id}",
        spec={
            "AutoScalingGroupName": group.id,
            "AutoScalingGroupARN": group.arn,
            "Description": description,
            "Cause": cause,
            "StartTime": now,
            "Details": details or {},
        },
        status={
            "StatusCode": status,
            "Progress": 100 if done else progress,
            **({"EndTime": now} if done else {}),
        },
    )
    return activity_id


def finish_activity(
    runtime: Runtime,
    account: str,
    region: str,
    activity_id: str | None,
    *,
    status: str = "Successful",
    message: str | None = None,
) -> None:
    if not activity_id:
        return
    record = runtime.store.get(ACTIVITY, account, region, activity_id)
    if record is None or record.status.get("StatusCode") in ("Successful", "Failed", "Cancelled"):
        return
    new = {**record.status, "StatusCode": status, "Progress": 100, "EndTime": runtime.clock.time()}
    if message:
        new["StatusMessage"] = message
    runtime.store.update_status(ACTIVITY, account, region, activity_id, new)


def progress_activity(
    runtime: Runtime,
    account: str,
    region: str,
    activity_id: str | None,
    progress: int,
    code: str | None = None,
) -> None:
    if not activity_id:
        return
    record = runtime.store.get(ACTIVITY, account, region, activity_id)
    if record is None or record.status.get("StatusCode") in ("Successful", "Failed", "Cancelled"):
        return
    if record.status.get("Progress") == progress and (
        code is None or record.status.get("StatusCode") == code
    ):
        return
    new = {**record.status, "Progress": progress}
    if code:
        new["StatusCode"] = code
    runtime.store.update_status(ACTIVITY, account, region, activity_id, new)


def desired_cause(now: float, what: str, old: int, new: int) -> str:
    """The first sentence of an activity's cause: who changed the desired capacity."""
    return f"At {iso(now)} {what} changing the desired capacity from {old} to {new}."


def set_desired(
    runtime: Runtime, group: Record, desired: int, cause_what: str, *, spec: dict[str, Any] | None = None
) -> Record:
    """Write a new desired capacity (and any other spec changes) with the cause later activities quote."""
    now = runtime.clock.time()
    new_spec = dict(spec if spec is not None else group.spec)
    old = int(group.spec.get("DesiredCapacity", 0))
    new_spec["DesiredCapacity"] = desired
    if desired != old:
        new_spec["DesiredCause"] = desired_cause(now, cause_what, old, desired)
        new_spec["DesiredChangedAt"] = now
    return runtime.store.update(group, spec=new_spec)
