"""Auto Scaling groups with real instances: a group across two AZs launches, replaces, grows and shrinks;
launch and termination notifications reach SNS; a 10 s high-resolution alarm runs a step policy that
adds the right step; a scheduled action fires at its time. (Instance refresh, with an ALB in front, is in test_autoscaling_alb.py.)"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.autoscaling_support import Subscriber

DEFAULT_SUBNETS = [{"Name": "default-for-az", "Values": ["true"]}]
BOUND = 90.0  # seconds any one convergence may take (instances boot in about a second here)


def wait_for(what: str, check: Callable[[], Any], bound: float = BOUND) -> Any:
    deadline = time.monotonic() + bound
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def _group(asg: Any, name: str) -> dict[str, Any]:
    return asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]


def in_service(asg: Any, name: str, count: int) -> list[dict[str, Any]] | None:
    group = _group(asg, name)
    instances = group["Instances"]
    if len(instances) == count and all(i["LifecycleState"] == "InService" for i in instances):
        return instances
    return None


@pytest.fixture
def group_setup(onebox):  # noqa: ANN001, ANN201
    ec2 = onebox.client("ec2")
    asg = onebox.client("autoscaling")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    subnets = sorted(
        ec2.describe_subnets(Filters=DEFAULT_SUBNETS)["Subnets"], key=lambda s: s["AvailabilityZone"]
    )[:2]
    template = ec2.create_launch_template(
        LaunchTemplateName=f"asg-live-{uuid.uuid4().hex[:8]}",
        LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro"},
    )["LaunchTemplate"]
    names: list[str] = []

    def create(**kwargs: Any) -> str:
        name = f"live-{uuid.uuid4().hex[:8]}"
        asg.create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"], "Version": "$Latest"},
            VPCZoneIdentifier=",".join(s["SubnetId"] for s in subnets),
            Tags=[{"Key": "app", "Value": "web", "PropagateAtLaunch": True}],
            **kwargs,
        )
        names.append(name)
        return name

    yield ec2, asg, template, subnets, create
    for name in names:
        asg.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
    for name in names:
        wait_for(
            f"{name} deleted",
            lambda n=name: (
                not asg.describe_auto_scaling_groups(AutoScalingGroupNames=[n])["AutoScalingGroups"]
            ),
        )
    ec2.delete_launch_template(LaunchTemplateId=template["LaunchTemplateId"])


def test_a_group_launches_replaces_grows_shrinks_and_runs_its_schedule(onebox, group_setup) -> None:  # noqa: ANN001
    ec2, asg, _, subnets, create = group_setup
    name = create(MinSize=1, MaxSize=4, DesiredCapacity=2)
    instances = wait_for("2 instances in service", lambda: in_service(asg, name, 2))
    assert sorted(i["AvailabilityZone"] for i in instances) == sorted(s["AvailabilityZone"] for s in subnets)
    ids = [i["InstanceId"] for i in instances]
    described = ec2.describe_instances(InstanceIds=ids)["Reservations"]
    real = [i for r in described for i in r["Instances"]]
    assert all(i["State"]["Name"] == "running" for i in real)
    for instance in real:
        tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
        assert tags["aws:autoscaling:groupName"] == name and tags["app"] == "web"
    activities = asg.describe_scaling_activities(AutoScalingGroupName=name)["Activities"]
    assert {a["StatusCode"] for a in activities} == {"Successful"}
    assert all(a["Progress"] == 100 and a["EndTime"] >= a["StartTime"] for a in activities)
    assert (
        "a user request created an AutoScalingGroup changing the desired capacity from 0 to 2."
        in activities[0]["Cause"]
    )
    assert activities[0]["Description"].startswith("Launching a new EC2 instance: i-")

    # An instance terminated behind the group's back is replaced, in the AZ it left.
    victim = ids[0]
    zone = instances[0]["AvailabilityZone"]
    ec2.terminate_instances(InstanceIds=[victim])
    replaced = wait_for(
        "a replacement",
        lambda: (s := in_service(asg, name, 2)) and victim not in [i["InstanceId"] for i in s] and s,
    )
    assert zone in [i["AvailabilityZone"] for i in replaced]
    causes = [a["Cause"] for a in asg.describe_scaling_activities(AutoScalingGroupName=name)["Activities"]]
    assert any(
        "in response to an EC2 health check indicating it has been terminated or stopped" in c for c in causes
    )

    # Launch and termination notifications reach an SNS topic's HTTP subscriber.
    sns = onebox.client("sns")
    topic = sns.create_topic(Name=f"{name}-events")["TopicArn"]
    subscriber = Subscriber()
    try:
        sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=subscriber.url)
        wait_for(
            "the subscription's confirmation",
            lambda: sns.get_topic_attributes(TopicArn=topic)["Attributes"]["SubscriptionsConfirmed"] == "1",
        )
        asg.put_notification_configuration(
            AutoScalingGroupName=name,
            TopicARN=topic,
            NotificationTypes=["autoscaling:EC2_INSTANCE_LAUNCH", "autoscaling:EC2_INSTANCE_TERMINATE"],
        )
        test = subscriber.notification("autoscaling:TEST_NOTIFICATION")
        assert test["AutoScalingGroupName"] == name
        asg.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=3)
        wait_for("3 instances", lambda: in_service(asg, name, 3))
        launched = subscriber.notification("autoscaling:EC2_INSTANCE_LAUNCH")
        assert launched["Subject"] == f'Auto Scaling: launch for group "{name}"'
        assert launched["Description"] == f"Launching a new EC2 instance: {launched['EC2InstanceId']}"
        assert (
            "a user request explicitly set group desired capacity changing the desired capacity from 2 to 3"
            in launched["Cause"]
        )
        asg.terminate_instance_in_auto_scaling_group(
            InstanceId=replaced[0]["InstanceId"], ShouldDecrementDesiredCapacity=True
        )
        terminated = subscriber.notification("autoscaling:EC2_INSTANCE_TERMINATE")
        assert terminated["EC2InstanceId"] == replaced[0]["InstanceId"]
        assert terminated["Subject"] == f'Auto Scaling: termination for group "{name}"'
    finally:
        subscriber.close()
        sns.delete_topic(TopicArn=topic)
    wait_for("2 instances after the decrementing termination", lambda: in_service(asg, name, 2))
    assert _group(asg, name)["DesiredCapacity"] == 2

    # A one-off scheduled action a few seconds ahead sets min, max and desired at its time.
    at = datetime.now(UTC) + timedelta(seconds=4)
    asg.put_scheduled_update_group_action(
        AutoScalingGroupName=name,
        ScheduledActionName="scale-down",
        StartTime=at,
        MinSize=1,
        MaxSize=3,
        DesiredCapacity=1,
    )
    wait_for("the scheduled action", lambda: in_service(asg, name, 1))
    group = _group(asg, name)
    assert (group["MinSize"], group["MaxSize"], group["DesiredCapacity"]) == (1, 3, 1)
    assert datetime.now(UTC) >= at
    assert asg.describe_scheduled_actions(AutoScalingGroupName=name)["ScheduledUpdateGroupActions"] == []
    causes = [a["Cause"] for a in asg.describe_scaling_activities(AutoScalingGroupName=name)["Activities"]]
    assert any(
        "a scheduled action update of AutoScalingGroup constraints to min: 1, max: 3, desired: 1" in c
        for c in causes
    )


def test_a_step_policy_on_a_10s_alarm(onebox, group_setup) -> None:  # noqa: ANN001
    _, asg, _, _, create = group_setup
    cloudwatch = onebox.client("cloudwatch")
    name = create(MinSize=1, MaxSize=6, DesiredCapacity=1)
    wait_for("1 instance", lambda: in_service(asg, name, 1))
    policy = asg.put_scaling_policy(
        AutoScalingGroupName=name,
        PolicyName="CPU-AddCapacity",
        PolicyType="StepScaling",
        AdjustmentType="ChangeInCapacity",
        MetricAggregationType="Average",
        EstimatedInstanceWarmup=300,
        StepAdjustments=[
            {"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 25, "ScalingAdjustment": 2},
            {"MetricIntervalLowerBound": 25, "ScalingAdjustment": 4},
        ],
    )["PolicyARN"]
    alarm = f"{name}-cpu-high"
    dimensions = [{"Name": "AutoScalingGroupName", "Value": name}]
    cloudwatch.put_metric_alarm(
        AlarmName=alarm,
        Namespace="Onebox/ASG",
        MetricName="CPUUtilization",
        Dimensions=dimensions,
        Statistic="Average",
        Period=10,
        EvaluationPeriods=2,
        DatapointsToAlarm=2,
        Threshold=50,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        AlarmActions=[policy],
    )
    try:

        def feed() -> bool:
            cloudwatch.put_metric_data(
                Namespace="Onebox/ASG",
                MetricData=[
                    {
                        "MetricName": "CPUUtilization",
                        "Dimensions": dimensions,
                        "Value": 60.0,  # 50 <= 60 < 75: the +2 step
                        "StorageResolution": 1,
                        "Timestamp": datetime.now(UTC),
                    }
                ],
            )
            return _group(asg, name)["DesiredCapacity"] != 1

        wait_for("the alarm to run the policy", feed)
        assert _group(asg, name)["DesiredCapacity"] == 3
        wait_for("3 instances", lambda: in_service(asg, name, 3))
        # While the new instances warm up, the same breach does not add more.
        for _ in range(3):
            feed()
            time.sleep(1)
        assert _group(asg, name)["DesiredCapacity"] == 3
        causes = [
            a["Cause"] for a in asg.describe_scaling_activities(AutoScalingGroupName=name)["Activities"]
        ]
        assert any(
            f"a monitor alarm {alarm} in state ALARM triggered policy CPU-AddCapacity changing the desired capacity from 1 to 3."
            in c
            for c in causes
        )
    finally:
        cloudwatch.delete_alarms(AlarmNames=[alarm])
