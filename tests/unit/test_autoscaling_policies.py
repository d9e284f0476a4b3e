"""Policies executed against a group in a store, on a ManualClock: a step breach repeated while its
instances warm up makes one change; a higher step adds the difference; scale-in waits for warm-up;
simple scaling waits for the cooldown; target tracking rounds toward safety and honours DisableScaleIn."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from onebox.clock import ManualClock
from onebox.services.autoscaling.common import GROUP, MEMBER, POLICY
from onebox.services.autoscaling.policies import run_policy
from onebox.store import Store

ACCOUNT, REGION = "000000000000", "us-east-1"


def _setup(desired: int = 2, **group: Any) -> tuple[Any, ManualClock]:
    clock = ManualClock()
    store = Store.memory(clock)
    store.create(
        GROUP,
        ACCOUNT,
        REGION,
        "web",
        arn="arn:group",
        spec={"MinSize": 1, "MaxSize": 10, "DesiredCapacity": desired, "DefaultCooldown": 300, **group},
    )
    runtime = SimpleNamespace(clock=clock, store=store)
    for index in range(desired):
        _member(runtime, f"i-{index:017x}", in_service_at=clock.time() - 3600)
    return runtime, clock


def _member(runtime: Any, instance_id: str, in_service_at: float | None) -> None:
    runtime.store.create(
        MEMBER,
        ACCOUNT,
        REGION,
        instance_id,
        arn="arn",
        spec={
            "Group": "web",
            "LifecycleState": "InService" if in_service_at is not None else "Pending",
            "LaunchedAt": (in_service_at or runtime.clock.time()) - 5,
            "InServiceAt": in_service_at,
        },
    )


def _policy(runtime: Any, **spec: Any) -> Any:
    return runtime.store.create(
        POLICY,
        ACCOUNT,
        REGION,
        spec["PolicyName"],
        arn=f"arn:{spec['PolicyName']}",
        spec={"Group": "web", **spec},
    )


def _desired(runtime: Any) -> int:
    return runtime.store.get(GROUP, ACCOUNT, REGION, "web").spec["DesiredCapacity"]


def _launch_new(runtime: Any, count: int) -> None:
    """What the controller does after a scale-out: new members, in service now (warming up)."""
    existing = len(runtime.store.list(MEMBER, ACCOUNT, REGION))
    for index in range(count):
        _member(runtime, f"i-{existing + index:017x}", in_service_at=runtime.clock.time())


STEPS = [
    {"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 25, "ScalingAdjustment": 2},
    {"MetricIntervalLowerBound": 25, "ScalingAdjustment": 4},
]


def test_step_breaches_during_warm_up() -> None:
    runtime, clock = _setup()
    policy = _policy(
        runtime,
        PolicyName="add",
        PolicyType="StepScaling",
        AdjustmentType="ChangeInCapacity",
        StepAdjustments=STEPS,
        EstimatedInstanceWarmup=120,
    )
    assert run_policy(runtime, policy, value=60, threshold=50, trigger="alarm") == "scaled"
    assert _desired(runtime) == 4
    _launch_new(runtime, 2)
    clock.advance(60)
    assert run_policy(runtime, policy, value=70, threshold=50, trigger="alarm") == "no-change"  # same step
    assert _desired(runtime) == 4
    assert run_policy(runtime, policy, value=80, threshold=50, trigger="alarm") == "scaled"  # +4 step
    assert _desired(runtime) == 6  # 2 not warming + 4, not 4 + 4
    _launch_new(runtime, 2)
    remove = _policy(
        runtime,
        PolicyName="remove",
        PolicyType="StepScaling",
        AdjustmentType="ChangeInCapacity",
        StepAdjustments=[{"MetricIntervalUpperBound": 0, "ScalingAdjustment": -1}],
        EstimatedInstanceWarmup=120,
    )
    assert (
        run_policy(runtime, remove, value=10, threshold=20, trigger="alarm") == "no-change"
    )  # warming: blocked
    clock.advance(121)
    assert run_policy(runtime, remove, value=10, threshold=20, trigger="alarm") == "scaled"
    assert _desired(runtime) == 5
    clock.advance(200)
    assert (
        run_policy(runtime, policy, value=60, threshold=50, trigger="alarm") == "scaled"
    )  # warm now: +2 again
    assert _desired(runtime) == 7


def test_simple_scaling_cooldown() -> None:
    runtime, clock = _setup()
    policy = _policy(
        runtime,
        PolicyName="simple",
        PolicyType="SimpleScaling",
        AdjustmentType="ChangeInCapacity",
        ScalingAdjustment=1,
        Cooldown=120,
    )
    assert run_policy(runtime, policy, value=None, threshold=None, trigger="alarm") == "scaled"
    # The controller launched and the group settled now: the cooldown runs from here.
    runtime.store.update_status(GROUP, ACCOUNT, REGION, "web", {"LastActivityEnd": clock.time()})
    clock.advance(119)
    assert run_policy(runtime, policy, value=None, threshold=None, trigger="alarm") == "cooldown"
    clock.advance(1)
    assert run_policy(runtime, policy, value=None, threshold=None, trigger="alarm") == "scaled"
    assert _desired(runtime) == 4
    # While an activity is in progress (a member pending) simple policies wait too.
    runtime.store.update_status(GROUP, ACCOUNT, REGION, "web", {"LastActivityEnd": clock.time() - 1000})
    _member(runtime, "i-0000000000000fff", in_service_at=None)
    assert run_policy(runtime, policy, value=None, threshold=None, trigger="alarm") == "cooldown"


def test_target_tracking_rounds_toward_safety_and_disable_scale_in() -> None:
    runtime, clock = _setup(desired=3)
    config = {"TargetValue": 40.0, "DisableScaleIn": False}
    policy = _policy(
        runtime,
        PolicyName="tt",
        PolicyType="TargetTrackingScaling",
        TargetTrackingConfiguration=config,
        EstimatedInstanceWarmup=60,
    )
    assert (
        run_policy(runtime, policy, value=60, threshold=40, trigger="alarm", scale_out_only=True) == "scaled"
    )
    assert _desired(runtime) == 5  # 3 x 60 / 40 = 4.5 -> 5
    _launch_new(runtime, 2)
    clock.advance(61)
    assert (
        run_policy(runtime, policy, value=10, threshold=36, trigger="alarm", scale_in_only=True) == "scaled"
    )
    assert _desired(runtime) == 2  # 5 x 10 / 40 = 1.25: 3.75 removable -> 3 removed
    frozen = _policy(
        runtime,
        PolicyName="tt-no-in",
        PolicyType="TargetTrackingScaling",
        TargetTrackingConfiguration={**config, "DisableScaleIn": True},
    )
    assert (
        run_policy(runtime, frozen, value=1, threshold=36, trigger="alarm", scale_in_only=True)
        == "scale-in-blocked"
    )
    assert _desired(runtime) == 2
