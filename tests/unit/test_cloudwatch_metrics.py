"""Metric storage and statistics with a ManualClock: percentiles against an independent reference,
extended statistics, statistic sets, roll-up after retention, and the evaluator running on the clock."""

from __future__ import annotations

import asyncio
import math
import random
from pathlib import Path

import pytest

from onebox.aws.errors import AwsError
from onebox.clock import ManualClock
from onebox.config import Config
from onebox.runtime import Runtime
from onebox.services.cloudwatch import actions, alarms_api
from onebox.services.cloudwatch.evaluator import evaluator_for
from onebox.services.cloudwatch.ingest import put_metric_data
from onebox.services.cloudwatch.metric_store import close_metric_store, metric_store
from onebox.services.cloudwatch.queries import metric_key, stat_series
from onebox.services.cloudwatch.statistics import parse_extended
from onebox.store import Store

ACCOUNT, REGION = "000000000000", "us-east-1"
START = 1_800_000_000.0
KEY = metric_key(ACCOUNT, REGION, {"Namespace": "App", "MetricName": "Latency"})


@pytest.fixture
def runtime(tmp_path: Path):
    clock = ManualClock(START)
    store = Store.memory(clock)
    box = Runtime(config=Config(state_dir=tmp_path), clock=clock, store=store, credentials=None)  # type: ignore[arg-type]
    yield box
    close_metric_store(box)
    store.close()


def reference_percentile(values: list[float], pct: float) -> float:
    """numpy.percentile(values, pct, method="inverted_cdf"), written out: the smallest value whose
    empirical CDF reaches pct%."""
    ordered = sorted(values)
    for index, value in enumerate(ordered, start=1):
        if index / len(ordered) >= pct / 100 - 1e-12:
            return value
    return ordered[-1]


@pytest.mark.parametrize("pct", [50, 90, 95, 99, 99.9, 10, 1])
def test_percentiles_match_the_reference(runtime: Runtime, pct: float) -> None:
    rng = random.Random(pct)
    values = [round(rng.lognormvariate(3, 1), 3) for _ in range(1000)]
    for chunk in range(0, 1000, 150):  # PutMetricData takes at most 150 values per datum
        put_metric_data(
            runtime,
            ACCOUNT,
            REGION,
            "App",
            [{"MetricName": "Latency", "Values": values[chunk : chunk + 150]}],
        )
    series = stat_series(runtime, KEY, f"p{pct}", int(START), START + 60, 60)
    assert series == {int(START): reference_percentile(values, pct)}


def test_extended_statistics_over_known_data(runtime: Runtime) -> None:
    values = [float(v) for v in range(1, 21)]
    put_metric_data(runtime, ACCOUNT, REGION, "App", [{"MetricName": "Latency", "Values": values}])

    def stat(name: str) -> float:
        return stat_series(runtime, KEY, name, int(START), START + 60, 60)[int(START)]

    assert stat("tm90") == sum(range(1, 19)) / 18  # drops the top 10% (19, 20)
    assert stat("TM(10%:90%)") == sum(range(3, 19)) / 16  # more than p10 (2), at most p90 (18)
    assert stat("IQM") == sum(range(6, 16)) / 10
    assert stat("wm90") == (sum(range(1, 19)) + 18 * 2) / 20
    assert stat("TC(5:10)") == 5 and stat("TS(5:10)") == sum(range(6, 11))
    assert stat("PR(:5)") == 25.0
    assert stat("p100") == 20 and stat("Average") == 10.5 and stat("SampleCount") == 20


def test_statistic_sets_count_but_do_not_feed_percentiles(runtime: Runtime) -> None:
    put_metric_data(
        runtime,
        ACCOUNT,
        REGION,
        "App",
        [
            {
                "MetricName": "Latency",
                "StatisticValues": {"SampleCount": 4, "Sum": 10, "Minimum": 1, "Maximum": 4},
            },
            {"MetricName": "Latency", "Values": [5.0], "Counts": [2.0]},
        ],
    )
    assert stat_series(runtime, KEY, "SampleCount", int(START), START + 60, 60) == {int(START): 6.0}
    assert stat_series(runtime, KEY, "Average", int(START), START + 60, 60) == {int(START): 20 / 6}
    assert stat_series(runtime, KEY, "p50", int(START), START + 60, 60) == {}
    # A set of identical values qualifies.
    put_metric_data(
        runtime,
        ACCOUNT,
        REGION,
        "App",
        [
            {
                "MetricName": "Latency",
                "Timestamp": START + 60,
                "StatisticValues": {"SampleCount": 3, "Sum": 6, "Minimum": 2, "Maximum": 2},
            },
        ],
    )
    assert stat_series(runtime, KEY, "p50", int(START) + 60, START + 120, 60) == {int(START) + 60: 2.0}


def test_roll_up_after_retention_keeps_statistics(runtime: Runtime) -> None:
    clock: ManualClock = runtime.clock  # type: ignore[assignment]
    data = []
    values = []
    for second in range(0, 600, 7):  # high resolution points over 10 minutes
        value = float(second % 13)
        values.append(value)
        data.append(
            {"MetricName": "Latency", "Value": value, "Timestamp": START + second, "StorageResolution": 1}
        )
    put_metric_data(runtime, ACCOUNT, REGION, "App", data)
    store = metric_store(runtime)
    before = stat_series(runtime, KEY, "Sum", int(START), START + 600, 300)
    assert dict(store.resolutions(KEY)) == {1: len(values)}
    clock.advance(3 * 3600 + 700)  # past the 3 hours 1-second data is kept
    store.roll_up(clock.time())
    assert set(dict(store.resolutions(KEY))) == {60}
    assert stat_series(runtime, KEY, "Sum", int(START), START + 600, 300) == before
    p90 = stat_series(runtime, KEY, "p90", int(START), START + 600, 600)[int(START)]
    assert p90 == reference_percentile(values, 90)
    clock.advance(15 * 86400)
    store.roll_up(clock.time())
    assert set(dict(store.resolutions(KEY))) == {300}
    assert stat_series(runtime, KEY, "Sum", int(START), START + 600, 300) == before
    clock.advance(63 * 86400)
    store.roll_up(clock.time())
    assert set(dict(store.resolutions(KEY))) == {3600}
    assert stat_series(runtime, KEY, "Sum", int(START) // 3600 * 3600, START + 3600, 3600) == {
        int(START) // 3600 * 3600: sum(values)
    }
    clock.advance(455 * 86400)
    store.roll_up(clock.time())
    assert dict(store.resolutions(KEY)) == {}


def test_seconds_resolution_is_queryable_by_second(runtime: Runtime) -> None:
    put_metric_data(
        runtime,
        ACCOUNT,
        REGION,
        "App",
        [
            {"MetricName": "Latency", "Value": float(i), "Timestamp": START + i, "StorageResolution": 1}
            for i in range(10)
        ],
    )
    assert stat_series(runtime, KEY, "Sum", int(START), START + 10, 5) == {
        int(START): 10.0,
        int(START) + 5: 35.0,
    }
    assert len(stat_series(runtime, KEY, "Sum", int(START), START + 10, 1)) == 10


@pytest.mark.parametrize(
    "datum",
    [
        {"MetricName": "M", "Value": math.nan},
        {"MetricName": "M", "Values": [1.0, 2.0], "Counts": [1.0]},
        {"MetricName": "M", "Value": 1.0, "StorageResolution": 30},
        {"MetricName": "M", "Value": 1.0, "Dimensions": [{"Name": f"d{i}", "Value": "v"} for i in range(31)]},
        {"MetricName": "M", "Value": 1.0, "Timestamp": START + 3 * 3600},
    ],
)
def test_bad_data_is_refused_whole(runtime: Runtime, datum: dict) -> None:
    with pytest.raises(AwsError) as error:
        put_metric_data(runtime, ACCOUNT, REGION, "App", [{"MetricName": "Good", "Value": 1.0}, datum])
    assert error.value.code == "InvalidParameterValue"
    assert metric_store(runtime).metrics(ACCOUNT, REGION) == []


def test_extended_statistic_names() -> None:
    for good in (
        "p99",
        "p99.9",
        "p0",
        "tm90",
        "TM(10%:90%)",
        "TM(:95%)",
        "TM(150:1000)",
        "WM(10%:)",
        "PR(10:)",
        "IQM",
    ):
        assert parse_extended(good) is not None, good
    for bad in ("p101", "p99.999", "TM()", "PR(10%:20%)", "TM(90%:10%)", "q50", "TM(10%:100)"):
        assert parse_extended(bad) is None, bad


def test_evaluator_runs_on_the_clock(runtime: Runtime) -> None:
    """The controller's own loop: no direct reconcile calls, only the clock moving."""
    seen: list[str] = []
    previous = actions.action_handler("sns")
    actions.register_action_handler("sns", lambda _runtime, action: seen.append(action.new_state))

    async def scenario() -> None:
        evaluator = evaluator_for(runtime)
        task = asyncio.create_task(evaluator.run())
        from onebox.aws.dispatch import RequestContext

        ctx = RequestContext(runtime, "cloudwatch", "PutMetricAlarm", ACCOUNT, REGION, "r", None)  # type: ignore[arg-type]
        alarms_api.put_metric_alarm(
            ctx,
            {
                "AlarmName": "lat",
                "Namespace": "App",
                "MetricName": "Latency",
                "Statistic": "Maximum",
                "Period": 60,
                "EvaluationPeriods": 2,
                "DatapointsToAlarm": 2,
                "Threshold": 100.0,
                "ComparisonOperator": "GreaterThanThreshold",
                "AlarmActions": ["arn:aws:sns:us-east-1:000000000000:t"],
                "OKActions": ["arn:aws:sns:us-east-1:000000000000:t"],
            },
        )
        clock: ManualClock = runtime.clock  # type: ignore[assignment]
        for minute in range(4):
            put_metric_data(
                runtime,
                ACCOUNT,
                REGION,
                "App",
                [{"MetricName": "Latency", "Value": 500.0 if minute >= 1 else 1.0}],
            )
            for _ in range(6):  # ten-second resync steps through the minute
                clock.advance(10)
                for _ in range(20):
                    await asyncio.sleep(0)
        await evaluator.stop()
        await task

    try:
        asyncio.run(scenario())
    finally:
        if previous is None:
            actions.unregister_action_handler("sns")
        else:
            actions.register_action_handler("sns", previous)
    record = runtime.store.get("cloudwatch:alarm", ACCOUNT, REGION, "lat")
    assert record is not None and record.status["StateValue"] == "ALARM"
    assert seen == ["OK", "ALARM"]
