"""A CloudWatch alarm's EC2 action really acts on the instance: an alarm with the stop action, fed a
datapoint over its threshold, stops the running instance, and the action is in the alarm's history."""

from __future__ import annotations

from datetime import UTC, datetime


def test_alarm_stop_action_stops_the_instance(onebox) -> None:  # noqa: ANN001
    ec2 = onebox.client("ec2")
    cloudwatch = onebox.client("cloudwatch")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance_id = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro")[
        "Instances"
    ][0]["InstanceId"]
    alarm = f"stop-{instance_id}"
    dimensions = [{"Name": "InstanceId", "Value": instance_id}]
    try:
        ec2.get_waiter("instance_running").wait(
            InstanceIds=[instance_id], WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )
        cloudwatch.put_metric_alarm(
            AlarmName=alarm,
            Namespace="Onebox/Test",
            MetricName="Load",
            Dimensions=dimensions,
            Statistic="Maximum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=75,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            AlarmActions=["arn:aws:automate:us-east-1:ec2:stop"],
        )
        cloudwatch.put_metric_data(
            Namespace="Onebox/Test",
            MetricData=[
                {
                    "MetricName": "Load",
                    "Dimensions": dimensions,
                    "Value": 99.0,
                    "Timestamp": datetime.now(UTC),
                }
            ],
        )
        ec2.get_waiter("instance_stopped").wait(
            InstanceIds=[instance_id], WaiterConfig={"Delay": 1, "MaxAttempts": 90}
        )
        assert cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"] == "ALARM"
        actions = cloudwatch.describe_alarm_history(AlarmName=alarm, HistoryItemType="Action")[
            "AlarmHistoryItems"
        ]
        assert actions and "arn:aws:automate:us-east-1:ec2:stop" in actions[0]["HistorySummary"]
        assert "Failed" not in actions[0]["HistorySummary"]
    finally:
        cloudwatch.delete_alarms(AlarmNames=[alarm])
        ec2.terminate_instances(InstanceIds=[instance_id])
        ec2.get_waiter("instance_terminated").wait(
            InstanceIds=[instance_id], WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )
