"""The seed's alarm on real data: an instance with detailed monitoring burns CPU, its own
CPUUtilization (measured from its cgroup by onebox) crosses the threshold, the alarm goes to ALARM,
notifies an SNS topic whose HTTP subscriber verifies the signed message, and its EC2 stop action
really stops the instance."""

from __future__ import annotations

import json
import os
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.test_sns_live import Subscriber, subscriber, verify  # noqa: F401 - fixture

__all__ = ["subscriber"]

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="instance CPU is measured from cgroups (root)")

# Two busy loops: all of a t3.micro's two vCPUs (100 %) on a quiet host. The host's other work shares
# the CPU (on a loaded 2-core test box the loops got 10-20 %), so the threshold sits well above an idle
# instance's ~0 % and well below what the loops get even then.
BURN = "#!/bin/sh\nfor n in 1 2; do nohup sh -c 'while :; do :; done' >/dev/null 2>&1 & done\n"
THRESHOLD = 5.0


def test_cpu_alarm_on_a_burning_instance_notifies_and_stops_it(onebox, subscriber: Subscriber) -> None:  # noqa: ANN001
    ec2, cw, sns = onebox.client("ec2"), onebox.client("cloudwatch"), onebox.client("sns")
    topic = sns.create_topic(Name=f"myapp-devops-alert-{uuid.uuid4().hex[:6]}")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=subscriber.url)
    _, confirmation = subscriber.next()
    urllib.request.urlopen(confirmation["SubscribeURL"], timeout=10).read()

    image = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "name", "Values": ["onebox-host-*"]}])
    instance_id = ec2.run_instances(
        ImageId=image["Images"][0]["ImageId"],
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        UserData=BURN,
        Monitoring={"Enabled": True},  # detailed monitoring: a datum every 10 s instead of every minute
    )["Instances"][0]["InstanceId"]
    alarm = f"my-app-cpu-{instance_id}"
    dimensions = [{"Name": "InstanceId", "Value": instance_id}]
    stop = "arn:aws:automate:us-east-1:ec2:stop"
    try:
        cw.put_metric_alarm(
            AlarmName=alarm,
            Namespace="AWS/EC2",
            MetricName="CPUUtilization",
            Dimensions=dimensions,
            Statistic="Maximum",
            Period=60,
            EvaluationPeriods=1,
            DatapointsToAlarm=1,
            Threshold=THRESHOLD,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            TreatMissingData="missing",
            AlarmActions=[topic, stop],
        )
        # The notification comes once the alarm turned ALARM on a measured point.
        _, raw = subscriber.messages.get(timeout=75)
        notification = json.loads(raw)
        assert notification["Type"] == "Notification"
        assert verify(notification)
        body = json.loads(notification["Message"])
        assert body["AlarmName"] == alarm and body["NewStateValue"] == "ALARM"
        assert body["Trigger"]["MetricName"] == "CPUUtilization" and body["Trigger"]["Namespace"] == "AWS/EC2"
        assert body["Trigger"]["Dimensions"] == [{"value": instance_id, "name": "InstanceId"}]

        described = cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]
        assert described["StateValue"] == "ALARM"
        burned = json.loads(described["StateReasonData"])["recentDatapoints"]
        assert burned and burned[-1] >= THRESHOLD
        # The point the alarm used is the instance's own CPUUtilization.
        stats = cw.get_metric_statistics(
            Namespace="AWS/EC2",
            MetricName="CPUUtilization",
            Dimensions=dimensions,
            StartTime=datetime.now(UTC) - timedelta(minutes=5),
            EndTime=datetime.now(UTC) + timedelta(minutes=1),
            Period=60,
            Statistics=["Maximum"],
        )
        assert max(point["Maximum"] for point in stats["Datapoints"]) >= THRESHOLD

        # The same alarm's EC2 action stops the instance.
        ec2.get_waiter("instance_stopped").wait(
            InstanceIds=[instance_id], WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            summaries = [
                item["HistorySummary"]
                for item in cw.describe_alarm_history(AlarmName=alarm, HistoryItemType="Action")[
                    "AlarmHistoryItems"
                ]
            ]
            if len(summaries) >= 2:
                break
            time.sleep(0.2)
        assert sorted(summaries) == sorted(
            [f"Successfully executed action {topic}", f"Successfully executed action {stop}"]
        )
    finally:
        cw.delete_alarms(AlarmNames=[alarm])
        ec2.terminate_instances(InstanceIds=[instance_id])
        ec2.get_waiter("instance_terminated").wait(
            InstanceIds=[instance_id], WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )
        sns.delete_topic(TopicArn=topic)
