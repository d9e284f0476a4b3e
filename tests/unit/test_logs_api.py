"""CloudWatch Logs handlers on a ManualClock: batch rules, tokens, retention, metric filters, tags."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from onebox.aws.credentials import CredentialStore
from onebox.aws.dispatch import RequestContext
from onebox.aws.errors import AwsError
from onebox.aws.http import HttpRequest
from onebox.clock import ManualClock
from onebox.config import Config
from onebox.runtime import Runtime
from onebox.services.logs import api as logs_api
from onebox.services.logs import metric_filters
from onebox.services.logs.model import events
from onebox.services.logs.retention import sweep
from onebox.store import Store

DAY = 86_400


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    clock = ManualClock()
    store = Store.open(tmp_path / "onebox.db", clock, synchronous="NORMAL")
    yield Runtime(config=Config(state_dir=tmp_path), clock=clock, store=store, credentials=CredentialStore())
    store.close()


def call(runtime: Runtime, operation: str, **params: Any) -> dict[str, Any]:
    ctx = RequestContext(
        runtime, "logs", operation, "000000000000", "us-east-1", "r", HttpRequest("POST", "/")
    )
    return asyncio.run(logs_api.api.call(ctx, params))


def now_ms(runtime: Runtime) -> int:
    return int(runtime.clock.time() * 1000)


def error_of(runtime: Runtime, operation: str, **params: Any) -> AwsError:
    with pytest.raises(AwsError) as error:
        call(runtime, operation, **params)
    return error.value


@pytest.fixture
def stream(runtime: Runtime) -> tuple[str, str]:
    call(runtime, "CreateLogGroup", logGroupName="/app/web")
    call(runtime, "CreateLogStream", logGroupName="/app/web", logStreamName="i-0abc")
    return "/app/web", "i-0abc"


def put(
    runtime: Runtime, messages: list[tuple[int, str]], group: str = "/app/web", name: str = "i-0abc"
) -> dict:
    return call(
        runtime,
        "PutLogEvents",
        logGroupName=group,
        logStreamName=name,
        logEvents=[{"timestamp": ts, "message": m} for ts, m in messages],
    )


def test_groups_and_streams_errors(runtime: Runtime, stream: tuple[str, str]) -> None:
    assert (
        error_of(runtime, "CreateLogGroup", logGroupName="/app/web").code == "ResourceAlreadyExistsException"
    )
    assert error_of(runtime, "CreateLogGroup", logGroupName="bad name").code == "InvalidParameterException"
    assert error_of(runtime, "CreateLogStream", logGroupName="/app/web", logStreamName="i-0abc").message == (
        "The specified log stream already exists"
    )
    assert error_of(runtime, "CreateLogStream", logGroupName="/nope", logStreamName="s").message == (
        "The specified log group does not exist."
    )
    assert (
        error_of(
            runtime,
            "PutLogEvents",
            logGroupName="/app/web",
            logStreamName="missing",
            logEvents=[{"timestamp": 1, "message": "x"}],
        ).message
        == "The specified log stream does not exist."
    )
    assert error_of(runtime, "PutRetentionPolicy", logGroupName="/app/web", retentionInDays=2).code == (
        "InvalidParameterException"
    )
    assert (
        error_of(
            runtime,
            "DescribeLogStreams",
            logGroupName="/app/web",
            logStreamNamePrefix="i",
            orderBy="LastEventTime",
        ).message
        == "Cannot order by LastEventTime with a logStreamNamePrefix."
    )


def test_put_log_events_batch_rules(runtime: Runtime, stream: tuple[str, str]) -> None:
    now = now_ms(runtime)
    assert error_of(
        runtime,
        "PutLogEvents",
        logGroupName="/app/web",
        logStreamName="i-0abc",
        logEvents=[{"timestamp": now, "message": "b"}, {"timestamp": now - 1, "message": "a"}],
    ).message == ("Log events in a single PutLogEvents request must be in chronological order.")
    span = error_of(
        runtime,
        "PutLogEvents",
        logGroupName="/app/web",
        logStreamName="i-0abc",
        logEvents=[{"timestamp": now - 25 * 3_600_000, "message": "a"}, {"timestamp": now, "message": "b"}],
    )
    assert "cannot span more than 24 hours" in span.message
    big = [{"timestamp": now, "message": "x" * 200_000} for _ in range(6)]
    assert error_of(
        runtime, "PutLogEvents", logGroupName="/app/web", logStreamName="i-0abc", logEvents=big
    ).code == ("InvalidParameterException")
    assert events(runtime).count("000000000000", "us-east-1", "/app/web") == 0  # nothing changed

    hour = 3_600_000
    old = put(runtime, [(now - 14 * DAY * 1000 - hour, "too old"), (now - 14 * DAY * 1000 + hour, "ok old")])
    assert old["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 0}
    new = put(runtime, [(now, "now"), (now + 3 * hour, "too new")])
    assert new["rejectedLogEventsInfo"] == {"tooNewLogEventStartIndex": 1}
    stored = call(
        runtime, "GetLogEvents", logGroupName="/app/web", logStreamName="i-0abc", startFromHead=True
    )
    assert [e["message"] for e in stored["events"]] == ["ok old", "now"]
    # The sequence token is ignored now, as AWS does: a wrong one is accepted.
    call(
        runtime,
        "PutLogEvents",
        logGroupName="/app/web",
        logStreamName="i-0abc",
        sequenceToken="bogus",
        logEvents=[{"timestamp": now, "message": "again"}],
    )


def test_get_log_events_tokens(runtime: Runtime, stream: tuple[str, str]) -> None:
    now = now_ms(runtime)
    put(runtime, [(now + i, f"line {i}") for i in range(10)])

    def get(**params: Any) -> dict:
        return call(
            runtime, "GetLogEvents", logGroupName="/app/web", logStreamName="i-0abc", limit=4, **params
        )

    # Default: the newest events; startFromHead: the oldest.
    assert [e["message"] for e in get()["events"]] == ["line 6", "line 7", "line 8", "line 9"]
    page = get(startFromHead=True)
    assert [e["message"] for e in page["events"]] == ["line 0", "line 1", "line 2", "line 3"]
    page = get(nextToken=page["nextForwardToken"])
    assert [e["message"] for e in page["events"]] == ["line 4", "line 5", "line 6", "line 7"]
    back = get(nextToken=page["nextBackwardToken"])
    assert [e["message"] for e in back["events"]] == ["line 0", "line 1", "line 2", "line 3"]
    page = get(nextToken=page["nextForwardToken"])
    assert [e["message"] for e in page["events"]] == ["line 8", "line 9"]
    end = get(nextToken=page["nextForwardToken"])
    assert end["events"] == [] and end["nextForwardToken"] == page["nextForwardToken"]  # the end
    # New events appear from the same forward token (tailing).
    put(runtime, [(now + 20, "line 20")])
    assert [e["message"] for e in get(nextToken=end["nextForwardToken"])["events"]] == ["line 20"]
    window = call(
        runtime,
        "GetLogEvents",
        logGroupName="/app/web",
        logStreamName="i-0abc",
        startTime=now + 2,
        endTime=now + 5,
        startFromHead=True,
    )
    assert [e["message"] for e in window["events"]] == ["line 2", "line 3", "line 4"]
    assert error_of(
        runtime, "GetLogEvents", logGroupName="/app/web", logStreamName="i-0abc", nextToken="x"
    ).code == ("InvalidParameterException")


def test_filter_log_events_across_streams(runtime: Runtime, stream: tuple[str, str]) -> None:
    call(runtime, "CreateLogStream", logGroupName="/app/web", logStreamName="i-0def")
    now = now_ms(runtime)
    put(runtime, [(now, "ERROR a"), (now + 2, "INFO b"), (now + 4, "ERROR c")])
    put(runtime, [(now + 1, "ERROR d"), (now + 3, "WARN e")], name="i-0def")
    found = call(runtime, "FilterLogEvents", logGroupName="/app/web", filterPattern="?ERROR ?WARN")
    assert [(e["logStreamName"], e["message"]) for e in found["events"]] == [
        ("i-0abc", "ERROR a"),
        ("i-0def", "ERROR d"),
        ("i-0def", "WARN e"),
        ("i-0abc", "ERROR c"),
    ]
    first = call(runtime, "FilterLogEvents", logGroupName="/app/web", filterPattern="ERROR", limit=2)
    assert [e["message"] for e in first["events"]] == ["ERROR a", "ERROR d"]
    rest = call(
        runtime,
        "FilterLogEvents",
        logGroupName="/app/web",
        filterPattern="ERROR",
        nextToken=first["nextToken"],
    )
    assert [e["message"] for e in rest["events"]] == ["ERROR c"] and "nextToken" not in rest
    only = call(runtime, "FilterLogEvents", logGroupName="/app/web", logStreamNames=["i-0def"])
    assert [e["message"] for e in only["events"]] == ["ERROR d", "WARN e"]
    prefixed = call(
        runtime,
        "FilterLogEvents",
        logGroupName="/app/web",
        logStreamNamePrefix="i-0a",
        filterPattern="-ERROR",
    )
    assert [e["message"] for e in prefixed["events"]] == ["INFO b"]


def test_retention_makes_events_disappear_on_the_clock(runtime: Runtime, stream: tuple[str, str]) -> None:
    clock = runtime.clock
    assert isinstance(clock, ManualClock)
    start = now_ms(runtime)
    put(runtime, [(start, "day zero")])
    clock.advance(2 * DAY)
    put(runtime, [(now_ms(runtime), "day two")])
    call(runtime, "PutRetentionPolicy", logGroupName="/app/web", retentionInDays=3)
    assert call(runtime, "DescribeLogGroups")["logGroups"][0]["retentionInDays"] == 3

    def messages() -> list[str]:
        found = call(
            runtime, "GetLogEvents", logGroupName="/app/web", logStreamName="i-0abc", startFromHead=True
        )
        return [e["message"] for e in found["events"]]

    assert messages() == ["day zero", "day two"]
    clock.advance(1 * DAY + 1)  # day zero's event is now older than 3 days
    assert messages() == ["day two"]
    assert [e["message"] for e in call(runtime, "FilterLogEvents", logGroupName="/app/web")["events"]] == [
        "day two"
    ]
    assert sweep(runtime, "000000000000", "us-east-1", "/app/web") == 1  # and its row is really deleted
    assert events(runtime).count("000000000000", "us-east-1", "/app/web") == 1
    # An event older than the retention period is rejected as expired.
    cutoff = now_ms(runtime) - 3 * DAY * 1000
    result = put(runtime, [(cutoff - 60_000, "stale"), (cutoff + 60_000, "fresh")])
    assert result["rejectedLogEventsInfo"] == {"expiredLogEventEndIndex": 0}
    call(runtime, "DeleteRetentionPolicy", logGroupName="/app/web")
    assert "retentionInDays" not in call(runtime, "DescribeLogGroups")["logGroups"][0]


def test_metric_filters_publish_datapoints(
    runtime: Runtime, stream: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    published: list[tuple[str, str, str, list[dict]]] = []
    monkeypatch.setattr(
        metric_filters, "put_metric_data", lambda rt, a, r, ns, data: published.append((a, r, ns, data))
    )
    call(
        runtime,
        "PutMetricFilter",
        logGroupName="/app/web",
        filterName="errors",
        filterPattern="ERROR",
        metricTransformations=[
            {"metricName": "ErrorCount", "metricNamespace": "MyApp", "metricValue": "1", "defaultValue": 0}
        ],
    )
    call(
        runtime,
        "PutMetricFilter",
        logGroupName="/app/web",
        filterName="latency",
        filterPattern="{ $.latency > 0 }",
        metricTransformations=[
            {
                "metricName": "Latency",
                "metricNamespace": "MyApp",
                "metricValue": "$.latency",
                "unit": "Milliseconds",
                "dimensions": {"Path": "$.path"},
            }
        ],
    )
    now = now_ms(runtime)
    put(
        runtime,
        [
            (now, "ERROR one"),
            (now + 1, '{"latency": 120, "path": "/a"}'),
            (now + 2, "ERROR two"),
            (now + 3, '{"latency": 5}'),
        ],
    )
    by_metric: dict[str, list[dict]] = {}
    for account, region, namespace, data in published:
        assert (account, region, namespace) == ("000000000000", "us-east-1", "MyApp")
        for datum in data:
            by_metric.setdefault(datum["MetricName"], []).append(datum)
    assert [d["Value"] for d in by_metric["ErrorCount"]] == [1.0, 1.0]
    assert int(by_metric["ErrorCount"][0]["Timestamp"].timestamp() * 1000) == now
    # The event without a `path` has no dimension value, so it yields no datapoint (as AWS).
    assert by_metric["Latency"] == [
        {
            "MetricName": "Latency",
            "Timestamp": by_metric["Latency"][0]["Timestamp"],
            "Value": 120.0,
            "Unit": "Milliseconds",
            "Dimensions": [{"Name": "Path", "Value": "/a"}],
        }
    ]
    published.clear()
    put(runtime, [(now + 10, "INFO quiet")])
    assert [(d["MetricName"], d["Value"]) for _, _, _, data in published for d in data] == [
        ("ErrorCount", 0.0)
    ]
    described = call(runtime, "DescribeMetricFilters", logGroupName="/app/web")["metricFilters"]
    assert [f["filterName"] for f in described] == ["errors", "latency"]
    assert call(runtime, "DescribeLogGroups")["logGroups"][0]["metricFilterCount"] == 2
    call(runtime, "DeleteMetricFilter", logGroupName="/app/web", filterName="errors")
    assert error_of(runtime, "DeleteMetricFilter", logGroupName="/app/web", filterName="errors").message == (
        "The specified metric filter does not exist."
    )
    assert error_of(
        runtime,
        "PutMetricFilter",
        logGroupName="/app/web",
        filterName="bad",
        filterPattern="ERROR",
        metricTransformations=[{"metricName": "M", "metricNamespace": "N", "metricValue": "$.x"}],
    ).code == ("InvalidParameterException")
    matches = call(
        runtime,
        "TestMetricFilter",
        filterPattern="[ip, user, status = 5*]",
        logEventMessages=["1.2.3.4 ann 503", "1.2.3.4 bob 200"],
    )["matches"]
    assert matches == [
        {
            "eventNumber": 1,
            "eventMessage": "1.2.3.4 ann 503",
            "extractedValues": {"$ip": "1.2.3.4", "$user": "ann", "$status": "503"},
        }
    ]


def test_tags_old_and_new_apis(runtime: Runtime, stream: tuple[str, str]) -> None:
    arn = "arn:aws:logs:us-east-1:000000000000:log-group:/app/web"
    call(runtime, "TagLogGroup", logGroupName="/app/web", tags={"env": "dev"})
    call(runtime, "TagResource", resourceArn=arn, tags={"team": "ops"})
    assert call(runtime, "ListTagsForResource", resourceArn=arn)["tags"] == {"env": "dev", "team": "ops"}
    call(runtime, "UntagLogGroup", logGroupName="/app/web", tags=["env"])
    call(runtime, "UntagResource", resourceArn=arn, tagKeys=["nothing"])
    assert call(runtime, "ListTagsLogGroup", logGroupName="/app/web")["tags"] == {"team": "ops"}
    missing = error_of(runtime, "ListTagsForResource", resourceArn=arn + "x")
    assert missing.code == "ResourceNotFoundException"


def test_describe_pagination_and_delete(runtime: Runtime) -> None:
    for i in range(7):
        call(runtime, "CreateLogGroup", logGroupName=f"/g/{i}")
    call(runtime, "CreateLogGroup", logGroupName="/other")
    first = call(runtime, "DescribeLogGroups", logGroupNamePrefix="/g/", limit=5)
    assert [g["logGroupName"] for g in first["logGroups"]] == [f"/g/{i}" for i in range(5)]
    rest = call(runtime, "DescribeLogGroups", logGroupNamePrefix="/g/", limit=5, nextToken=first["nextToken"])
    assert [g["logGroupName"] for g in rest["logGroups"]] == ["/g/5", "/g/6"] and "nextToken" not in rest
    for name in ("b", "a", "c"):
        call(runtime, "CreateLogStream", logGroupName="/other", logStreamName=name)
    call(
        runtime,
        "PutLogEvents",
        logGroupName="/other",
        logStreamName="a",
        logEvents=[{"timestamp": now_ms(runtime), "message": "x"}],
    )
    names = [
        s["logStreamName"]
        for s in call(runtime, "DescribeLogStreams", logGroupName="/other", descending=True)["logStreams"]
    ]
    assert names == ["c", "b", "a"]
    latest = call(
        runtime,
        "DescribeLogStreams",
        logGroupName="/other",
        orderBy="LastEventTime",
        descending=True,
        limit=1,
    )
    assert latest["logStreams"][0]["logStreamName"] == "a"
    call(runtime, "DeleteLogStream", logGroupName="/other", logStreamName="a")
    call(runtime, "DeleteLogGroup", logGroupName="/other")
    assert events(runtime).count("000000000000", "us-east-1", "/other") == 0
    assert error_of(runtime, "DeleteLogGroup", logGroupName="/other").code == "ResourceNotFoundException"
