"""Scaling policies: Put/Describe/Delete/ExecutePolicy, and what runs when a CloudWatch alarm invokes one.

Simple, step and target-tracking policies change the group's desired capacity; the group controller
does the launching and terminating. Target tracking owns two alarms, created and deleted here, named
as AWS names them. The arithmetic lives in scaling_rules.py.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.services.autoscaling import scaling_rules as rules
from onebox.services.autoscaling.common import (
    GROUP,
    MAX_POLICIES_PER_GROUP,
    PENDING_STATES,
    POLICY,
    TERMINATING_STATES,
    get_group,
    group_from,
    internal_context,
    members,
    new_uuid,
    policy_arn,
    set_desired,
    validation,
)
from onebox.store import Record

if TYPE_CHECKING:
    from onebox.runtime import Runtime
    from onebox.services.cloudwatch.actions import AlarmAction

log = logging.getLogger(__name__)
api = ServiceApi("autoscaling")
POLICY_TYPES = ("SimpleScaling", "StepScaling", "TargetTrackingScaling", "PredictiveScaling")
PREDEFINED = {
    "ASGAverageCPUUtilization": ("AWS/EC2", "CPUUtilization", "Average"),
    "ASGAverageNetworkIn": ("AWS/EC2", "NetworkIn", "Average"),
    "ASGAverageNetworkOut": ("AWS/EC2", "NetworkOut", "Average"),
    "ALBRequestCountPerTarget": ("AWS/ApplicationELB", "RequestCountPerTarget", "Sum"),
}
# The datapoints AWS's target-tracking alarms need: 3 of 3 to scale out, 15 of 15 to scale in. The
# count is the same at a high-resolution period (CustomizedMetricSpecification.Period 10 or 30): the
# alarms then evaluate 10 s or 30 s datapoints, so 30 s / 150 s at 10 s instead of 3 / 15 minutes.
HIGH_PERIODS, LOW_PERIODS = 3, 15
TRACKING_PERIODS = (10, 30, 60)  # TargetTrackingMetricStat / CustomizedMetricSpecification Period
LEDGER_SLACK = 60.0  # launch time allowed on top of the warm-up before a scale-out stops counting


# -- validation ---------------------------------------------------------------------------------------


def _check_policy(params: dict[str, Any]) -> dict[str, Any]:
    kind = params.get("PolicyType") or "SimpleScaling"
    if kind not in POLICY_TYPES:
        raise validation(f"Invalid policy type: {kind}")
    if kind == "PredictiveScaling":
        raise validation("onebox does not run PredictiveScaling policies.")
    adjustment_type = params.get("AdjustmentType")
    spec: dict[str, Any] = {"PolicyType": kind, "Enabled": params.get("Enabled", True)}
    if kind in ("SimpleScaling", "StepScaling"):
        if not adjustment_type:
            raise validation(f"AdjustmentType is required for policy type {kind}.")
        if adjustment_type not in rules.ADJUSTMENT_TYPES:
            raise validation(f"Invalid adjustment type: {adjustment_type}")
        spec["AdjustmentType"] = adjustment_type
        magnitude = params.get("MinAdjustmentMagnitude")
        if magnitude is not None:
            if adjustment_type != "PercentChangeInCapacity":
                raise validation("MinAdjustmentMagnitude may only be used with PercentChangeInCapacity.")
            if magnitude < 1:
                raise validation("MinAdjustmentMagnitude must be at least 1.")
            spec["MinAdjustmentMagnitude"] = int(magnitude)
    if kind != "SimpleScaling" and params.get("Cooldown") is not None:
        raise validation(f"Cooldown is only supported for policy type SimpleScaling, got {kind}.")
    if kind != "StepScaling" and params.get("MetricAggregationType") is not None:
        raise validation(f"MetricAggregationType is only supported for policy type StepScaling, got {kind}.")
    if kind == "SimpleScaling" and params.get("EstimatedInstanceWarmup") is not None:
        raise validation("EstimatedInstanceWarmup is not supported for policy type SimpleScaling.")
    if kind == "SimpleScaling":
        if params.get("ScalingAdjustment") is None:
            raise validation("ScalingAdjustment is required for policy type SimpleScaling.")
        if params.get("StepAdjustments"):
            raise validation("StepAdjustments are not supported for policy type SimpleScaling.")
        spec["ScalingAdjustment"] = int(params["ScalingAdjustment"])
        if adjustment_type == "ExactCapacity" and spec["ScalingAdjustment"] < 0:
            raise validation("ScalingAdjustment cannot be negative when AdjustmentType is ExactCapacity.")
        if params.get("Cooldown") is not None:
            spec["Cooldown"] = int(params["Cooldown"])
    elif kind == "StepScaling":
        if params.get("ScalingAdjustment") is not None:
            raise validation("ScalingAdjustment is not supported for policy type StepScaling.")
        steps = rules.steps_from_api(params.get("StepAdjustments") or [])
        rules.validate_steps(steps)
        if adjustment_type == "ExactCapacity" and any(s.adjustment < 0 for s in steps):
            raise validation("ScalingAdjustment cannot be negative when AdjustmentType is ExactCapacity.")
        spec["StepAdjustments"] = [
            {
                k: v
                for k, v in {
                    "MetricIntervalLowerBound": s.lower,
                    "MetricIntervalUpperBound": s.upper,
                    "ScalingAdjustment": s.adjustment,
                }.items()
                if v is not None
            }
            for s in steps
        ]
        aggregation = params.get("MetricAggregationType") or "Average"
        if aggregation not in rules.AGGREGATION_TYPES:
            raise validation(f"Invalid metric aggregation type: {aggregation}")
        spec["MetricAggregationType"] = aggregation
    else:
        config = params.get("TargetTrackingConfiguration")
        if not config:
            raise validation("TargetTrackingConfiguration is required for policy type TargetTrackingScaling.")
        if adjustment_type or params.get("ScalingAdjustment") is not None or params.get("StepAdjustments"):
            raise validation(
                "AdjustmentType, ScalingAdjustment and StepAdjustments are not supported for TargetTrackingScaling."
            )
        predefined = config.get("PredefinedMetricSpecification")
        custom = config.get("CustomizedMetricSpecification")
        if bool(predefined) == bool(custom):
            raise validation(
                "Exactly one of PredefinedMetricSpecification and CustomizedMetricSpecification is required."
            )
        if predefined:
            metric_type = predefined.get("PredefinedMetricType")
            if metric_type not in PREDEFINED:
                raise validation(f"Invalid predefined metric type: {metric_type}")
            if metric_type == "ALBRequestCountPerTarget" and not predefined.get("ResourceLabel"):
                raise validation(
                    "ResourceLabel is required for the predefined metric type ALBRequestCountPerTarget."
                )
        if (
            custom
            and not custom.get("Metrics")
            and not (custom.get("MetricName") and custom.get("Namespace") and custom.get("Statistic"))
        ):
            raise validation("CustomizedMetricSpecification needs MetricName, Namespace and Statistic.")
        if custom:
            periods = [custom.get("Period")] + [
                (query.get("MetricStat") or {}).get("Period") for query in custom.get("Metrics") or []
            ]
            for period in periods:
                if period is not None and int(period) not in TRACKING_PERIODS:
                    raise validation(
                        f"Invalid metric period {period}: the accepted values are 10, 30 and 60 seconds."
                    )
        if config.get("TargetValue") is None or float(config["TargetValue"]) <= 0:
            raise validation("TargetValue must be greater than 0.")
        spec["TargetTrackingConfiguration"] = {
            **config,
            "TargetValue": float(config["TargetValue"]),
            "DisableScaleIn": bool(config.get("DisableScaleIn", False)),
        }
    if params.get("EstimatedInstanceWarmup") is not None:
        spec["EstimatedInstanceWarmup"] = int(params["EstimatedInstanceWarmup"])
    return spec


# -- target-tracking alarms ---------------------------------------------------------------------------


def _tracking_metric(group: Record, config: dict[str, Any]) -> dict[str, Any]:
    predefined = config.get("PredefinedMetricSpecification")
    if predefined:
        namespace, name, statistic = PREDEFINED[predefined["PredefinedMetricType"]]
        if predefined["PredefinedMetricType"] == "ALBRequestCountPerTarget":
            # ResourceLabel: app/<lb-name>/<lb-id>/targetgroup/<tg-name>/<tg-id>
            label = predefined["ResourceLabel"]
            target_group = label[label.find("targetgroup/") :] if "targetgroup/" in label else label
            dimensions = [{"Name": "TargetGroup", "Value": target_group}]
        else:
            dimensions = [{"Name": "AutoScalingGroupName", "Value": group.id}]
        return {
            "Namespace": namespace,
            "MetricName": name,
            "Statistic": statistic,
            "Dimensions": dimensions,
            "Period": 60,
        }
    custom = config["CustomizedMetricSpecification"]
    if custom.get("Metrics"):
        return {"Metrics": custom["Metrics"], "Period": int(custom.get("Period") or 60)}
    metric = {
        "Namespace": custom["Namespace"],
        "MetricName": custom["MetricName"],
        "Statistic": custom["Statistic"],
        "Dimensions": custom.get("Dimensions") or [],
        "Period": int(custom.get("Period") or 60),
    }
    if custom.get("Unit"):
        metric["Unit"] = custom["Unit"]
    return metric


def _put_tracking_alarms(
    runtime: Runtime, group: Record, arn: str, spec: dict[str, Any], names: list[str] | None
) -> list[str]:
    from onebox.services.cloudwatch.alarms_api import put_metric_alarm

    config = spec["TargetTrackingConfiguration"]
    target = float(config["TargetValue"])
    metric = _tracking_metric(group, config)
    suffix = new_uuid()
    high, low = names or [
        f"TargetTracking-{group.id}-AlarmHigh-{suffix}",
        f"TargetTracking-{group.id}-AlarmLow-{suffix}",
    ]
    ctx = internal_context(runtime, "cloudwatch", "PutMetricAlarm", group.account, group.region)
    description = f"DO NOT EDIT OR DELETE. For TargetTrackingScaling policy {arn}."
    base: dict[str, Any] = {**metric, "AlarmActions": [arn], "AlarmDescription": description}
    if "Metrics" in base:
        period = base.pop("Period")
        base["Metrics"] = [
            {**q, "MetricStat": {**q["MetricStat"], "Period": q["MetricStat"].get("Period") or period}}
            if q.get("MetricStat")
            else q
            for q in base["Metrics"]
        ]
    put_metric_alarm(
        ctx,
        {
            **base,
            "AlarmName": high,
            "EvaluationPeriods": HIGH_PERIODS,
            "DatapointsToAlarm": HIGH_PERIODS,
            "Threshold": target,
            "ComparisonOperator": "GreaterThanThreshold",
        },
    )
    if not config.get("DisableScaleIn"):
        put_metric_alarm(
            ctx,
            {
                **base,
                "AlarmName": low,
                "EvaluationPeriods": LOW_PERIODS,
                "DatapointsToAlarm": LOW_PERIODS,
                "Threshold": rules.low_alarm_threshold(target),
                "ComparisonOperator": "LessThanThreshold",
            },
        )
        return [high, low]
    _delete_alarms(runtime, group.account, group.region, [low])
    return [high]


def _delete_alarms(runtime: Runtime, account: str, region: str, names: list[str]) -> None:
    from onebox.services.cloudwatch.alarm_model import ALARM_KIND

    for name in names:
        runtime.store.delete_by_id(ALARM_KIND, account, region, name)


def _policy_alarms(runtime: Runtime, record: Record) -> list[dict[str, str]]:
    from onebox.services.cloudwatch.alarm_model import ALARM_KIND

    found = []
    for alarm in runtime.store.list(ALARM_KIND, record.account, record.region):
        actions = (
            list(alarm.spec.get("AlarmActions") or [])
            + list(alarm.spec.get("OKActions") or [])
            + list(alarm.spec.get("InsufficientDataActions") or [])
        )
        if record.arn in actions:
            found.append({"AlarmName": alarm.id, "AlarmARN": alarm.arn})
    return found


# -- handlers -----------------------------------------------------------------------------------------


def _find_policy(runtime: Runtime, account: str, region: str, group: str, name: str) -> Record | None:
    for record in runtime.store.list(POLICY, account, region):
        if record.spec["Group"] == group and record.spec["PolicyName"] == name:
            return record
    return None


@api.operation("PutScalingPolicy")
def put_scaling_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    spec = _check_policy(params)
    store = ctx.runtime.store
    name = params["PolicyName"]
    with store.transaction():
        group = group_from(ctx, params)
        existing = _find_policy(ctx.runtime, ctx.account_id, ctx.region, group.id, name)
        spec.update({"Group": group.id, "PolicyName": name})
        if existing is None:
            count = sum(
                1 for r in store.list(POLICY, ctx.account_id, ctx.region) if r.spec["Group"] == group.id
            )
            if count >= MAX_POLICIES_PER_GROUP:
                raise AwsError(
                    "LimitExceeded",
                    f"You have reached the limit of {MAX_POLICIES_PER_GROUP} scaling policies for group {group.id}.",
                )
            policy_id = new_uuid()
            arn = policy_arn(ctx.region, ctx.account_id, policy_id, group.id, name)
            owned: list[str] | None = None
        else:
            policy_id, arn = existing.id, existing.arn
            owned = existing.spec.get("OwnedAlarms") or None
            if owned and spec["PolicyType"] != "TargetTrackingScaling":
                _delete_alarms(ctx.runtime, ctx.account_id, ctx.region, owned)
                owned = None
        if spec["PolicyType"] == "TargetTrackingScaling":
            if owned and len(owned) == 1:
                owned = [owned[0], owned[0].replace("-AlarmHigh-", "-AlarmLow-")]
            spec["OwnedAlarms"] = _put_tracking_alarms(ctx.runtime, group, arn, spec, owned)
        if existing is None:
            store.create(POLICY, ctx.account_id, ctx.region, policy_id, arn=arn, spec=spec)
        else:
            store.update(existing, spec=spec)
        alarms = [
            {"AlarmName": a, "AlarmARN": f"arn:aws:cloudwatch:{ctx.region}:{ctx.account_id}:alarm:{a}"}
            for a in spec.get("OwnedAlarms") or []
        ]
    result: dict[str, Any] = {"PolicyARN": arn}
    if spec["PolicyType"] == "TargetTrackingScaling":
        result["Alarms"] = alarms
    return result


def policy_view(runtime: Runtime, record: Record) -> dict[str, Any]:
    spec = record.spec
    view: dict[str, Any] = {
        "AutoScalingGroupName": spec["Group"],
        "PolicyName": spec["PolicyName"],
        "PolicyARN": record.arn,
        "PolicyType": spec["PolicyType"],
        "StepAdjustments": spec.get("StepAdjustments", []),
        "Alarms": _policy_alarms(runtime, record),
        "Enabled": spec.get("Enabled", True),
    }
    for field in (
        "AdjustmentType",
        "ScalingAdjustment",
        "Cooldown",
        "MinAdjustmentMagnitude",
        "MetricAggregationType",
        "EstimatedInstanceWarmup",
        "TargetTrackingConfiguration",
    ):
        if spec.get(field) is not None:
            view[field] = spec[field]
    if spec.get("MinAdjustmentMagnitude") is not None:
        view["MinAdjustmentStep"] = spec["MinAdjustmentMagnitude"]
    return view


@api.operation("DescribePolicies")
def describe_policies(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    group = params.get("AutoScalingGroupName")
    if group:
        get_group(ctx.runtime, ctx.account_id, ctx.region, group)
    names = params.get("PolicyNames") or None
    types = params.get("PolicyTypes") or None
    records = [
        r
        for r in store.list(POLICY, ctx.account_id, ctx.region)
        if (not group or r.spec["Group"] == group)
        and (not names or r.spec["PolicyName"] in names or r.arn in names)
        and (not types or r.spec["PolicyType"] in types)
    ]
    page, token = store.paginator.paginate(
        records,
        params.get("MaxRecords") or 50,
        params.get("NextToken"),
        key=lambda r: r.seq,
        scope="DescribePolicies",
    )
    result: dict[str, Any] = {"ScalingPolicies": [policy_view(ctx.runtime, r) for r in page]}
    if token:
        result["NextToken"] = token
    return result


def _policy_from(ctx: RequestContext, params: dict[str, Any]) -> Record:
    name = params["PolicyName"]
    if name.startswith("arn:"):
        for record in ctx.runtime.store.list(POLICY, ctx.account_id, ctx.region):
            if record.arn == name:
                return record
        raise validation(f"No scaling policy found for service namespace and policy ARN {name}")
    group = group_from(ctx, params)
    record = _find_policy(ctx.runtime, ctx.account_id, ctx.region, group.id, name)
    if record is None:
        raise validation(f"Policy {name} does not exist for AutoScalingGroup {group.id}")
    return record


@api.operation("DeletePolicy")
def delete_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.runtime.store.transaction():
        record = _policy_from(ctx, params)
        _delete_alarms(ctx.runtime, ctx.account_id, ctx.region, record.spec.get("OwnedAlarms") or [])
        ctx.runtime.store.delete(record)
    return {}


def delete_group_policies(ctx: RequestContext, group: str) -> None:
    for record in ctx.runtime.store.list(POLICY, ctx.account_id, ctx.region):
        if record.spec["Group"] == group:
            _delete_alarms(ctx.runtime, ctx.account_id, ctx.region, record.spec.get("OwnedAlarms") or [])
            ctx.runtime.store.delete(record)


@api.operation("ExecutePolicy")
def execute_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    record = _policy_from(ctx, params)
    kind = record.spec["PolicyType"]
    if kind == "TargetTrackingScaling":
        raise validation("ExecutePolicy is not supported for a target tracking scaling policy.")
    value = threshold = None
    if kind == "StepScaling":
        if params.get("MetricValue") is None or params.get("BreachThreshold") is None:
            raise validation("Both MetricValue and BreachThreshold are required for StepScaling policies.")
        value, threshold = float(params["MetricValue"]), float(params["BreachThreshold"])
    elif params.get("MetricValue") is not None or params.get("BreachThreshold") is not None:
        raise validation("MetricValue and BreachThreshold are only supported for StepScaling policies.")
    ran = run_policy(
        ctx.runtime,
        record,
        value=value,
        threshold=threshold,
        trigger=f"a user request executed policy {record.spec['PolicyName']}",
        honor_cooldown=bool(params.get("HonorCooldown", False)),
    )
    if ran == "cooldown":
        raise AwsError(
            "ScalingActivityInProgress",
            "Scaling activity in progress or cooldown in effect, preventing this action.",
        )
    return {}


# -- running a policy ---------------------------------------------------------------------------------


def warming_count(runtime: Runtime, group: Record, warmup: int, now: float) -> int:
    count = 0
    for member in members(runtime, group.account, group.region, group.id):
        state = member.spec.get("LifecycleState")
        if state in PENDING_STATES or state == "InService":
            if rules.is_warming(
                member.spec.get("InServiceAt"), member.spec.get("LaunchedAt", 0.0), warmup, now
            ):
                count += 1
    return count


def _busy(runtime: Runtime, group: Record) -> bool:
    return any(
        m.spec.get("LifecycleState") in PENDING_STATES + TERMINATING_STATES
        for m in members(runtime, group.account, group.region, group.id)
    )


def run_policy(
    runtime: Runtime,
    policy: Record,
    *,
    value: float | None,
    threshold: float | None,
    trigger: str,
    honor_cooldown: bool = True,
    alarm_state: str = "ALARM",
    scale_out_only: bool = False,
    scale_in_only: bool = False,
) -> str:
    """Apply one policy execution; returns what happened ("scaled", "cooldown", "no-change", ...)."""
    store = runtime.store
    now = runtime.clock.time()
    spec = policy.spec
    if not spec.get("Enabled", True):
        return "disabled"
    with store.transaction():
        group = store.get(GROUP, policy.account, policy.region, spec["Group"])
        if group is None or group.spec.get("Deleting"):
            return "no-group"
        desired = int(group.spec["DesiredCapacity"])
        min_size, max_size = int(group.spec["MinSize"]), int(group.spec["MaxSize"])
        warmup = rules.warmup_seconds(
            spec.get("EstimatedInstanceWarmup"),
            group.spec.get("DefaultInstanceWarmup"),
            int(group.spec["DefaultCooldown"]),
        )
        kind = spec["PolicyType"]
        if kind == "SimpleScaling":
            if honor_cooldown and rules.simple_blocked(
                now=now,
                busy=_busy(runtime, group),
                last_activity_end=group.status.get("LastActivityEnd"),
                cooldown=int(spec.get("Cooldown", group.spec["DefaultCooldown"])),
            ):
                return "cooldown"
            target = rules.clamp(
                rules.new_capacity(
                    desired,
                    spec["AdjustmentType"],
                    int(spec["ScalingAdjustment"]),
                    min_adjustment_magnitude=spec.get("MinAdjustmentMagnitude"),
                ),
                min_size,
                max_size,
            )
            new = target if target != desired else None
        elif kind == "StepScaling":
            if value is None or threshold is None:
                return "no-data"
            step = rules.matching_step(rules.steps_from_api(spec["StepAdjustments"]), value, threshold)
            if step is None:
                return "no-step"
            decision = rules.step_decision(
                desired=desired,
                warming=_warming_adjustment(runtime, group, warmup, now),
                warming_instances=warming_count(runtime, group, warmup, now),
                min_size=min_size,
                max_size=max_size,
                adjustment_type=spec["AdjustmentType"],
                adjustment=step.adjustment,
                min_adjustment_magnitude=spec.get("MinAdjustmentMagnitude"),
            )
            new = decision.desired
        else:
            if value is None:
                return "no-data"
            config = spec["TargetTrackingConfiguration"]
            warming = warming_count(runtime, group, warmup, now)
            target_value = float(config["TargetValue"])
            if scale_out_only or (not scale_in_only and value > target_value):
                base = max(desired - _warming_adjustment(runtime, group, warmup, now), 0)
                proposed = rules.clamp(
                    rules.target_tracking_capacity(max(base, 1), value, target_value), min_size, max_size
                )
                new = proposed if proposed > desired else None
            else:
                if config.get("DisableScaleIn") or warming:
                    return "scale-in-blocked"
                proposed = rules.clamp(
                    rules.target_tracking_capacity(desired, value, target_value), min_size, max_size
                )
                new = proposed if proposed < desired else None
        if new is None or new == desired:
            return "no-change"
        spec_changes = dict(group.spec)
        if kind != "SimpleScaling" and new > desired:
            # What this scale-out adds warms up; later breaches count it as capacity already on its way.
            ledger = [item for item in group.spec.get("ScaleOutLedger") or [] if item[1] > now]
            ledger.append([new - desired, now + warmup + LEDGER_SLACK])
            spec_changes["ScaleOutLedger"] = ledger
        set_desired(runtime, group, new, trigger, spec=spec_changes)
    return "scaled"


def _warming_adjustment(runtime: Runtime, group: Record, warmup: int, now: float) -> int:
    """Capacity added by earlier step/target-tracking scale-outs that is still warming up: the
    ledger's open entries, never more than the instances actually warming."""
    pending = sum(int(amount) for amount, until in group.spec.get("ScaleOutLedger") or [] if until > now)
    return min(pending, warming_count(runtime, group, warmup, now))


def recent_values(
    runtime: Runtime, account: str, region: str, alarm_name: str, alarm: dict[str, Any]
) -> list[float]:
    """The alarm's most recent datapoints (its evaluation range), newest last."""
    try:
        from onebox.services.cloudwatch.alarm_model import ALARM_KIND
        from onebox.services.cloudwatch.evaluator import metric_points

        record = runtime.store.get(ALARM_KIND, account, region, alarm_name)
        if record is not None and (record.spec.get("MetricName") or record.spec.get("Metrics")):
            points, _ = metric_points(runtime, record, runtime.clock.time())
            values = [v for _, v in points if v is not None]
            return values[-int(record.spec.get("EvaluationPeriods") or 1) :]
    except Exception:  # fall back to what the alarm reported
        log.debug("autoscaling: reading alarm %s datapoints failed", alarm_name, exc_info=True)
    import json

    try:
        data = json.loads(alarm.get("StateReasonData") or "{}")
        return [float(v) for v in data.get("recentDatapoints") or []]
    except (ValueError, TypeError):
        return []


def handle_alarm(runtime: Runtime, action: AlarmAction) -> None:
    """CloudWatch's alarm action handler for `arn:aws:autoscaling:...:scalingPolicy:...`."""
    policy = None
    for record in runtime.store.list(POLICY, action.account, action.region):
        if record.arn == action.arn:
            policy = record
            break
    if policy is None:
        raise AwsError("ValidationError", f"No scaling policy found for ARN {action.arn}")
    group = runtime.store.get(GROUP, action.account, action.region, policy.spec["Group"])
    if group is None:
        return
    if any(p == "AlarmNotification" for p, _ in group.spec.get("SuspendedProcesses") or []):
        return
    values = recent_values(runtime, action.account, action.region, action.alarm_name, action.alarm)
    aggregation = policy.spec.get("MetricAggregationType")
    if policy.spec["PolicyType"] == "TargetTrackingScaling":
        aggregation = "Average"
        values = values[-1:]
    value = rules.aggregate(values, aggregation)
    threshold = action.alarm.get("Threshold")
    owned = policy.spec.get("OwnedAlarms") or []
    run_policy(
        runtime,
        policy,
        value=value,
        threshold=float(threshold) if threshold is not None else None,
        trigger=(
            f"a monitor alarm {action.alarm_name} in state {action.new_state} triggered policy "
            f"{policy.spec['PolicyName']}"
        ),
        scale_out_only=bool(owned) and action.alarm_name == owned[0],
        scale_in_only=bool(owned) and len(owned) > 1 and action.alarm_name == owned[1],
    )


def register() -> None:
    from onebox.services.cloudwatch.actions import register_action_handler

    register_action_handler("autoscaling", handle_alarm)
