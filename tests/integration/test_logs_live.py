"""CloudWatch Logs against a live daemon, through boto3 (with its paginators) and the AWS CLI."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError


def now_ms() -> int:
    return int(time.time() * 1000)


def test_groups_streams_events_boto3(onebox) -> None:
    logs = onebox.client("logs")
    logs.create_log_group(logGroupName="/seed/php", tags={"app": "php"})
    logs.create_log_stream(logGroupName="/seed/php", logStreamName="i-0123456789abcdef0")
    with pytest.raises(ClientError) as error:
        logs.create_log_group(logGroupName="/seed/php")
    assert error.value.response["Error"]["Code"] == "ResourceAlreadyExistsException"
    start = now_ms()
    lines = [
        "Nov 27 10:00:01 web php-fpm: ERROR connection refused",
        '{"level": "info", "latency": 35, "path": "/"}',
        '{"level": "warn", "latency": 420, "path": "/upload"}',
        "Nov 27 10:00:04 web cron: job done",
    ]
    result = logs.put_log_events(
        logGroupName="/seed/php",
        logStreamName="i-0123456789abcdef0",
        logEvents=[{"timestamp": start + i, "message": line} for i, line in enumerate(lines)],
    )
    assert "rejectedLogEventsInfo" not in result
    got = logs.get_log_events(
        logGroupName="/seed/php", logStreamName="i-0123456789abcdef0", startFromHead=True
    )
    assert [e["message"] for e in got["events"]] == lines
    assert got["nextForwardToken"].startswith("f/") and got["nextBackwardToken"].startswith("b/")

    def filtered(pattern: str) -> list[str]:
        pages = logs.get_paginator("filter_log_events").paginate(
            logGroupName="/seed/php", filterPattern=pattern
        )
        return [event["message"] for page in pages for event in page["events"]]

    assert filtered("ERROR") == [lines[0]]
    assert filtered('"job done"') == [lines[3]]
    assert filtered("?ERROR ?cron") == [lines[0], lines[3]]
    assert filtered("Nov -cron") == [lines[0]]
    assert filtered("{ $.latency > 100 }") == [lines[2]]
    assert filtered('{ $.level = "info" || $.path = "/up*" }') == [lines[1], lines[2]]
    streams = logs.describe_log_streams(logGroupName="/seed/php")["logStreams"]
    assert streams[0]["logStreamName"] == "i-0123456789abcdef0"
    assert streams[0]["firstEventTimestamp"] == start and streams[0]["lastEventTimestamp"] == start + 3
    with pytest.raises(ClientError) as error:
        logs.put_log_events(
            logGroupName="/seed/php",
            logStreamName="i-0123456789abcdef0",
            logEvents=[{"timestamp": start + 5, "message": "b"}, {"timestamp": start, "message": "a"}],
        )
    assert error.value.response["Error"]["Code"] == "InvalidParameterException"
    with pytest.raises(ClientError) as error:
        logs.get_log_events(logGroupName="/seed/missing", logStreamName="x")
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"
    logs.delete_log_group(logGroupName="/seed/php")


def test_describe_log_groups_paginates(onebox) -> None:
    logs = onebox.client("logs", region_name="eu-central-1")
    names = [f"/page/{i:02d}" for i in range(55)]
    for name in names:
        logs.create_log_group(logGroupName=name)
    first = logs.describe_log_groups(logGroupNamePrefix="/page/")
    assert len(first["logGroups"]) == 50 and "nextToken" in first
    pages = logs.get_paginator("describe_log_groups").paginate(
        logGroupNamePrefix="/page/", PaginationConfig={"PageSize": 7}
    )
    assert [g["logGroupName"] for page in pages for g in page["logGroups"]] == names
    for name in names:
        logs.delete_log_group(logGroupName=name)


def test_cli_retention_tags_and_metric_filters(onebox) -> None:
    group = "/seed/cli"
    onebox.aws("logs", "create-log-group", "--log-group-name", group)
    onebox.aws("logs", "put-retention-policy", "--log-group-name", group, "--retention-in-days", "7")
    bad = onebox.aws(
        "logs", "put-retention-policy", "--log-group-name", group, "--retention-in-days", "8", check=False
    )
    assert bad.returncode != 0 and "InvalidParameterException" in bad.stderr
    onebox.aws("logs", "tag-log-group", "--log-group-name", group, "--tags", "team=ops")
    described = json.loads(onebox.aws("logs", "describe-log-groups", "--log-group-name-prefix", group).stdout)
    assert described["logGroups"][0]["retentionInDays"] == 7
    arn = described["logGroups"][0]["logGroupArn"]
    tags = json.loads(onebox.aws("logs", "list-tags-for-resource", "--resource-arn", arn).stdout)
    assert tags["tags"] == {"team": "ops"}
    onebox.aws(
        "logs", "put-metric-filter", "--log-group-name", group, "--filter-name", "errors",
        "--filter-pattern", "ERROR", "--metric-transformations",
        "metricName=ErrorCount,metricNamespace=Seed/Logs,metricValue=1",
    )  # fmt: skip
    filters = json.loads(onebox.aws("logs", "describe-metric-filters", "--log-group-name", group).stdout)
    assert filters["metricFilters"][0]["metricTransformations"][0]["metricName"] == "ErrorCount"
    tested = json.loads(
        onebox.aws(
            "logs", "test-metric-filter", "--filter-pattern", "{ $.code = 5* }", "--log-event-messages",
            '{"code": "503"}', '{"code": "200"}',
        ).stdout
    )  # fmt: skip
    assert [m["eventNumber"] for m in tested["matches"]] == [1]
    onebox.aws("logs", "delete-log-group", "--log-group-name", group)


def test_metric_filter_datapoint_reaches_cloudwatch(onebox) -> None:
    logs = onebox.client("logs")
    cloudwatch = onebox.client("cloudwatch")
    logs.create_log_group(logGroupName="/seed/metrics")
    logs.create_log_stream(logGroupName="/seed/metrics", logStreamName="web-1")
    logs.put_metric_filter(
        logGroupName="/seed/metrics",
        filterName="latency",
        filterPattern="{ $.latency > 0 }",
        metricTransformations=[
            {
                "metricName": "Latency",
                "metricNamespace": "Seed/App",
                "metricValue": "$.latency",
                "unit": "Milliseconds",
            }
        ],
    )
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    stamp = int(now.timestamp() * 1000) + 1000
    logs.put_log_events(
        logGroupName="/seed/metrics",
        logStreamName="web-1",
        logEvents=[
            {"timestamp": stamp, "message": '{"latency": 100}'},
            {"timestamp": stamp + 1, "message": "not json"},
            {"timestamp": stamp + 2, "message": '{"latency": 300}'},
        ],
    )
    stats = cloudwatch.get_metric_statistics(
        Namespace="Seed/App",
        MetricName="Latency",
        StartTime=now - timedelta(minutes=1),
        EndTime=now + timedelta(minutes=2),
        Period=60,
        Statistics=["SampleCount", "Average", "Maximum"],
    )
    points = stats["Datapoints"]
    assert len(points) == 1
    assert (points[0]["SampleCount"], points[0]["Average"], points[0]["Maximum"]) == (2.0, 200.0, 300.0)
    assert points[0]["Unit"] == "Milliseconds"
    logs.delete_log_group(logGroupName="/seed/metrics")
