"""Alarms driven by a ManualClock: M of N, missing data, composite alarms, actions and history."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from onebox.aws.dispatch import RequestContext
from onebox.aws.errors import AwsError
from onebox.clock import ManualClock
from onebox.config import Config
from onebox.runtime import Runtime
from onebox.services.cloudwatch import actions, alarms_api
from onebox.services.cloudwatch.evaluator import AlarmEvaluator, evaluator_for
from onebox.services.cloudwatch.ingest import put_metric_data
from onebox.services.cloudwatch.metric_store import close_metric_store
from onebox.store import Store

ACCOUNT, REGION = "000000000000", "us-east-1"
START = 1_800_000_000.0  # a multiple of 60


@pytest.fixture
def runtime(tmp_path: Path):
    clock = ManualClock(START)
    store = Store.memory(clock)
    box = Runtime(config=Config(state_dir=tmp_path), clock=clock, store=store, credentials=None)  # type: ignore[arg-type]
    yield box
    close_metric_store(box)
    store.close()


@pytest.fixture(autouse=True)
def handlers():
    """Whatever other services registered stays theirs: tests swap handlers and put them back."""
    saved = {kind: actions.action_handler(kind) for kind in ("sns", "ec2", "autoscaling")}
    yield
    for kind, handler in saved.items():
        if handler is None:
            actions.unregister_action_handler(kind)
        else:
            actions.register_action_handler(kind, handler)


@pytest.fixture
def calls():
    seen: list[actions.AlarmAction] = []
    for kind in ("sns", "autoscaling"):
        actions.register_action_handler(kind, lambda _runtime, action: seen.append(action))
    return seen


def call(runtime: Runtime, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    ctx = RequestContext(runtime, "cloudwatch", operation, ACCOUNT, REGION, "req", None)  # type: ignore[arg-type]
    result = alarms_api.api.handlers[operation](ctx, params)
    if asyncio.iscoroutine(result):
        result = asyncio.run(result)
    return result  # type: ignore[return-value]


def put(runtime: Runtime, value: float, metric: str = "CPU", at: float | None = None) -> None:
    put_metric_data(
        runtime,
        ACCOUNT,
        REGION,
        "App",
        [{"MetricName": metric, "Value": value, "Timestamp": at if at is not None else runtime.clock.time()}],
    )


def alarm(runtime: Runtime, name: str = "cpu", **overrides: Any) -> None:
    params = {
        "AlarmName": name,
        "Namespace": "App",
        "MetricName": "CPU",
        "Statistic": "Average",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 75.0,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "AlarmActions": ["arn:aws:sns:us-east-1:000000000000:alerts"],
        **overrides,
    }
    call(runtime, "PutMetricAlarm", params)


def state(runtime: Runtime, name: str = "cpu") -> str:
    record = runtime.store.get("cloudwatch:alarm", ACCOUNT, REGION, name)
    assert record is not None
    return record.status["StateValue"]


def tick(runtime: Runtime, evaluator: AlarmEvaluator, name: str = "cpu", seconds: float = 60) -> str:
    """Move the clock on and let the evaluator do its periodic pass."""
    runtime.clock.advance(seconds)  # type: ignore[attr-defined]
    asyncio.run(evaluator.reconcile((ACCOUNT, REGION, name)))
    return state(runtime, name)


def test_one_of_one_alarm_fires_its_sns_action_and_writes_history(runtime: Runtime, calls: list) -> None:
    evaluator = evaluator_for(runtime)
    alarm(runtime)
    assert state(runtime) == "INSUFFICIENT_DATA"
    put(runtime, 90.0)
    assert tick(runtime, evaluator, seconds=1) == "ALARM"
    [action] = calls
    assert action.kind == "sns" and action.new_state == "ALARM" and action.old_state == "INSUFFICIENT_DATA"
    message = json.loads(actions.notification_message(action))
    assert message["NewStateValue"] == "ALARM" and message["Trigger"]["MetricName"] == "CPU"
    assert actions.notification_subject(action) == 'ALARM: "cpu" in US East (N. Virginia)'
    history = call(runtime, "DescribeAlarmHistory", {"AlarmName": "cpu"})["AlarmHistoryItems"]
    kinds = [item["HistoryItemType"] for item in history]
    assert kinds == ["Action", "StateUpdate", "ConfigurationUpdate"]
    assert (
        history[0]["HistorySummary"]
        == "Successfully executed action arn:aws:sns:us-east-1:000000000000:alerts"
    )
    # Still breaching next minute: no second notification (actions run on transitions only).
    put(runtime, 95.0)
    assert tick(runtime, evaluator) == "ALARM"
    assert len(calls) == 1


def test_three_of_five_with_gaps_and_recovery(runtime: Runtime, calls: list) -> None:
    evaluator = evaluator_for(runtime)
    alarm(runtime, EvaluationPeriods=5, DatapointsToAlarm=3)
    states = []
    for value in (10, 80, 10, 80, 10, 80, 80, 10, 10, 10):
        put(runtime, float(value))
        states.append(tick(runtime, evaluator))
    # The third breach among the last 5 points alarms although the breaches are not consecutive;
    # it recovers once fewer than 3 of the last 5 breach.
    assert states == ["OK"] * 5 + ["ALARM"] * 3 + ["OK"] * 2


def _stop_data_then_wait(runtime: Runtime, treatment: str, minutes: int) -> list[str]:
    evaluator = evaluator_for(runtime)
    alarm(runtime, EvaluationPeriods=3, DatapointsToAlarm=3, TreatMissingData=treatment)
    for _ in range(3):
        put(runtime, 10.0)
        tick(runtime, evaluator)
    assert state(runtime) == "OK"
    return [tick(runtime, evaluator) for _ in range(minutes)]


def test_missing_data_missing_turns_insufficient_after_the_whole_range(runtime: Runtime) -> None:
    states = _stop_data_then_wait(runtime, "missing", 12)
    # The range is 3 + 5 periods: real points keep deciding until the last one leaves the range.
    assert states[:7] == ["OK"] * 7
    assert states[-1] == "INSUFFICIENT_DATA"


def test_missing_data_breaching(runtime: Runtime) -> None:
    states = _stop_data_then_wait(runtime, "breaching", 12)
    assert states[-1] == "ALARM"
    assert "ALARM" in states and states[0] == "OK"


def test_missing_data_not_breaching(runtime: Runtime) -> None:
    assert set(_stop_data_then_wait(runtime, "notBreaching", 12)) == {"OK"}


def test_missing_data_ignore_keeps_state(runtime: Runtime) -> None:
    evaluator = evaluator_for(runtime)
    alarm(runtime, TreatMissingData="ignore")
    put(runtime, 99.0)
    assert tick(runtime, evaluator, seconds=1) == "ALARM"
    assert {tick(runtime, evaluator) for _ in range(15)} == {"ALARM"}


def test_autoscaling_actions_repeat_every_minute_while_in_alarm(runtime: Runtime, calls: list) -> None:
    evaluator = evaluator_for(runtime)
    policy = (
        "arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:uuid:autoScalingGroupName/web:policyName/up"
    )
    alarm(runtime, AlarmActions=[policy], TreatMissingData="ignore")
    put(runtime, 99.0)
    tick(runtime, evaluator, seconds=1)
    for _ in range(3):
        tick(runtime, evaluator)
    assert [a.kind for a in calls] == ["autoscaling"] * 4
    put(runtime, 1.0)
    assert tick(runtime, evaluator) == "OK"
    tick(runtime, evaluator)
    assert len(calls) == 4  # no OK actions configured; ALARM actions stop with the ALARM state


def test_unregistered_ec2_action_is_recorded_as_failed(runtime: Runtime) -> None:
    evaluator = evaluator_for(runtime)
    actions.unregister_action_handler("ec2")
    alarm(
        runtime,
        AlarmActions=["arn:aws:automate:us-east-1:ec2:stop"],
        Dimensions=[{"Name": "InstanceId", "Value": "i-0123456789abcdef0"}],
    )
    put_metric_data(
        runtime,
        ACCOUNT,
        REGION,
        "App",
        [
            {
                "MetricName": "CPU",
                "Dimensions": [{"Name": "InstanceId", "Value": "i-0123456789abcdef0"}],
                "Value": 99.0,
            }
        ],
    )
    assert tick(runtime, evaluator, seconds=1) == "ALARM"
    history = call(runtime, "DescribeAlarmHistory", {"AlarmName": "cpu", "HistoryItemType": "Action"})
    [item] = history["AlarmHistoryItems"]
    assert item["HistorySummary"].startswith("Failed to execute action arn:aws:automate:us-east-1:ec2:stop")
    assert "no ec2 service handles alarm actions" in item["HistorySummary"]
    assert json.loads(item["HistoryData"])["actionState"] == "Failed"


def test_registered_ec2_handler_gets_the_instance(runtime: Runtime) -> None:
    evaluator = evaluator_for(runtime)
    seen: list[actions.AlarmAction] = []

    async def stop(_runtime: Runtime, action: actions.AlarmAction) -> None:
        seen.append(action)

    actions.register_action_handler("ec2", stop)
    try:
        dims = [{"Name": "InstanceId", "Value": "i-0123456789abcdef0"}]
        alarm(runtime, AlarmActions=["arn:aws:automate:us-east-1:ec2:stop"], Dimensions=dims)
        put_metric_data(
            runtime, ACCOUNT, REGION, "App", [{"MetricName": "CPU", "Dimensions": dims, "Value": 99.0}]
        )
        tick(runtime, evaluator, seconds=1)
    finally:
        actions.unregister_action_handler("ec2")
    [action] = seen
    assert action.operation == "stop" and action.instance_id == "i-0123456789abcdef0"


def test_set_alarm_state_holds_until_the_next_evaluation(runtime: Runtime, calls: list) -> None:
    evaluator = evaluator_for(runtime)
    alarm(runtime)
    put(runtime, 10.0)
    assert tick(runtime, evaluator, seconds=1) == "OK"
    call(runtime, "SetAlarmState", {"AlarmName": "cpu", "StateValue": "ALARM", "StateReason": "testing"})
    assert state(runtime) == "ALARM" and len(calls) == 1  # actions run on a SetAlarmState transition too
    assert tick(runtime, evaluator, seconds=5) == "ALARM"  # a data nudge within the minute: still held
    assert tick(runtime, evaluator, seconds=60) == "OK"


def test_composite_alarm_follows_its_rule(runtime: Runtime, calls: list) -> None:
    evaluator = evaluator_for(runtime)
    alarm(runtime, "cpu", AlarmActions=[], Statistic="Maximum")
    alarm(runtime, "mem", MetricName="Mem", AlarmActions=[], Statistic="Maximum")
    call(
        runtime,
        "PutCompositeAlarm",
        {
            "AlarmName": "both",
            "AlarmRule": 'ALARM("cpu") AND ALARM(mem)',
            "AlarmActions": ["arn:aws:sns:us-east-1:000000000000:alerts"],
        },
    )
    put(runtime, 99.0, "CPU")
    put(runtime, 10.0, "Mem")
    asyncio.run(evaluator.list_keys())
    runtime.clock.advance(60)  # type: ignore[attr-defined]
    for name in ("cpu", "mem", "both"):
        asyncio.run(evaluator.reconcile((ACCOUNT, REGION, name)))
    assert (state(runtime, "cpu"), state(runtime, "mem"), state(runtime, "both")) == ("ALARM", "OK", "OK")
    runtime.clock.advance(1)  # type: ignore[attr-defined]
    put(runtime, 99.0, "Mem")
    for name in ("cpu", "mem", "both"):
        asyncio.run(evaluator.reconcile((ACCOUNT, REGION, name)))
    assert state(runtime, "both") == "ALARM"
    assert [a.alarm_name for a in calls] == ["both"]
    described = call(runtime, "DescribeAlarms", {"AlarmTypes": ["CompositeAlarm"]})["CompositeAlarms"]
    assert described[0]["AlarmRule"] == 'ALARM("cpu") AND ALARM(mem)'
    children = call(runtime, "DescribeAlarms", {"ChildrenOfAlarmName": "both"})
    assert sorted(a["AlarmName"] for a in children["MetricAlarms"]) == ["cpu", "mem"]


def test_metric_math_alarm(runtime: Runtime) -> None:
    evaluator = evaluator_for(runtime)
    call(
        runtime,
        "PutMetricAlarm",
        {
            "AlarmName": "ratio",
            "EvaluationPeriods": 1,
            "Threshold": 5.0,
            "ComparisonOperator": "GreaterThanThreshold",
            "Metrics": [
                {
                    "Id": "e",
                    "MetricStat": {
                        "Metric": {"Namespace": "App", "MetricName": "Errors"},
                        "Period": 60,
                        "Stat": "Sum",
                    },
                    "ReturnData": False,
                },
                {
                    "Id": "r",
                    "MetricStat": {
                        "Metric": {"Namespace": "App", "MetricName": "Requests"},
                        "Period": 60,
                        "Stat": "Sum",
                    },
                    "ReturnData": False,
                },
                {"Id": "pct", "Expression": "100 * e / r"},
            ],
        },
    )
    put(runtime, 10.0, "Errors")
    put(runtime, 100.0, "Requests")
    assert tick(runtime, evaluator, "ratio", seconds=1) == "ALARM"


def test_percentile_alarm_and_low_sample_count(runtime: Runtime) -> None:
    evaluator = evaluator_for(runtime)
    alarm(
        runtime,
        Statistic=None,
        ExtendedStatistic="p90",
        Threshold=50.0,
        EvaluateLowSampleCountPercentile="ignore",
        TreatMissingData="ignore",
    )
    put_metric_data(
        runtime, ACCOUNT, REGION, "App", [{"MetricName": "CPU", "Values": [float(v) for v in range(1, 101)]}]
    )
    assert tick(runtime, evaluator, seconds=1) == "ALARM"
    call(runtime, "SetAlarmState", {"AlarmName": "cpu", "StateValue": "OK", "StateReason": "reset"})
    put_metric_data(runtime, ACCOUNT, REGION, "App", [{"MetricName": "CPU", "Values": [99.0] * 5}])
    # 5 samples is below 10/(1-0.9) = 100: the new minute is ignored and the state is kept.
    runtime.clock.advance(60)  # type: ignore[attr-defined]
    put_metric_data(runtime, ACCOUNT, REGION, "App", [{"MetricName": "CPU", "Values": [99.0] * 5}])
    assert tick(runtime, evaluator, seconds=1) == "ALARM"  # the earlier full minute is still in range


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"Period": 45}, "ValidationError"),
        ({"Period": 3600, "EvaluationPeriods": 25}, "ValidationError"),
        ({"EvaluationPeriods": 2, "DatapointsToAlarm": 3}, "ValidationError"),
        ({"ExtendedStatistic": "p90"}, "InvalidParameterCombination"),
        ({"AlarmActions": ["arn:aws:automate:us-east-1:ec2:explode"]}, "ValidationError"),
        ({"Statistic": None, "ExtendedStatistic": "TM(5%:95%)"}, "ValidationError"),
    ],
)
def test_bad_alarms_are_refused_and_nothing_is_stored(runtime: Runtime, params: dict, code: str) -> None:
    with pytest.raises(AwsError) as error:
        alarm(runtime, **params)
    assert error.value.code == code
    assert runtime.store.list("cloudwatch:alarm", ACCOUNT, REGION) == []


def test_delete_alarms(runtime: Runtime) -> None:
    alarm(runtime, "a")
    alarm(runtime, "b")
    with pytest.raises(AwsError) as error:
        call(runtime, "DeleteAlarms", {"AlarmNames": ["a", "nope"]})
    assert error.value.code == "ResourceNotFound"
    assert len(runtime.store.list("cloudwatch:alarm", ACCOUNT, REGION)) == 2
    call(runtime, "DeleteAlarms", {"AlarmNames": ["a", "b"]})
    assert call(runtime, "DescribeAlarms", {})["MetricAlarms"] == []


def test_disabled_actions_do_not_run(runtime: Runtime, calls: list) -> None:
    evaluator = evaluator_for(runtime)
    alarm(runtime)
    call(runtime, "DisableAlarmActions", {"AlarmNames": ["cpu"]})
    put(runtime, 99.0)
    assert tick(runtime, evaluator, seconds=1) == "ALARM"
    assert calls == []
    assert (
        call(runtime, "DescribeAlarms", {"AlarmNames": ["cpu"]})["MetricAlarms"][0]["ActionsEnabled"] is False
    )


def test_alarm_tags(runtime: Runtime) -> None:
    alarm(runtime, Tags=[{"Key": "team", "Value": "web"}])
    arn = "arn:aws:cloudwatch:us-east-1:000000000000:alarm:cpu"
    call(runtime, "TagResource", {"ResourceARN": arn, "Tags": [{"Key": "env", "Value": "prod"}]})
    call(runtime, "UntagResource", {"ResourceARN": arn, "TagKeys": ["team"]})
    assert call(runtime, "ListTagsForResource", {"ResourceARN": arn})["Tags"] == [
        {"Key": "env", "Value": "prod"}
    ]
    with pytest.raises(AwsError) as error:
        call(runtime, "ListTagsForResource", {"ResourceARN": arn + "-gone"})
    assert error.value.code == "ResourceNotFoundException"
