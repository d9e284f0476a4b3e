"""EC2 Auto Scaling's arithmetic, as pure functions: step selection relative to the alarm threshold,
adjustment types and their rounding, warm-up, cooldown and target-tracking capacity.

Nothing here reads the store or the clock: callers pass `now` and the group's figures, so unit tests
drive every rule with a ManualClock. The rules follow the EC2 Auto Scaling user guide (step and simple
scaling policies, target tracking, scaling cooldowns); see docs/autoscaling.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from onebox.aws.errors import AwsError

ADJUSTMENT_TYPES = ("ChangeInCapacity", "ExactCapacity", "PercentChangeInCapacity")
AGGREGATION_TYPES = ("Minimum", "Maximum", "Average")


def _invalid(message: str) -> AwsError:
    return AwsError("ValidationError", message)


@dataclass(frozen=True)
class Step:
    lower: float | None  # relative to the alarm threshold; None is -infinity
    upper: float | None  # None is +infinity
    adjustment: int


def steps_from_api(items: Iterable[dict[str, Any]]) -> list[Step]:
    return [
        Step(
            item.get("MetricIntervalLowerBound"),
            item.get("MetricIntervalUpperBound"),
            int(item["ScalingAdjustment"]),
        )
        for item in items
    ]


def validate_steps(steps: Sequence[Step]) -> None:
    """AWS's rules: no overlap, no gap, at most one open end each way, no step open at both ends, and
    negative lower / positive upper bounds need the open-ended step on that side."""
    if not steps:
        raise _invalid("StepAdjustments must be specified for a StepScaling policy.")
    for step in steps:
        if step.lower is None and step.upper is None:
            raise _invalid("Step adjustment cannot have both lower and upper bounds set to null.")
        if step.lower is not None and step.upper is not None and step.lower >= step.upper:
            raise _invalid(
                f"The upper bound {step.upper} must be greater than the lower bound {step.lower} for "
                "step adjustments."
            )
    if sum(1 for s in steps if s.lower is None) > 1:
        raise _invalid("Only one step adjustment can have an unspecified lower bound.")
    if sum(1 for s in steps if s.upper is None) > 1:
        raise _invalid("Only one step adjustment can have an unspecified upper bound.")
    if any(s.lower is not None and s.lower < 0 for s in steps) and not any(s.lower is None for s in steps):
        raise _invalid(
            "There must be a step adjustment with an unspecified lower bound when one has a negative lower bound."
        )
    if any(s.upper is not None and s.upper > 0 for s in steps) and not any(s.upper is None for s in steps):
        raise _invalid(
            "There must be a step adjustment with an unspecified upper bound when one has a positive upper bound."
        )
    ordered = sorted(steps, key=lambda s: -math.inf if s.lower is None else s.lower)
    for previous, current in zip(ordered, ordered[1:], strict=False):
        if previous.upper is None or current.lower is None:
            raise _invalid("Step adjustments cannot overlap.")
        if previous.upper > current.lower:
            raise _invalid("Step adjustments cannot overlap.")
        if previous.upper < current.lower:
            raise _invalid("There must not be gaps between step adjustments.")


def matching_step(steps: Sequence[Step], value: float, threshold: float) -> Step | None:
    """The step whose interval holds `value`. Above the threshold the lower bound is inclusive and the
    upper exclusive; below it the lower bound is exclusive and the upper inclusive."""
    difference = value - threshold
    for step in steps:
        lower = -math.inf if step.lower is None else step.lower
        upper = math.inf if step.upper is None else step.upper
        above = lower >= 0 or (upper > 0 and difference >= 0)
        inside = lower <= difference < upper if above else lower < difference <= upper
        if inside:
            return step
    return None


def _round_percent(change: float) -> int:
    """AWS's rounding of a percentage change: >1 rounds down, (0,1] -> 1, [-1,0) -> -1, <-1 toward zero."""
    if change > 1:
        return math.floor(change)
    if change > 0:
        return 1
    if change == 0:
        return 0
    if change >= -1:
        return -1
    return math.ceil(change)


def new_capacity(
    current: int,
    adjustment_type: str,
    adjustment: int,
    *,
    min_adjustment_magnitude: int | None = None,
) -> int:
    """Capacity after one adjustment, before clamping to the group's min and max."""
    if adjustment_type == "ExactCapacity":
        return adjustment
    if adjustment_type == "ChangeInCapacity":
        return current + adjustment
    change = _round_percent(current * adjustment / 100.0)
    if min_adjustment_magnitude and abs(change) < min_adjustment_magnitude and change != 0:
        change = min_adjustment_magnitude if change > 0 else -min_adjustment_magnitude
    return current + change


def clamp(capacity: int, min_size: int, max_size: int) -> int:
    return max(min_size, min(max_size, capacity))


def aggregate(values: Sequence[float], aggregation: str | None) -> float | None:
    """MetricAggregationType over the alarm's most recent datapoints (null means Average)."""
    if not values:
        return None
    if aggregation == "Minimum":
        return min(values)
    if aggregation == "Maximum":
        return max(values)
    return sum(values) / len(values)


@dataclass(frozen=True)
class Decision:
    desired: int | None  # None: no change
    reason: str = ""


def step_decision(
    *,
    desired: int,
    warming: int,
    min_size: int,
    max_size: int,
    adjustment_type: str,
    adjustment: int,
    min_adjustment_magnitude: int | None = None,
    warming_instances: int | None = None,
) -> Decision:
    """What a step (or target-tracking) adjustment does to a group where `warming` capacity added by
    earlier scale-outs is still warming up. Scale-out counts from the capacity that is not warming, so
    repeated breaches in the same step make one activity and a higher step adds only the difference;
    scale-in waits while any instance warms up (`warming_instances`, default `warming`): AWS blocks
    all policy scale-in during warm-up."""
    if adjustment_type != "ExactCapacity" and adjustment == 0:
        return Decision(None, "no adjustment")
    scale_in = adjustment < 0 if adjustment_type != "ExactCapacity" else adjustment < desired
    if scale_in:
        if (warming if warming_instances is None else warming_instances) > 0:
            return Decision(None, "scale-in is blocked while instances are warming up")
        target = clamp(
            new_capacity(
                desired, adjustment_type, adjustment, min_adjustment_magnitude=min_adjustment_magnitude
            ),
            min_size,
            max_size,
        )
        return Decision(target if target < desired else None)
    base = max(desired - warming, 0)
    target = clamp(
        new_capacity(base, adjustment_type, adjustment, min_adjustment_magnitude=min_adjustment_magnitude),
        min_size,
        max_size,
    )
    if target > desired:
        return Decision(target)
    return Decision(None, "the warming instances already cover this step")


def simple_blocked(*, now: float, busy: bool, last_activity_end: float | None, cooldown: float) -> bool:
    """A simple policy waits for the group's activity to finish and then for the cooldown."""
    if busy:
        return True
    return last_activity_end is not None and now < last_activity_end + cooldown


def warmup_seconds(policy_warmup: int | None, group_warmup: int | None, default_cooldown: int) -> int:
    """EstimatedInstanceWarmup, else the group's DefaultInstanceWarmup, else its DefaultCooldown."""
    if policy_warmup is not None:
        return int(policy_warmup)
    if group_warmup is not None:
        return int(group_warmup)
    return int(default_cooldown)


def is_warming(in_service_at: float | None, launched_at: float, warmup: int, now: float) -> bool:
    """An instance warms up from its launch until `warmup` seconds after it came into service."""
    if in_service_at is None:
        return True
    return now < max(in_service_at, launched_at) + warmup


def target_tracking_capacity(current: int, metric: float, target: float) -> int:
    """Capacity that brings the group's average back to `target`, rounded toward safety: up when
    scaling out (1.5 instances needed -> 2), down when scaling in (1.5 removable -> 1 removed)."""
    if current <= 0 or target <= 0:
        return current
    wanted = current * metric / target
    if wanted > current:
        return math.ceil(wanted - 1e-9)
    removable = current - wanted
    return current - math.floor(removable + 1e-9)


def low_alarm_threshold(target: float) -> float:
    """The scale-in alarm fires when the metric is well below the target (AWS: about 10% lower)."""
    return round(target * 0.9, 6)
