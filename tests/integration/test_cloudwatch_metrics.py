"""CloudWatch metrics against a live daemon: boto3 (JSON by default), the CLI, and CBOR/query forced."""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from tests.integration.test_gateway import call_in_protocol


def _namespace() -> str:
    return f"Test/{uuid.uuid4().hex[:8]}"


def _minute(offset: int = 0) -> datetime:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now + timedelta(minutes=offset)


def test_put_and_statistics_with_percentiles(onebox) -> None:
    cw = onebox.client("cloudwatch")
    ns = _namespace()
    when = _minute(-5)
    values = [float(v) for v in range(1, 101)]
    cw.put_metric_data(
        Namespace=ns,
        MetricData=[
            {
                "MetricName": "Latency",
                "Dimensions": [{"Name": "Host", "Value": "a"}],
                "Timestamp": when,
                "Values": values,
                "Unit": "Milliseconds",
            },
        ],
    )
    stats = cw.get_metric_statistics(
        Namespace=ns,
        MetricName="Latency",
        Dimensions=[{"Name": "Host", "Value": "a"}],
        StartTime=when - timedelta(minutes=1),
        EndTime=when + timedelta(minutes=2),
        Period=60,
        Statistics=["SampleCount", "Average", "Sum", "Minimum", "Maximum"],
    )
    assert stats["Label"] == "Latency"
    [point] = stats["Datapoints"]
    assert point["Timestamp"] == when
    assert point["SampleCount"] == 100 and point["Sum"] == 5050 and point["Average"] == 50.5
    assert point["Minimum"] == 1 and point["Maximum"] == 100 and point["Unit"] == "Milliseconds"
    extended = cw.get_metric_statistics(
        Namespace=ns,
        MetricName="Latency",
        Dimensions=[{"Name": "Host", "Value": "a"}],
        StartTime=when,
        EndTime=when + timedelta(minutes=1),
        Period=60,
        ExtendedStatistics=["p50", "p90", "p99.9", "tm90", "IQM", "TC(10:20)", "PR(:50)"],
    )
    ext = extended["Datapoints"][0]["ExtendedStatistics"]
    assert ext["p50"] == 50 and ext["p90"] == 90 and ext["p99.9"] == 100
    assert ext["tm90"] == sum(range(1, 91)) / 90
    assert ext["IQM"] == sum(range(26, 76)) / 50
    assert ext["TC(10:20)"] == 10
    assert ext["PR(:50)"] == 50


def test_put_metric_data_errors_change_nothing(onebox) -> None:
    cw = onebox.client("cloudwatch")
    ns = _namespace()
    with pytest.raises(ClientError) as error:
        cw.put_metric_data(Namespace=ns, MetricData=[{"MetricName": "M", "Value": 1, "Values": [1.0]}])
    assert error.value.response["Error"]["Code"] == "InvalidParameterCombination"
    with pytest.raises(ClientError) as error:
        cw.put_metric_data(Namespace="AWS/EC2", MetricData=[{"MetricName": "M", "Value": 1}])
    assert error.value.response["Error"]["Code"] == "InvalidParameterValue"
    with pytest.raises(ClientError) as error:
        cw.put_metric_data(
            Namespace=ns, MetricData=[{"MetricName": "M", "Value": 1, "Timestamp": _minute(-60 * 24 * 15)}]
        )
    assert error.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert cw.list_metrics(Namespace=ns)["Metrics"] == []


def test_get_metric_data_stats_math_and_pagination(onebox) -> None:
    cw = onebox.client("cloudwatch")
    ns = _namespace()
    start = _minute(-30)
    data = []
    for minute in range(10):
        data.append(
            {"MetricName": "Requests", "Timestamp": start + timedelta(minutes=minute), "Value": 10.0 * minute}
        )
        data.append(
            {"MetricName": "Errors", "Timestamp": start + timedelta(minutes=minute), "Value": float(minute)}
        )
    cw.put_metric_data(Namespace=ns, MetricData=data)

    def stat(metric: str) -> dict:
        return {"Metric": {"Namespace": ns, "MetricName": metric}, "Period": 60, "Stat": "Sum"}

    queries = [
        {"Id": "req", "MetricStat": stat("Requests"), "ReturnData": False},
        {"Id": "err", "MetricStat": stat("Errors")},
        {"Id": "ratio", "Expression": "100 * err / req", "Label": "ErrorRate"},
        {"Id": "rate", "Expression": "RATE(req)"},
        {"Id": "total", "Expression": "SUM([req, err])"},
        {"Id": "filled", "Expression": "FILL(err, 0)"},
    ]
    result = cw.get_metric_data(
        MetricDataQueries=queries,
        StartTime=start,
        EndTime=start + timedelta(minutes=12),
        ScanBy="TimestampAscending",
    )
    by_id = {r["Id"]: r for r in result["MetricDataResults"]}
    assert set(by_id) == {"err", "ratio", "rate", "total", "filled"}
    assert by_id["err"]["Values"] == [float(m) for m in range(10)]
    assert by_id["ratio"]["Label"] == "ErrorRate"
    assert by_id["ratio"]["Values"] == [10.0] * 9  # minute 0 divides by zero and is dropped
    assert by_id["rate"]["Values"] == [10.0 / 60] * 9
    assert by_id["total"]["Values"] == [11.0 * m for m in range(10)]
    assert by_id["filled"]["Values"] == [float(m) for m in range(10)] + [0.0, 0.0]
    assert all(r["StatusCode"] == "Complete" for r in result["MetricDataResults"])

    pages = []
    token = None
    while True:
        kwargs = {"NextToken": token} if token else {}
        page = cw.get_metric_data(
            MetricDataQueries=[{"Id": "err", "MetricStat": stat("Errors")}],
            StartTime=start,
            EndTime=start + timedelta(minutes=12),
            MaxDatapoints=4,
            **kwargs,
        )
        pages.append(page["MetricDataResults"][0]["Values"])
        token = page.get("NextToken")
        if not token:
            break
    assert [len(p) for p in pages] == [4, 4, 2]
    assert sum(pages, []) == [float(m) for m in reversed(range(10))]  # TimestampDescending by default


def test_list_metrics_filters_and_recently_active(onebox) -> None:
    cw = onebox.client("cloudwatch")
    ns = _namespace()
    cw.put_metric_data(
        Namespace=ns,
        MetricData=[
            {"MetricName": "CPU", "Dimensions": [{"Name": "InstanceId", "Value": "i-1"}], "Value": 1},
            {"MetricName": "CPU", "Dimensions": [{"Name": "InstanceId", "Value": "i-2"}], "Value": 1},
            {
                "MetricName": "Disk",
                "Dimensions": [{"Name": "InstanceId", "Value": "i-1"}, {"Name": "Dev", "Value": "sda"}],
                "Value": 1,
            },
        ],
    )
    assert len(cw.list_metrics(Namespace=ns)["Metrics"]) == 3
    assert len(cw.list_metrics(Namespace=ns, MetricName="CPU")["Metrics"]) == 2
    only = cw.list_metrics(Namespace=ns, Dimensions=[{"Name": "InstanceId", "Value": "i-1"}])["Metrics"]
    assert sorted(m["MetricName"] for m in only) == ["CPU", "Disk"]
    assert len(cw.list_metrics(Namespace=ns, Dimensions=[{"Name": "Dev"}])["Metrics"]) == 1
    assert len(cw.list_metrics(Namespace=ns, RecentlyActive="PT3H")["Metrics"]) == 3


@pytest.mark.parametrize("protocol", ["smithy-rpc-v2-cbor", "query", "json"])
def test_every_wire_protocol(onebox, protocol: str) -> None:
    ns = _namespace()
    when = _minute(-2)
    status, _ = call_in_protocol(
        onebox,
        "cloudwatch",
        "PutMetricData",
        {
            "Namespace": ns,
            "MetricData": [
                {"MetricName": "M", "Timestamp": when, "Values": [1.0, 2.0, 3.0], "Counts": [1.0, 1.0, 2.0]}
            ],
        },
        protocol,
    )
    assert status == 200
    status, parsed = call_in_protocol(
        onebox,
        "cloudwatch",
        "GetMetricStatistics",
        {
            "Namespace": ns,
            "MetricName": "M",
            "StartTime": when,
            "EndTime": when + timedelta(minutes=1),
            "Period": 60,
            "Statistics": ["Sum", "SampleCount"],
        },
        protocol,
    )
    assert status == 200, parsed
    [point] = parsed["Datapoints"]
    assert point["Sum"] == 9.0 and point["SampleCount"] == 4.0
    status, parsed = call_in_protocol(
        onebox,
        "cloudwatch",
        "GetMetricData",
        {
            "MetricDataQueries": [
                {
                    "Id": "m",
                    "MetricStat": {
                        "Metric": {"Namespace": ns, "MetricName": "M"},
                        "Period": 60,
                        "Stat": "p50",
                    },
                }
            ],
            "StartTime": when,
            "EndTime": when + timedelta(minutes=1),
        },
        protocol,
    )
    assert status == 200, parsed
    assert parsed["MetricDataResults"][0]["Values"] == [2.0]
    status, parsed = call_in_protocol(onebox, "cloudwatch", "ListMetrics", {"Namespace": ns}, protocol)
    assert status == 200 and parsed["Metrics"][0]["MetricName"] == "M"


def test_cli_put_and_get(onebox) -> None:
    ns = _namespace()
    onebox.aws("cloudwatch", "put-metric-data", "--namespace", ns, "--metric-name", "Hits", "--value", "7")
    out = json.loads(onebox.aws("cloudwatch", "list-metrics", "--namespace", ns).stdout)
    assert out["Metrics"] == [{"Namespace": ns, "MetricName": "Hits", "Dimensions": []}]
    now = datetime.now(UTC)
    stats = json.loads(
        onebox.aws(
            "cloudwatch",
            "get-metric-statistics",
            "--namespace",
            ns,
            "--metric-name",
            "Hits",
            "--start-time",
            (now - timedelta(minutes=5)).isoformat(),
            "--end-time",
            (now + timedelta(minutes=1)).isoformat(),
            "--period",
            "60",
            "--statistics",
            "Maximum",
        ).stdout
    )
    assert [p["Maximum"] for p in stats["Datapoints"]] == [7.0]
    assert not math.isnan(stats["Datapoints"][0]["Maximum"])


def test_points_and_alarms_survive_a_restart(fresh_onebox) -> None:
    cw = fresh_onebox.client("cloudwatch")
    when = _minute(-3)
    cw.put_metric_data(
        Namespace="Keep", MetricData=[{"MetricName": "M", "Timestamp": when, "Values": [1.0, 9.0]}]
    )
    cw.put_metric_alarm(
        AlarmName="keep",
        Namespace="Keep",
        MetricName="M",
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=5.0,
        ComparisonOperator="GreaterThanThreshold",
    )
    fresh_onebox.cli("down")  # stops right away: the buffered points must be flushed on the way out
    fresh_onebox.cli("up", "--detach")
    cw = fresh_onebox.client("cloudwatch")
    stats = cw.get_metric_statistics(
        Namespace="Keep",
        MetricName="M",
        StartTime=when,
        EndTime=when + timedelta(minutes=1),
        Period=60,
        Statistics=["Maximum", "SampleCount"],
    )
    assert [(p["Maximum"], p["SampleCount"]) for p in stats["Datapoints"]] == [(9.0, 2.0)]
    assert [a["AlarmName"] for a in cw.describe_alarms()["MetricAlarms"]] == ["keep"]
