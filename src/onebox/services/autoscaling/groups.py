"""Create/Update/Delete/DescribeAutoScalingGroups and SetDesiredCapacity: the group's intent.

Handlers validate and record; the group controller (controller.py) launches, registers, replaces and
terminates the instances.
"""

from __future__ import annotations

import re
from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.services.autoscaling import target_groups
from onebox.services.autoscaling.common import (
    GROUP,
    INSTANCE_REFRESH,
    LIFECYCLE_HOOK,
    MAX_GROUPS,
    MEMBER,
    PENDING_STATES,
    TERMINATING_STATES,
    TERMINATION_POLICIES,
    get_group,
    group_arn,
    group_from,
    internal_context,
    iso,
    members,
    new_uuid,
    set_desired,
    validation,
)
from onebox.services.autoscaling.scaling_rules import simple_blocked
from onebox.store import Record

api = ServiceApi("autoscaling")
NAME = re.compile(r"^[^:]{1,255}$")


# -- validation helpers ------------------------------------------------------------------------------


def resolve_launch_template(ctx: RequestContext, spec: dict[str, Any]) -> dict[str, Any]:
    """The group's LaunchTemplate with both id and name; ValidationError as AWS words it."""
    from onebox.services.ec2.launch_templates import template_data_for_launch

    if not spec.get("LaunchTemplateId") and not spec.get("LaunchTemplateName"):
        raise validation(
            "You must use a valid fully-formed launch template. Either LaunchTemplateId or LaunchTemplateName must be specified."
        )
    if spec.get("LaunchTemplateId") and spec.get("LaunchTemplateName"):
        raise validation(
            "You must use a valid fully-formed launch template. Specify either LaunchTemplateId or LaunchTemplateName, not both."
        )
    version = spec.get("Version") or "$Default"
    ec2 = internal_context(ctx.runtime, "ec2", "RunInstances", ctx.account_id, ctx.region)
    try:
        _, info = template_data_for_launch(ec2, {**spec, "Version": version})
    except AwsError as error:
        raise validation(f"You must use a valid fully-formed launch template. {error.message}") from None
    return {
        "LaunchTemplateId": info["LaunchTemplateId"],
        "LaunchTemplateName": info["LaunchTemplateName"],
        "Version": version,
    }


def resolve_placement(
    ctx: RequestContext, zone_identifier: str | None, zones: list[str] | None
) -> tuple[list[str], list[str]]:
    """(subnet ids, availability zones) from VPCZoneIdentifier or AvailabilityZones."""
    from onebox.services.ec2 import vpc_records

    subnets = [s.strip() for s in (zone_identifier or "").split(",") if s.strip()]
    if subnets:
        found: list[str] = []
        vpcs: set[str] = set()
        for subnet_id in subnets:
            try:
                record = vpc_records.get(ctx.runtime.store, "subnet", ctx.account_id, ctx.region, subnet_id)
            except AwsError:
                raise validation(f"The subnet ID '{subnet_id}' does not exist") from None
            found.append(record.spec["AvailabilityZone"])
            vpcs.add(record.spec.get("VpcId", ""))
        if len(vpcs) > 1:
            raise validation("The subnets of VPCZoneIdentifier must all be in the same VPC.")
        return list(dict.fromkeys(subnets)), list(dict.fromkeys(found))
    if zones:
        valid = [f"{ctx.region}{letter}" for letter in "abcdef"]
        for zone in zones:
            if zone not in valid:
                raise validation(f"The availability zone {zone} is not legitimate")
        return [], list(dict.fromkeys(zones))
    raise validation("At least one Availability Zone or VPC Subnet is required.")


def check_sizes(min_size: int, max_size: int, desired: int | None) -> None:
    if min_size < 0 or max_size < 0:
        raise validation("MinSize and MaxSize must be non-negative")
    if min_size > max_size:
        raise validation(f"Max bound, {max_size}, must be greater than or equal to min bound, {min_size}")
    if desired is not None and not min_size <= desired <= max_size:
        raise validation(
            f"Desired capacity:{desired} must be between the specified min size:{min_size} and max size:{max_size}"
        )


def check_termination_policies(policies: list[str]) -> None:
    for policy in policies:
        if policy not in TERMINATION_POLICIES and not policy.startswith("arn:aws:lambda:"):
            raise validation(f"Termination policy {policy} is invalid")


def check_health_type(value: str | None) -> None:
    if value is not None and value not in ("EC2", "ELB", "VPC_LATTICE", "EBS"):
        raise validation(f"Health check type {value} is not valid. Valid values are EC2 and ELB.")


def check_target_groups(ctx: RequestContext, arns: list[str]) -> None:
    for target_group_arn in arns:
        target_groups.check(ctx.runtime, ctx.account_id, ctx.region, target_group_arn)


def group_tags(name: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    tags: dict[str, dict[str, Any]] = {}
    for item in items:
        key = item.get("Key")
        if not key:
            raise validation("Tag key cannot be empty.")
        if key.lower().startswith("aws:"):
            raise validation("Tag keys starting with 'aws:' are reserved for internal use.")
        if len(key) > 128 or len(item.get("Value") or "") > 256:
            raise validation("Tag key must be at most 128 and value at most 256 characters.")
        tags[key] = {
            "Key": key,
            "Value": item.get("Value") or "",
            "PropagateAtLaunch": bool(item.get("PropagateAtLaunch", False)),
        }
    if len(tags) > 50:
        raise AwsError(
            "LimitExceeded", f"The number of tags specified for group {name} exceeds the limit of 50."
        )
    return list(tags.values())


# -- handlers ---------------------------------------------------------------------------------------


@api.operation("CreateAutoScalingGroup")
def create_auto_scaling_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["AutoScalingGroupName"]
    store = ctx.runtime.store
    if not NAME.match(name):
        raise validation(f"AutoScalingGroupName {name} must not contain ':'")
    sources = [
        k
        for k in ("LaunchTemplate", "LaunchConfigurationName", "InstanceId", "MixedInstancesPolicy")
        if params.get(k)
    ]
    if not sources:
        raise validation(
            "Valid requests must contain either LaunchTemplate, LaunchConfigurationName, InstanceId or MixedInstancesPolicy parameter."
        )
    if len(sources) > 1:
        raise validation(
            "Valid requests must contain either LaunchTemplate, LaunchConfigurationName, InstanceId or MixedInstancesPolicy parameter."
        )
    if params.get("InstanceId") or params.get("MixedInstancesPolicy"):
        raise validation("onebox supports groups with a LaunchTemplate or a LaunchConfigurationName.")
    min_size, max_size = int(params["MinSize"]), int(params["MaxSize"])
    desired = params.get("DesiredCapacity")
    check_sizes(min_size, max_size, desired)
    desired = min_size if desired is None else int(desired)
    spec: dict[str, Any] = {}
    if params.get("LaunchTemplate"):
        spec["LaunchTemplate"] = resolve_launch_template(ctx, params["LaunchTemplate"])
    else:
        from onebox.services.autoscaling.launch_configurations import get_launch_configuration

        get_launch_configuration(ctx, params["LaunchConfigurationName"])
        spec["LaunchConfigurationName"] = params["LaunchConfigurationName"]
    subnets, zones = resolve_placement(ctx, params.get("VPCZoneIdentifier"), params.get("AvailabilityZones"))
    check_health_type(params.get("HealthCheckType"))
    policies = list(params.get("TerminationPolicies") or ["Default"])
    check_termination_policies(policies)
    tg_arns = list(dict.fromkeys(params.get("TargetGroupARNs") or []))
    for source in params.get("TrafficSources") or []:
        if source.get("Type", "elbv2") == "elbv2":
            tg_arns.append(source["Identifier"])
    tg_arns = list(dict.fromkeys(tg_arns))
    check_target_groups(ctx, tg_arns)
    if params.get("LoadBalancerNames"):
        raise validation("Classic Load Balancers are not supported by onebox; use TargetGroupARNs.")
    tags = group_tags(name, params.get("Tags") or [])
    now = ctx.runtime.clock.time()
    group_id = new_uuid()
    spec.update(
        {
            "GroupId": group_id,
            "MinSize": min_size,
            "MaxSize": max_size,
            "DesiredCapacity": desired,
            "DefaultCooldown": int(params.get("DefaultCooldown", 300)),
            "Subnets": subnets,
            "AvailabilityZones": zones,
            "TargetGroupARNs": tg_arns,
            "HealthCheckType": params.get("HealthCheckType") or "EC2",
            "HealthCheckGracePeriod": int(params.get("HealthCheckGracePeriod", 0)),
            "DefaultInstanceWarmup": params.get("DefaultInstanceWarmup"),
            "TerminationPolicies": policies,
            "NewInstancesProtectedFromScaleIn": bool(params.get("NewInstancesProtectedFromScaleIn", False)),
            "MaxInstanceLifetime": params.get("MaxInstanceLifetime"),
            "CapacityRebalance": bool(params.get("CapacityRebalance", False)),
            "Tags": tags,
            "SuspendedProcesses": [],
            "EnabledMetrics": [],
            "Notifications": {},
            "CreatedTime": now,
            "DesiredCause": f"At {iso(now)} a user request created an AutoScalingGroup changing the desired capacity from 0 to {desired}.",
            "DesiredChangedAt": now,
        }
    )
    with store.transaction():
        existing = store.get(GROUP, ctx.account_id, ctx.region, name)
        if existing is not None:
            raise AwsError(
                "AlreadyExists",
                f"AutoScalingGroup by this name already exists - A group with the name {name} already exists",
            )
        if store.count(GROUP, ctx.account_id, ctx.region) >= MAX_GROUPS:
            raise AwsError(
                "LimitExceeded", f"You have reached your limit of {MAX_GROUPS} Auto Scaling groups."
            )
        store.create(
            GROUP,
            ctx.account_id,
            ctx.region,
            name,
            arn=group_arn(ctx.region, ctx.account_id, name, group_id),
            spec=spec,
        )
    for hook in params.get("LifecycleHookSpecificationList") or []:
        from onebox.services.autoscaling.lifecycle_hooks import put_lifecycle_hook

        put_lifecycle_hook(ctx, {**hook, "AutoScalingGroupName": name})
    return {}


@api.operation("UpdateAutoScalingGroup")
def update_auto_scaling_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    updates: dict[str, Any] = {}
    if params.get("LaunchTemplate"):
        updates["LaunchTemplate"] = resolve_launch_template(ctx, params["LaunchTemplate"])
        updates["LaunchConfigurationName"] = None
    elif params.get("LaunchConfigurationName"):
        from onebox.services.autoscaling.launch_configurations import get_launch_configuration

        get_launch_configuration(ctx, params["LaunchConfigurationName"])
        updates["LaunchConfigurationName"] = params["LaunchConfigurationName"]
        updates["LaunchTemplate"] = None
    if params.get("VPCZoneIdentifier") or params.get("AvailabilityZones"):
        subnets, zones = resolve_placement(
            ctx, params.get("VPCZoneIdentifier"), params.get("AvailabilityZones")
        )
        updates["Subnets"], updates["AvailabilityZones"] = subnets, zones
    check_health_type(params.get("HealthCheckType"))
    if params.get("TerminationPolicies"):
        check_termination_policies(params["TerminationPolicies"])
        updates["TerminationPolicies"] = list(params["TerminationPolicies"])
    for field in (
        "DefaultCooldown",
        "HealthCheckType",
        "HealthCheckGracePeriod",
        "DefaultInstanceWarmup",
        "NewInstancesProtectedFromScaleIn",
        "MaxInstanceLifetime",
        "CapacityRebalance",
    ):
        if params.get(field) is not None:
            updates[field] = params[field]
    with store.transaction():
        group = group_from(ctx, params)
        spec = {
            k: v
            for k, v in {**group.spec, **updates}.items()
            if v is not None or k == "DefaultInstanceWarmup"
        }
        min_size = int(params.get("MinSize", spec["MinSize"]))
        max_size = int(params.get("MaxSize", spec["MaxSize"]))
        desired = params.get("DesiredCapacity")
        check_sizes(min_size, max_size, desired)
        old_desired = int(spec["DesiredCapacity"])
        new_desired = int(desired) if desired is not None else min(max(old_desired, min_size), max_size)
        spec["MinSize"], spec["MaxSize"] = min_size, max_size
        cause = f"a user request update of AutoScalingGroup constraints to min: {min_size}, max: {max_size}, desired: {new_desired}"
        set_desired(ctx.runtime, group, new_desired, cause, spec=spec)
    return {}


@api.operation("DeleteAutoScalingGroup")
def delete_auto_scaling_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    force = bool(params.get("ForceDelete"))
    with store.transaction():
        group = group_from(ctx, params)
        current = members(ctx.runtime, ctx.account_id, ctx.region, group.id)
        busy = [m for m in current if m.spec.get("LifecycleState") in PENDING_STATES + TERMINATING_STATES]
        if current and not force:
            if busy:
                raise AwsError(
                    "ScalingActivityInProgress",
                    "You cannot delete an AutoScalingGroup while there are scaling activities in progress for that group.",
                )
            raise AwsError(
                "ResourceInUse",
                "You cannot delete an AutoScalingGroup while there are instances or pending Spot instance request(s) still in the group.",
            )
        from onebox.services.autoscaling.policies import delete_group_policies
        from onebox.services.autoscaling.scheduled_actions import delete_group_actions

        delete_group_policies(ctx, group.id)
        delete_group_actions(ctx, group.id)
        if current:  # the controller terminates them, then removes the group
            store.update(group, spec={**group.spec, "Deleting": True, "DesiredCapacity": 0, "MinSize": 0})
            return {}
        for kind in (LIFECYCLE_HOOK, INSTANCE_REFRESH):
            for record in store.list(kind, ctx.account_id, ctx.region):
                if record.spec.get("Group") == group.id:
                    store.delete_by_id(kind, ctx.account_id, ctx.region, record.id)
        store.delete(group)
    return {}


def instance_view(member: Record, *, with_group: bool = False) -> dict[str, Any]:
    spec = member.spec
    view: dict[str, Any] = {
        "InstanceId": member.id,
        "InstanceType": spec.get("InstanceType", ""),
        "AvailabilityZone": spec.get("AvailabilityZone", ""),
        "LifecycleState": spec.get("LifecycleState", "Pending"),
        "HealthStatus": spec.get("HealthStatus", "Healthy"),
        "ProtectedFromScaleIn": bool(spec.get("ProtectedFromScaleIn", False)),
    }
    if with_group:
        view["AutoScalingGroupName"] = spec["Group"]
    if spec.get("LaunchTemplate"):
        view["LaunchTemplate"] = spec["LaunchTemplate"]
    if spec.get("LaunchConfigurationName"):
        view["LaunchConfigurationName"] = spec["LaunchConfigurationName"]
    return view


def group_view(ctx: RequestContext, group: Record, instances: list[Record]) -> dict[str, Any]:
    spec = group.spec
    view: dict[str, Any] = {
        "AutoScalingGroupName": group.id,
        "AutoScalingGroupARN": group.arn,
        "MinSize": spec["MinSize"],
        "MaxSize": spec["MaxSize"],
        "DesiredCapacity": spec["DesiredCapacity"],
        "DefaultCooldown": spec["DefaultCooldown"],
        "AvailabilityZones": spec["AvailabilityZones"],
        "LoadBalancerNames": [],
        "TargetGroupARNs": spec["TargetGroupARNs"],
        "HealthCheckType": spec["HealthCheckType"],
        "HealthCheckGracePeriod": spec["HealthCheckGracePeriod"],
        "Instances": [instance_view(m) for m in instances],
        "CreatedTime": spec["CreatedTime"],
        "SuspendedProcesses": [
            {"ProcessName": p, "SuspensionReason": "User suspended at " + iso(t)}
            for p, t in spec.get("SuspendedProcesses") or []
        ],
        "VPCZoneIdentifier": ",".join(spec["Subnets"]),
        "EnabledMetrics": [{"Metric": m, "Granularity": "1Minute"} for m in spec.get("EnabledMetrics") or []],
        "Tags": [
            {"ResourceId": group.id, "ResourceType": "auto-scaling-group", **tag}
            for tag in spec.get("Tags") or []
        ],
        "TerminationPolicies": spec["TerminationPolicies"],
        "NewInstancesProtectedFromScaleIn": spec["NewInstancesProtectedFromScaleIn"],
        "ServiceLinkedRoleARN": f"arn:aws:iam::{group.account}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling",
        "CapacityRebalance": spec.get("CapacityRebalance", False),
        "TrafficSources": [{"Identifier": arn, "Type": "elbv2"} for arn in spec["TargetGroupARNs"]],
    }
    if spec.get("LaunchTemplate"):
        view["LaunchTemplate"] = spec["LaunchTemplate"]
    if spec.get("LaunchConfigurationName"):
        view["LaunchConfigurationName"] = spec["LaunchConfigurationName"]
    if spec.get("DefaultInstanceWarmup") is not None:
        view["DefaultInstanceWarmup"] = spec["DefaultInstanceWarmup"]
    if spec.get("MaxInstanceLifetime"):
        view["MaxInstanceLifetime"] = spec["MaxInstanceLifetime"]
    if spec.get("Deleting"):
        view["Status"] = "Delete in progress"
    return view


def _filter_match(group: Record, filters: list[dict[str, Any]]) -> bool:
    tags = {t["Key"]: t["Value"] for t in group.spec.get("Tags") or []}
    for item in filters:
        name, values = item.get("Name", ""), item.get("Values") or []
        if name == "tag-key":
            ok = any(k in values for k in tags)
        elif name == "tag-value":
            ok = any(v in values for v in tags.values())
        elif name.startswith("tag:"):
            ok = tags.get(name[4:]) in values
        else:
            raise validation(
                f"Filter type {name} is not correct. Allowed Filter types are: tag-key, tag-value, tag:<key>"
            )
        if not ok:
            return False
    return True


@api.operation("DescribeAutoScalingGroups")
def describe_auto_scaling_groups(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    names = params.get("AutoScalingGroupNames") or None
    max_records = params.get("MaxRecords") or 50
    if not 1 <= max_records <= 100:
        raise validation("MaxRecords must be between 1 and 100")
    groups = store.list(GROUP, ctx.account_id, ctx.region)
    if names:
        groups = [g for g in groups if g.id in names]
    groups = [g for g in groups if _filter_match(g, params.get("Filters") or [])]
    page, token = store.paginator.paginate(
        groups, max_records, params.get("NextToken"), key=lambda r: r.seq, scope="DescribeAutoScalingGroups"
    )
    all_members = store.list(MEMBER, ctx.account_id, ctx.region)
    by_group: dict[str, list[Record]] = {}
    for member in all_members:
        by_group.setdefault(member.spec.get("Group", ""), []).append(member)
    result: dict[str, Any] = {"AutoScalingGroups": [group_view(ctx, g, by_group.get(g.id, [])) for g in page]}
    if token:
        result["NextToken"] = token
    return result


@api.operation("DescribeAutoScalingInstances")
def describe_auto_scaling_instances(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    ids = params.get("InstanceIds") or None
    records = store.list(MEMBER, ctx.account_id, ctx.region)
    if ids:
        records = [r for r in records if r.id in ids]
    max_records = params.get("MaxRecords") or 50
    page, token = store.paginator.paginate(
        records,
        max_records,
        params.get("NextToken"),
        key=lambda r: r.seq,
        scope="DescribeAutoScalingInstances",
    )
    result: dict[str, Any] = {"AutoScalingInstances": [instance_view(r, with_group=True) for r in page]}
    if token:
        result["NextToken"] = token
    return result


def group_busy(ctx: RequestContext, group: Record) -> bool:
    return any(
        m.spec.get("LifecycleState") in PENDING_STATES + TERMINATING_STATES
        for m in members(ctx.runtime, ctx.account_id, ctx.region, group.id)
    )


@api.operation("SetDesiredCapacity")
def set_desired_capacity(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    desired = int(params["DesiredCapacity"])
    with store.transaction():
        group = group_from(ctx, params)
        if desired > group.spec["MaxSize"]:
            raise validation(
                f"New SetDesiredCapacity value {desired} is above max value {group.spec['MaxSize']} for the AutoScalingGroup."
            )
        if desired < group.spec["MinSize"]:
            raise validation(
                f"New SetDesiredCapacity value {desired} is below min value {group.spec['MinSize']} for the AutoScalingGroup."
            )
        if params.get("HonorCooldown") and simple_blocked(
            now=ctx.runtime.clock.time(),
            busy=group_busy(ctx, group),
            last_activity_end=group.status.get("LastActivityEnd"),
            cooldown=group.spec["DefaultCooldown"],
        ):
            raise AwsError(
                "ScalingActivityInProgress",
                "Scaling activity in progress or cooldown in effect; SetDesiredCapacity with HonorCooldown was refused.",
            )
        set_desired(ctx.runtime, group, desired, "a user request explicitly set group desired capacity")
    return {}


def get_group_for(ctx: RequestContext, name: str) -> Record:
    return get_group(ctx.runtime, ctx.account_id, ctx.region, name)
