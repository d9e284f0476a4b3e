"""Target tracking on a ManualClock: AWS's capacity formula ceil(current x metric / target) and its
rounding toward safety both ways; the policy run by its own alarms (the high alarm only scales out,
the low alarm only scales in, DisableScaleIn never scales in, warming instances block scale-in)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from onebox.services.autoscaling import scaling_rules as rules
from onebox.services.autoscaling.policies import handle_alarm
from onebox.services.cloudwatch.actions import AlarmAction
from tests.unit.test_autoscaling_policies import ACCOUNT, REGION, _desired, _launch_new, _policy, _setup

HIGH = "TargetTracking-web-AlarmHigh-1"
LOW = "TargetTracking-web-AlarmLow-1"


@pytest.mark.parametrize(
    ("current", "metric", "target", "expected"),
    [
        (2, 90.0, 40.0, 5),  # 4.5 instances needed -> 5
        (2, 80.0, 40.0, 4),  # exactly 4: no rounding up to 5
        (2, 60.0, 40.0, 3),
        (3, 40.1, 40.0, 4),  # 3.0075 -> 4: just over the target adds one
        (3, 20.0, 40.0, 2),  # 1.5 removable -> 1 removed
        (4, 10.0, 40.0, 1),
        (5, 30.0, 40.0, 4),  # 3.75 needed: 1.25 removable -> 1 removed
        (10, 35.0, 40.0, 9),  # 8.75 -> 9
        (4, 0.0, 40.0, 0),  # nothing needed: min size clamps later
    ],
)
def test_capacity_formula_rounds_toward_safety(
    current: int, metric: float, target: float, expected: int
) -> None:
    assert rules.target_tracking_capacity(current, metric, target) == expected


def test_low_alarm_threshold_is_ten_percent_under_the_target() -> None:
    assert rules.low_alarm_threshold(40.0) == 36.0
    assert rules.low_alarm_threshold(75.0) == 67.5


def _action(alarm: str, values: list[float], threshold: float, arn: str) -> AlarmAction:
    return AlarmAction(
        arn=arn,
        kind="autoscaling",
        operation=None,
        account=ACCOUNT,
        region=REGION,
        alarm_name=alarm,
        alarm_arn=f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{alarm}",
        old_state="OK",
        new_state="ALARM",
        reason="test",
        alarm={"Threshold": threshold, "StateReasonData": json.dumps({"recentDatapoints": values})},
    )


def _tracking(runtime: Any, *, disable_scale_in: bool = False, name: str = "Maintain-CPU-at-40") -> Any:
    return _policy(
        runtime,
        PolicyName=name,
        PolicyType="TargetTrackingScaling",
        EstimatedInstanceWarmup=60,
        TargetTrackingConfiguration={"TargetValue": 40.0, "DisableScaleIn": disable_scale_in},
        OwnedAlarms=[HIGH, LOW] if not disable_scale_in else [HIGH],
    )


def test_the_alarms_drive_the_policy_out_and_back_in() -> None:
    runtime, clock = _setup(desired=2)
    policy = _tracking(runtime)
    # The high alarm at 90 % against 40 %: ceil(2 x 90 / 40) = 5, from the alarm's latest datapoint.
    handle_alarm(runtime, _action(HIGH, [70.0, 80.0, 90.0], 40.0, policy.arn))
    assert _desired(runtime) == 5
    # The same breach again while the three new instances warm up adds nothing.
    _launch_new(runtime, 3)
    handle_alarm(runtime, _action(HIGH, [90.0, 90.0, 90.0], 40.0, policy.arn))
    assert _desired(runtime) == 5
    # The low alarm while they warm up: scale-in waits.
    handle_alarm(runtime, _action(LOW, [10.0] * 15, 36.0, policy.arn))
    assert _desired(runtime) == 5
    # Warm: the low alarm at 10 % scales in to ceil(5 x 10 / 40) = 2 (1.25 needed, 3.75 removable -> 3).
    clock.advance(61)
    handle_alarm(runtime, _action(LOW, [12.0] * 14 + [10.0], 36.0, policy.arn))
    assert _desired(runtime) == 2
    # A high alarm never scales in, a low alarm never scales out, whatever its datapoint says.
    handle_alarm(runtime, _action(HIGH, [41.0, 41.0, 10.0], 40.0, policy.arn))
    assert _desired(runtime) == 2
    handle_alarm(runtime, _action(LOW, [35.0] * 14 + [90.0], 36.0, policy.arn))
    assert _desired(runtime) == 2


def test_scale_in_stops_at_min_size_and_disable_scale_in_never_scales_in() -> None:
    runtime, clock = _setup(desired=4)
    policy = _tracking(runtime)
    handle_alarm(runtime, _action(LOW, [0.0] * 15, 36.0, policy.arn))
    assert _desired(runtime) == 1  # MinSize 1

    runtime, clock = _setup(desired=4)
    frozen = _tracking(runtime, disable_scale_in=True)
    handle_alarm(runtime, _action(LOW, [0.0] * 15, 36.0, frozen.arn))
    assert _desired(runtime) == 4
    handle_alarm(runtime, _action(HIGH, [50.0, 50.0, 50.0], 40.0, frozen.arn))
    assert _desired(runtime) == 5  # ceil(4 x 50 / 40): scale-out still works
