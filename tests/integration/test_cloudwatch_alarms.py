"""CloudWatch alarms against a live daemon: an alarm fed by PutMetricData goes to ALARM and notifies an SNS
topic whose HTTP subscriber verifies the signed message; actions without a handler fail into history;
the CLI and all three wire protocols."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.test_gateway import call_in_protocol
from tests.integration.test_sns_live import Subscriber, subscriber, verify  # noqa: F401 - fixture

__all__ = ["subscriber"]


def _eventually(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Poll a live daemon until `check()` is truthy (the evaluator and SNS worker run on their own)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _state(cw, name: str) -> str:
    return cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"]


def test_alarm_on_put_metric_data_notifies_sns_http_subscriber(onebox, subscriber: Subscriber) -> None:
    sns = onebox.client("sns")
    cw = onebox.client("cloudwatch")
    topic = sns.create_topic(Name=_name("myapp-devops-alert"))["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=subscriber.url)
    _, confirmation = subscriber.next()
    assert confirmation["Type"] == "SubscriptionConfirmation"
    urllib.request.urlopen(confirmation["SubscribeURL"], timeout=10).read()

    namespace = _name("App")
    alarm = _name("my-app-cpu")
    cw.put_metric_alarm(
        AlarmName=alarm,
        Namespace=namespace,
        MetricName="CPUUtilization",
        Dimensions=[{"Name": "InstanceId", "Value": "i-0abc"}],
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        DatapointsToAlarm=1,
        Threshold=75.0,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="missing",
        AlarmActions=[topic],
    )
    assert _eventually(lambda: _state(cw, alarm) == "INSUFFICIENT_DATA")
    cw.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": "CPUUtilization",
                "Dimensions": [{"Name": "InstanceId", "Value": "i-0abc"}],
                "Value": 92.5,
            }
        ],
    )
    assert _eventually(lambda: _state(cw, alarm) == "ALARM")
    described = cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]
    assert described["StateReason"].startswith("Threshold Crossed: 1 out of the last 1 datapoints [92.5")
    assert json.loads(described["StateReasonData"])["recentDatapoints"] == [92.5]

    _, notification = subscriber.next()
    assert notification["Type"] == "Notification"
    assert notification["Subject"] == f'ALARM: "{alarm}" in US East (N. Virginia)'
    body = json.loads(notification["Message"])
    assert body["NewStateValue"] == "ALARM" and body["OldStateValue"] == "INSUFFICIENT_DATA"
    assert body["Trigger"]["MetricName"] == "CPUUtilization" and body["Trigger"]["Threshold"] == 75.0
    assert verify(notification)

    history = cw.describe_alarm_history(AlarmName=alarm, HistoryItemType="Action")["AlarmHistoryItems"]
    assert _eventually(
        lambda: cw.describe_alarm_history(AlarmName=alarm, HistoryItemType="Action")["AlarmHistoryItems"]
    )
    history = cw.describe_alarm_history(AlarmName=alarm, HistoryItemType="Action")["AlarmHistoryItems"]
    assert history[0]["HistorySummary"] == f"Successfully executed action {topic}"
    found = cw.describe_alarms_for_metric(
        Namespace=namespace,
        MetricName="CPUUtilization",
        Dimensions=[{"Name": "InstanceId", "Value": "i-0abc"}],
    )
    assert [a["AlarmName"] for a in found["MetricAlarms"]] == [alarm]


def test_action_without_handler_fails_into_history(onebox) -> None:
    cw = onebox.client("cloudwatch")
    alarm = _name("fn")
    namespace = _name("App")
    cw.put_metric_data(Namespace=namespace, MetricData=[{"MetricName": "Errors", "Value": 5.0}])
    function = "arn:aws:lambda:us-east-1:000000000000:function:on-alarm"
    cw.put_metric_alarm(
        AlarmName=alarm,
        Namespace=namespace,
        MetricName="Errors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanThreshold",
        AlarmActions=[function],
    )
    assert _eventually(lambda: _state(cw, alarm) == "ALARM")
    items = _eventually(
        lambda: cw.describe_alarm_history(AlarmName=alarm, HistoryItemType="Action")["AlarmHistoryItems"]
    )
    assert items[0]["HistorySummary"].startswith(f"Failed to execute action {function}")


def test_set_alarm_state_history_and_delete_with_the_cli(onebox) -> None:
    cw = onebox.client("cloudwatch")
    alarm = _name("cli")
    onebox.aws(
        "cloudwatch",
        "put-metric-alarm",
        "--alarm-name",
        alarm,
        "--namespace",
        "Cli",
        "--metric-name",
        "M",
        "--statistic",
        "Maximum",
        "--period",
        "300",
        "--evaluation-periods",
        "2",
        "--datapoints-to-alarm",
        "1",
        "--threshold",
        "3",
        "--comparison-operator",
        "LessThanThreshold",
        "--treat-missing-data",
        "notBreaching",
    )
    described = json.loads(onebox.aws("cloudwatch", "describe-alarms", "--alarm-names", alarm).stdout)
    [metric_alarm] = described["MetricAlarms"]
    assert metric_alarm["DatapointsToAlarm"] == 1 and metric_alarm["TreatMissingData"] == "notBreaching"
    assert metric_alarm["AlarmArn"] == f"arn:aws:cloudwatch:us-east-1:000000000000:alarm:{alarm}"
    # notBreaching with no data at all: OK at the first evaluation.
    assert _eventually(lambda: _state(cw, alarm) == "OK")
    onebox.aws(
        "cloudwatch",
        "set-alarm-state",
        "--alarm-name",
        alarm,
        "--state-value",
        "ALARM",
        "--state-reason",
        "drill",
    )
    # The set state holds only until the next evaluation minute, so check it in the history.
    history = cw.describe_alarm_history(AlarmName=alarm, HistoryItemType="StateUpdate")["AlarmHistoryItems"]
    drills = [item for item in history if item["HistorySummary"] == "Alarm updated from OK to ALARM"]
    assert len(drills) == 1
    assert json.loads(drills[0]["HistoryData"])["newState"]["stateReason"] == "drill"
    cw.disable_alarm_actions(AlarmNames=[alarm])
    assert cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["ActionsEnabled"] is False
    cw.delete_alarms(AlarmNames=[alarm])
    assert cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"] == []
    with pytest.raises(ClientError) as error:
        cw.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="x")
    assert error.value.response["Error"]["Code"] == "ResourceNotFound"


def test_bad_alarm_is_refused(onebox) -> None:
    cw = onebox.client("cloudwatch")
    alarm = _name("bad")
    with pytest.raises(ClientError) as error:
        cw.put_metric_alarm(
            AlarmName=alarm,
            Namespace="X",
            MetricName="M",
            Statistic="Sum",
            Period=45,
            EvaluationPeriods=1,
            Threshold=1.0,
            ComparisonOperator="GreaterThanThreshold",
        )
    assert error.value.response["Error"]["Code"] == "ValidationError"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"] == []


@pytest.mark.parametrize("protocol", ["smithy-rpc-v2-cbor", "query", "json"])
def test_alarm_operations_in_every_protocol(onebox, protocol: str) -> None:
    alarm = _name("proto")
    status, parsed = call_in_protocol(
        onebox,
        "cloudwatch",
        "PutMetricAlarm",
        {
            "AlarmName": alarm,
            "Namespace": "P",
            "MetricName": "M",
            "ExtendedStatistic": "p95",
            "Period": 60,
            "EvaluationPeriods": 3,
            "Threshold": 1.5,
            "ComparisonOperator": "GreaterThanThreshold",
        },
        protocol,
    )
    assert status == 200, parsed
    status, parsed = call_in_protocol(
        onebox,
        "cloudwatch",
        "PutCompositeAlarm",
        {"AlarmName": alarm + "-c", "AlarmRule": f'ALARM("{alarm}") OR FALSE'},
        protocol,
    )
    assert status == 200, parsed
    status, parsed = call_in_protocol(
        onebox,
        "cloudwatch",
        "DescribeAlarms",
        {"AlarmNamePrefix": alarm, "AlarmTypes": ["MetricAlarm", "CompositeAlarm"]},
        protocol,
    )
    assert status == 200, parsed
    assert parsed["MetricAlarms"][0]["ExtendedStatistic"] == "p95"
    assert parsed["CompositeAlarms"][0]["AlarmRule"] == f'ALARM("{alarm}") OR FALSE'
    start = datetime.now(UTC) - timedelta(hours=1)
    status, parsed = call_in_protocol(
        onebox, "cloudwatch", "DescribeAlarmHistory", {"AlarmName": alarm, "StartDate": start}, protocol
    )
    assert status == 200 and parsed["AlarmHistoryItems"][-1]["HistoryItemType"] == "ConfigurationUpdate"
    status, parsed = call_in_protocol(
        onebox, "cloudwatch", "DeleteAlarms", {"AlarmNames": [alarm, alarm + "-c"]}, protocol
    )
    assert status == 200, parsed
