"""EC2 Auto Scaling's rules as pure functions: step matching relative to the threshold (inclusive lower
above, inclusive upper below), AWS's worked example, rounding, MinAdjustmentMagnitude, warm-up and
cooldown driven by a ManualClock, target-tracking rounding toward safety, termination choice."""

from __future__ import annotations

import pytest

from onebox.aws.errors import AwsError
from onebox.clock import ManualClock
from onebox.services.autoscaling import scaling_rules as rules
from onebox.services.autoscaling import termination
from onebox.services.autoscaling.scaling_rules import Step

# The user guide's example: threshold 50; +10% at 60-70, +30% from 70; -10% at 40-30, -30% below 30.
OUT = [Step(0, 10, 0), Step(10, 20, 10), Step(20, None, 30)]
IN = [Step(-10, 0, 0), Step(-20, -10, -10), Step(None, -20, -30)]


def test_bounds_are_inclusive_below_and_exclusive_above_the_threshold() -> None:
    steps = [Step(0, 10, 1), Step(10, None, 2)]
    assert rules.matching_step(steps, 50, 50) == steps[0]  # lower bound inclusive above the threshold
    assert rules.matching_step(steps, 59.99, 50) == steps[0]
    assert rules.matching_step(steps, 60, 50) == steps[1]  # upper bound exclusive
    below = [Step(-10, 0, -1), Step(None, -10, -2)]
    assert rules.matching_step(below, 50, 50) == below[0]  # upper bound inclusive below the threshold
    assert rules.matching_step(below, 40, 50) == below[1]  # lower bound exclusive below
    assert rules.matching_step(below, 40.01, 50) == below[0]
    assert rules.matching_step(steps, 45, 50) is None


def test_the_user_guide_worked_example() -> None:
    capacity = 10

    def apply(value: float, steps: list[Step]) -> int:
        step = rules.matching_step(steps, value, 50)
        assert step is not None
        return rules.new_capacity(capacity, "PercentChangeInCapacity", step.adjustment)

    capacity = apply(60, OUT)
    assert capacity == 11
    capacity = apply(70, OUT)
    assert capacity == 14  # 30 % of 11 = 3.3 -> 3
    capacity = apply(40, IN)
    assert capacity == 13  # 10 % of 14 = 1.4 -> 1
    capacity = apply(30, IN)
    assert capacity == 10  # 30 % of 13 = 3.9 -> 3


@pytest.mark.parametrize(
    ("current", "percent", "expected"),
    [(100, 127, 227), (10, 5, 11), (10, -5, 9), (30, -22, 24), (4, 25, 5)],
)
def test_percent_rounding(current: int, percent: int, expected: int) -> None:
    # >1 rounds down (127 % of 100 = 127), (0,1] -> 1, [-1,0) -> -1, < -1 toward zero (-6.6 -> -6).
    assert rules.new_capacity(current, "PercentChangeInCapacity", percent) == expected


def test_min_adjustment_magnitude_and_exact_capacity() -> None:
    assert rules.new_capacity(4, "PercentChangeInCapacity", 25) == 5
    assert rules.new_capacity(4, "PercentChangeInCapacity", 25, min_adjustment_magnitude=2) == 6
    assert rules.new_capacity(4, "ExactCapacity", 7) == 7
    assert rules.new_capacity(4, "ChangeInCapacity", -3) == 1
    assert rules.clamp(12, 1, 10) == 10


def test_step_validation_rules() -> None:
    rules.validate_steps(OUT)
    rules.validate_steps(IN)
    with pytest.raises(AwsError, match="overlap"):
        rules.validate_steps([Step(0, 20, 1), Step(10, None, 2)])
    with pytest.raises(AwsError, match="gaps"):
        rules.validate_steps([Step(0, 10, 1), Step(20, None, 2)])
    with pytest.raises(AwsError, match="both lower and upper"):
        rules.validate_steps([Step(None, None, 1)])
    with pytest.raises(AwsError, match="unspecified upper bound"):
        rules.validate_steps([Step(0, 10, 1)])
    with pytest.raises(AwsError, match="unspecified lower bound"):
        rules.validate_steps([Step(-10, 0, -1)])
    with pytest.raises(AwsError):
        rules.validate_steps([Step(None, 0, -1), Step(None, -10, -2)])


def test_aggregation_types() -> None:
    assert rules.aggregate([10, 20, 60], None) == 30
    assert rules.aggregate([10, 20, 60], "Minimum") == 10
    assert rules.aggregate([10, 20, 60], "Maximum") == 60
    assert rules.aggregate([], "Average") is None


def test_warm_up_makes_repeated_breaches_one_activity_and_blocks_scale_in() -> None:
    clock = ManualClock()
    launched = clock.time()
    warmup = rules.warmup_seconds(None, None, 300)
    assert warmup == 300  # no EstimatedInstanceWarmup, no DefaultInstanceWarmup: the default cooldown
    assert rules.warmup_seconds(60, 120, 300) == 60
    assert rules.warmup_seconds(None, 120, 300) == 120
    # A breach in the +2 step takes 2 -> 4; the same step again while the 2 warm up changes nothing.
    first = rules.step_decision(
        desired=2, warming=0, min_size=1, max_size=10, adjustment_type="ChangeInCapacity", adjustment=2
    )
    assert first.desired == 4
    clock.advance(60)
    in_service_at = clock.time()
    assert rules.is_warming(in_service_at, launched, 120, clock.time())
    again = rules.step_decision(
        desired=4, warming=2, min_size=1, max_size=10, adjustment_type="ChangeInCapacity", adjustment=2
    )
    assert again.desired is None
    # A higher step (+4) adds only the difference.
    higher = rules.step_decision(
        desired=4, warming=2, min_size=1, max_size=10, adjustment_type="ChangeInCapacity", adjustment=4
    )
    assert higher.desired == 6
    # Scale-in waits for every warming instance.
    blocked = rules.step_decision(
        desired=6, warming=1, min_size=1, max_size=10, adjustment_type="ChangeInCapacity", adjustment=-1
    )
    assert blocked.desired is None and "warming" in blocked.reason
    clock.advance(120)
    assert not rules.is_warming(in_service_at, launched, 120, clock.time())
    done = rules.step_decision(
        desired=6, warming=0, min_size=1, max_size=10, adjustment_type="ChangeInCapacity", adjustment=-1
    )
    assert done.desired == 5


def test_simple_scaling_waits_for_the_activity_and_then_the_cooldown() -> None:
    clock = ManualClock()
    assert rules.simple_blocked(now=clock.time(), busy=True, last_activity_end=None, cooldown=300)
    assert not rules.simple_blocked(now=clock.time(), busy=False, last_activity_end=None, cooldown=300)
    ended = clock.time()
    clock.advance(299)
    assert rules.simple_blocked(now=clock.time(), busy=False, last_activity_end=ended, cooldown=300)
    clock.advance(1)
    assert not rules.simple_blocked(now=clock.time(), busy=False, last_activity_end=ended, cooldown=300)


def test_target_tracking_rounds_toward_safety() -> None:
    assert rules.target_tracking_capacity(3, 60, 40) == 5  # 4.5 needed -> 5
    assert rules.target_tracking_capacity(4, 25, 40) == 3  # 2.5 needed: 1.5 removable -> remove 1
    assert rules.target_tracking_capacity(4, 40, 40) == 4
    assert rules.low_alarm_threshold(40) == 36


def test_termination_balances_azs_then_applies_the_policy() -> None:
    now = 1_800_000_000.0
    candidates = [
        termination.Candidate("i-a1", "us-east-1a", now - 500, False, False, 2),
        termination.Candidate("i-a2", "us-east-1a", now - 100, False, True, 1),
        termination.Candidate("i-a3", "us-east-1a", now - 50, False, False, 2),
        termination.Candidate("i-b1", "us-east-1b", now - 900, False, True, 1),
    ]
    # AZ a has the most; within it the default policy picks the outdated template version.
    assert termination.choose(candidates, 1, ["Default"], now) == ["i-a2"]
    assert termination.choose(candidates, 1, ["NewestInstance"], now) == ["i-a3"]
    assert termination.choose(candidates, 1, ["OldestInstance"], now) == ["i-a1"]
    # Two: one from a, then a and b are even (2 and 1 -> a still has more).
    assert termination.choose(candidates, 3, ["OldestInstance"], now) == ["i-a1", "i-a2", "i-a3"]
    assert (
        termination.zone_for_launch(["us-east-1a", "us-east-1b"], {"us-east-1a": 2, "us-east-1b": 1})
        == "us-east-1b"
    )
    assert termination.imbalanced(["us-east-1a", "us-east-1b"], {"us-east-1a": 3, "us-east-1b": 1})
    assert not termination.imbalanced(["us-east-1a", "us-east-1b"], {"us-east-1a": 2, "us-east-1b": 1})
