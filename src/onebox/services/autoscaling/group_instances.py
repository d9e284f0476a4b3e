"""Operations on a group's instances: terminate, attach, detach, health, protection, standby; and the
group's target groups and traffic sources."""

from __future__ import annotations

from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.services.autoscaling import target_groups
from onebox.services.autoscaling.common import (
    GROUP_TAG,
    MEMBER,
    TERMINATING_STATES,
    desired_cause,
    get_group,
    group_from,
    iso,
    start_activity,
    validation,
)
from onebox.services.autoscaling.groups import check_target_groups
from onebox.store import Record

api = ServiceApi("autoscaling")


def activity_view(record: Record) -> dict[str, Any]:
    spec, status = record.spec, record.status
    view: dict[str, Any] = {
        "ActivityId": record.id,
        "AutoScalingGroupName": spec["AutoScalingGroupName"],
        "AutoScalingGroupARN": spec.get("AutoScalingGroupARN"),
        "Description": spec["Description"],
        "Cause": spec["Cause"],
        "StartTime": spec["StartTime"],
        "StatusCode": status.get("StatusCode", "InProgress"),
        "Progress": status.get("Progress", 0),
        "Details": _details(spec.get("Details") or {}),
    }
    if status.get("EndTime") is not None:
        view["EndTime"] = status["EndTime"]
    if status.get("StatusMessage"):
        view["StatusMessage"] = status["StatusMessage"]
    return view


def _details(details: dict[str, Any]) -> str:
    import json

    return json.dumps(details, separators=(",", ":"))


def _member(ctx: RequestContext, instance_id: str, group: str | None = None) -> Record:
    record = ctx.runtime.store.get(MEMBER, ctx.account_id, ctx.region, instance_id)
    if record is None or (group is not None and record.spec.get("Group") != group):
        if group is not None:
            raise validation(f"The instance {instance_id} is not part of Auto Scaling group {group}.")
        raise validation("Instance Id not found - No managed instance found for instance ID: " + instance_id)
    return record


def move(ctx: RequestContext, member: Record, **changes: Any) -> Record:
    return ctx.runtime.store.update(member, spec={**member.spec, **changes})


def _activity(ctx: RequestContext, group: Record, description: str, cause: str, instance_id: str) -> str:
    return start_activity(
        ctx.runtime,
        group,
        description=description,
        cause=cause,
        details={"InstanceId": instance_id},
    )


def _set_desired(ctx: RequestContext, group: Record, new: int, request: str) -> None:
    """Record a user request's change of the group's desired capacity, with AWS's cause text."""
    now = ctx.runtime.clock.time()
    desired = int(group.spec["DesiredCapacity"])
    ctx.runtime.store.update(
        group,
        spec={
            **group.spec,
            "DesiredCapacity": new,
            "DesiredCause": desired_cause(now, request, desired, new),
            "DesiredChangedAt": now,
        },
    )


@api.operation("TerminateInstanceInAutoScalingGroup")
def terminate_instance_in_auto_scaling_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    instance_id = params["InstanceId"]
    decrement = bool(params["ShouldDecrementDesiredCapacity"])
    now = ctx.runtime.clock.time()
    with store.transaction():
        member = _member(ctx, instance_id)
        group = get_group(ctx.runtime, ctx.account_id, ctx.region, member.spec["Group"])
        desired = int(group.spec["DesiredCapacity"])
        if member.spec.get("LifecycleState") in TERMINATING_STATES:
            raise AwsError(
                "ScalingActivityInProgress", f"Instance {instance_id} is already being terminated."
            )
        cause = f"At {iso(now)} instance {instance_id} was taken out of service in response to a user request"
        if decrement:
            if desired - 1 < int(group.spec["MinSize"]):
                raise validation(
                    f"Currently, desiredSize equals minSize ({group.spec['MinSize']}). Terminating instance without "
                    "replacement will violate group's min size constraint. Either set shouldDecrementDesiredCapacity "
                    "flag to false or lower group's min size."
                )
            cause += f", shrinking the capacity from {desired} to {desired - 1}."
            _set_desired(ctx, group, desired - 1, "a user request")
        else:
            cause += "."
        activity_id = _activity(ctx, group, f"Terminating EC2 instance: {instance_id}", cause, instance_id)
        move(ctx, member, LifecycleState="Terminating", ActivityId=activity_id, Reason="user")
        activity = ctx.runtime.store.get("autoscaling:activity", ctx.account_id, ctx.region, activity_id)
    assert activity is not None
    return {"Activity": activity_view(activity)}


@api.operation("AttachInstances")
def attach_instances(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    from onebox.services.ec2.instances import INSTANCE

    store = ctx.runtime.store
    ids = list(dict.fromkeys(params.get("InstanceIds") or []))
    now = ctx.runtime.clock.time()
    with store.transaction():
        group = group_from(ctx, params)
        desired = int(group.spec["DesiredCapacity"])
        if desired + len(ids) > int(group.spec["MaxSize"]):
            raise validation(
                f"Attaching {len(ids)} instance(s) to {group.id} would exceed the group's max size ({group.spec['MaxSize']})."
            )
        records = []
        for instance_id in ids:
            instance = store.get(INSTANCE, ctx.account_id, ctx.region, instance_id)
            if instance is None or instance.status.get("State") not in ("running", "pending"):
                raise validation(f"Instance {instance_id} is not in correct state")
            if store.get(MEMBER, ctx.account_id, ctx.region, instance_id) is not None:
                raise validation(f"The instance {instance_id} is already part of an Auto Scaling group.")
            if instance.spec.get("AvailabilityZone") not in group.spec["AvailabilityZones"]:
                raise validation(
                    f"Instance {instance_id} is in {instance.spec.get('AvailabilityZone')}, which is not one of the group's Availability Zones."
                )
            records.append(instance)
        if not records:
            return {}
        new_desired = desired + len(records)
        cause_head = desired_cause(now, "a user request AttachInstances", desired, new_desired)
        store.update(
            group,
            spec={
                **group.spec,
                "DesiredCapacity": new_desired,
                "DesiredCause": cause_head,
                "DesiredChangedAt": now,
            },
        )
        for instance in records:
            activity_id = _activity(
                ctx,
                group,
                f"Attaching an existing EC2 instance: {instance.id}",
                f"At {iso(now)} a user request AttachInstances. Attaching instance {instance.id} changing the desired capacity from {desired} to {new_desired}.",
                instance.id,
            )
            store.create(
                MEMBER,
                ctx.account_id,
                ctx.region,
                instance.id,
                arn=instance.arn,
                spec={
                    "Group": group.id,
                    "LifecycleState": "Pending",
                    "HealthStatus": "Healthy",
                    "InstanceType": instance.spec.get("InstanceType"),
                    "AvailabilityZone": instance.spec.get("AvailabilityZone"),
                    "LaunchedAt": now,
                    "ProtectedFromScaleIn": bool(group.spec.get("NewInstancesProtectedFromScaleIn")),
                    "ActivityId": activity_id,
                    "Attached": True,
                },
            )
            store.update(instance, tags={**instance.tags, GROUP_TAG: group.id})
    return {}


@api.operation("DetachInstances")
def detach_instances(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    ids = list(dict.fromkeys(params.get("InstanceIds") or []))
    decrement = bool(params["ShouldDecrementDesiredCapacity"])
    now = ctx.runtime.clock.time()
    activities = []
    with store.transaction():
        group = group_from(ctx, params)
        found = [_member(ctx, i, group.id) for i in ids]
        desired = int(group.spec["DesiredCapacity"])
        if decrement:
            if desired - len(found) < int(group.spec["MinSize"]):
                raise validation(
                    f"The number of instances to detach ({len(found)}) would bring the group below its min size ({group.spec['MinSize']})."
                )
            _set_desired(ctx, group, desired - len(found), "a user request DetachInstances")
        for member in found:
            cause = f"At {iso(now)} instance {member.id} was detached in response to a user request"
            cause += (
                f", shrinking the capacity from {desired} to {desired - len(found)}." if decrement else "."
            )
            activity_id = _activity(ctx, group, f"Detaching EC2 instance: {member.id}", cause, member.id)
            move(ctx, member, LifecycleState="Detaching", ActivityId=activity_id)
            activities.append(activity_id)
        views = [
            activity_view(r)
            for r in store.list("autoscaling:activity", ctx.account_id, ctx.region, ids=activities)
        ]
    return {"Activities": views}


@api.operation("SetInstanceHealth")
def set_instance_health(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    status = params["HealthStatus"]
    if status not in ("Healthy", "Unhealthy"):
        raise validation("Valid instance health states are: [Healthy, Unhealthy].")
    with ctx.runtime.store.transaction():
        member = _member(ctx, params["InstanceId"])
        respect = params.get("ShouldRespectGracePeriod", True)
        move(ctx, member, HealthStatus=status, HealthSetByUser=True, RespectGrace=bool(respect))
    return {}


@api.operation("SetInstanceProtection")
def set_instance_protection(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.runtime.store.transaction():
        group = group_from(ctx, params)
        for instance_id in params.get("InstanceIds") or []:
            member = _member(ctx, instance_id, group.id)
            move(ctx, member, ProtectedFromScaleIn=bool(params["ProtectedFromScaleIn"]))
    return {}


@api.operation("EnterStandby")
def enter_standby(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    ids = list(dict.fromkeys(params.get("InstanceIds") or []))
    decrement = bool(params["ShouldDecrementDesiredCapacity"])
    now = ctx.runtime.clock.time()
    activities = []
    with store.transaction():
        group = group_from(ctx, params)
        found = [_member(ctx, i, group.id) for i in ids]
        for member in found:
            if member.spec.get("LifecycleState") != "InService":
                raise validation(f"The instance {member.id} is not in InService.")
        desired = int(group.spec["DesiredCapacity"])
        if decrement:
            if desired - len(found) < int(group.spec["MinSize"]):
                raise validation(
                    f"Putting {len(found)} instance(s) in Standby would bring the desired capacity below the group's min size ({group.spec['MinSize']})."
                )
            _set_desired(ctx, group, desired - len(found), "a user request EnterStandby")
        for member in found:
            cause = f"At {iso(now)} instance {member.id} was moved to standby in response to a user request"
            cause += (
                f", shrinking the capacity from {desired} to {desired - len(found)}." if decrement else "."
            )
            activity_id = _activity(
                ctx, group, f"Moving EC2 instance to Standby: {member.id}", cause, member.id
            )
            move(ctx, member, LifecycleState="EnteringStandby", ActivityId=activity_id)
            activities.append(activity_id)
        views = [
            activity_view(r)
            for r in store.list("autoscaling:activity", ctx.account_id, ctx.region, ids=activities)
        ]
    return {"Activities": views}


@api.operation("ExitStandby")
def exit_standby(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    ids = list(dict.fromkeys(params.get("InstanceIds") or []))
    now = ctx.runtime.clock.time()
    activities = []
    with store.transaction():
        group = group_from(ctx, params)
        found = [_member(ctx, i, group.id) for i in ids]
        for member in found:
            if member.spec.get("LifecycleState") != "Standby":
                raise validation(f"The instance {member.id} is not in Standby.")
        desired = int(group.spec["DesiredCapacity"])
        if desired + len(found) > int(group.spec["MaxSize"]):
            raise validation(
                f"Moving {len(found)} instance(s) out of Standby would exceed the group's max size ({group.spec['MaxSize']})."
            )
        _set_desired(ctx, group, desired + len(found), "a user request ExitStandby")
        for member in found:
            cause = (
                f"At {iso(now)} instance {member.id} was moved out of standby in response to a user request, "
                f"increasing the capacity from {desired} to {desired + len(found)}."
            )
            activity_id = _activity(
                ctx, group, f"Moving EC2 instance out of Standby: {member.id}", cause, member.id
            )
            move(
                ctx,
                member,
                LifecycleState="Pending",
                ActivityId=activity_id,
                Registered=False,
                InServiceAt=None,
            )
            activities.append(activity_id)
        views = [
            activity_view(r)
            for r in store.list("autoscaling:activity", ctx.account_id, ctx.region, ids=activities)
        ]
    return {"Activities": views}


# -- target groups and traffic sources --------------------------------------------------------------


def _attach(ctx: RequestContext, params: dict[str, Any], arns: list[str]) -> None:
    store = ctx.runtime.store
    check_target_groups(ctx, arns)
    with store.transaction():
        group = group_from(ctx, params)
        current = list(group.spec["TargetGroupARNs"])
        if len(set(current) | set(arns)) > 50:
            raise AwsError(
                "LimitExceeded", "You have reached the limit of 50 target groups per Auto Scaling group."
            )
        detaching = [a for a in group.spec.get("DetachingTargetGroups") or [] if a not in arns]
        store.update(
            group,
            spec={
                **group.spec,
                "TargetGroupARNs": list(dict.fromkeys(current + arns)),
                "DetachingTargetGroups": detaching,
            },
        )


def _detach(ctx: RequestContext, params: dict[str, Any], arns: list[str]) -> None:
    store = ctx.runtime.store
    with store.transaction():
        group = group_from(ctx, params)
        current = list(group.spec["TargetGroupARNs"])
        remaining = [a for a in current if a not in arns]
        detaching = list(
            dict.fromkeys(
                list(group.spec.get("DetachingTargetGroups") or []) + [a for a in current if a in arns]
            )
        )
        store.update(
            group, spec={**group.spec, "TargetGroupARNs": remaining, "DetachingTargetGroups": detaching}
        )


def _traffic_arns(params: dict[str, Any]) -> list[str]:
    arns = []
    for source in params.get("TrafficSources") or []:
        kind = source.get("Type") or "elbv2"
        if kind != "elbv2":
            raise validation(
                f"Traffic source type {kind} is not supported by onebox; use elbv2 target groups."
            )
        arns.append(source["Identifier"])
    return arns


@api.operation("AttachLoadBalancerTargetGroups")
def attach_load_balancer_target_groups(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _attach(ctx, params, list(params.get("TargetGroupARNs") or []))
    return {}


@api.operation("DetachLoadBalancerTargetGroups")
def detach_load_balancer_target_groups(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _detach(ctx, params, list(params.get("TargetGroupARNs") or []))
    return {}


@api.operation("AttachTrafficSources")
def attach_traffic_sources(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _attach(ctx, params, _traffic_arns(params))
    return {}


@api.operation("DetachTrafficSources")
def detach_traffic_sources(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _detach(ctx, params, _traffic_arns(params))
    return {}


def _target_group_state(ctx: RequestContext, group: Record, arn: str) -> str:
    """Adding until every InService instance is registered, then Added, or InService once healthy."""
    if arn in (group.spec.get("DetachingTargetGroups") or []):
        return "Removing"
    states = target_groups.states(ctx.runtime, ctx.account_id, ctx.region, arn)
    in_service = [
        m.id
        for m in ctx.runtime.store.list(MEMBER, ctx.account_id, ctx.region)
        if m.spec.get("Group") == group.id and m.spec.get("LifecycleState") == "InService"
    ]
    if any(i not in states for i in in_service):
        return "Adding"
    if in_service and all(states.get(i) == "healthy" for i in in_service):
        return "InService"
    return "Added"


@api.operation("DescribeLoadBalancerTargetGroups")
def describe_load_balancer_target_groups(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    group = group_from(ctx, params)
    arns = list(group.spec["TargetGroupARNs"]) + list(group.spec.get("DetachingTargetGroups") or [])
    return {
        "LoadBalancerTargetGroups": [
            {"LoadBalancerTargetGroupARN": a, "State": _target_group_state(ctx, group, a)} for a in arns
        ]
    }


@api.operation("DescribeTrafficSources")
def describe_traffic_sources(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    group = group_from(ctx, params)
    wanted = params.get("TrafficSourceType")
    arns = list(group.spec["TargetGroupARNs"]) + list(group.spec.get("DetachingTargetGroups") or [])
    if wanted and wanted != "elbv2":
        arns = []
    return {
        "TrafficSources": [
            {
                "TrafficSource": a,
                "State": _target_group_state(ctx, group, a),
                "Identifier": a,
                "Type": "elbv2",
            }
            for a in arns
        ]
    }
