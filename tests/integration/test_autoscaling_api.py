"""The Auto Scaling API through boto3 and the AWS CLI: AWS's defaults, names and errors. Groups here keep
desired capacity 0, so nothing launches (the live tests launch real instances)."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

DEFAULT_SUBNETS = [{"Name": "default-for-az", "Values": ["true"]}]


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def setup(onebox):  # noqa: ANN001, ANN201
    ec2 = onebox.client("ec2")
    asg = onebox.client("autoscaling")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    subnets = sorted(
        ec2.describe_subnets(Filters=DEFAULT_SUBNETS)["Subnets"], key=lambda s: s["AvailabilityZone"]
    )
    template = ec2.create_launch_template(
        LaunchTemplateName=_name("lt"), LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro"}
    )["LaunchTemplate"]
    yield ec2, asg, image, subnets, template
    ec2.delete_launch_template(LaunchTemplateId=template["LaunchTemplateId"])


def _group_desired(asg, name: str) -> int:  # noqa: ANN001
    return asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0][
        "DesiredCapacity"
    ]


def _error(call, *args, **kwargs) -> tuple[str, int, str]:  # noqa: ANN001
    with pytest.raises(ClientError) as error:
        call(*args, **kwargs)
    response = error.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


def test_groups_defaults_errors_and_deletion(onebox, setup) -> None:  # noqa: ANN001
    _, asg, _, subnets, template = setup
    name = _name("api")
    zones = ",".join(s["SubnetId"] for s in subnets[:2])
    lt = {"LaunchTemplateId": template["LaunchTemplateId"]}
    assert _error(
        asg.create_auto_scaling_group,
        AutoScalingGroupName=name,
        MinSize=0,
        MaxSize=1,
        VPCZoneIdentifier=zones,
    )[:2] == ("ValidationError", 400)
    code, status, message = _error(
        asg.create_auto_scaling_group,
        AutoScalingGroupName=name,
        MinSize=3,
        MaxSize=1,
        LaunchTemplate=lt,
        VPCZoneIdentifier=zones,
    )
    assert (code, status) == (
        "ValidationError",
        400,
    ) and "must be greater than or equal to min bound" in message
    code, _, message = _error(
        asg.create_auto_scaling_group,
        AutoScalingGroupName=name,
        MinSize=0,
        MaxSize=2,
        DesiredCapacity=5,
        LaunchTemplate=lt,
        VPCZoneIdentifier=zones,
    )
    assert code == "ValidationError" and "Desired capacity:5" in message
    code, _, message = _error(
        asg.create_auto_scaling_group,
        AutoScalingGroupName=name,
        MinSize=0,
        MaxSize=2,
        LaunchTemplate=lt,
        VPCZoneIdentifier="subnet-0123456789abcdef0",
    )
    assert code == "ValidationError" and "subnet" in message
    code, _, message = _error(
        asg.create_auto_scaling_group,
        AutoScalingGroupName=name,
        MinSize=0,
        MaxSize=2,
        LaunchTemplate={"LaunchTemplateName": "no-such-template"},
        VPCZoneIdentifier=zones,
    )
    assert code == "ValidationError" and "launch template" in message
    assert (
        _error(
            asg.create_auto_scaling_group, AutoScalingGroupName=name, MinSize=0, MaxSize=2, LaunchTemplate=lt
        )[0]
        == "ValidationError"
    )
    assert (
        asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"] == []
    )  # nothing changed

    asg.create_auto_scaling_group(
        AutoScalingGroupName=name,
        MinSize=0,
        MaxSize=4,
        LaunchTemplate=lt,
        VPCZoneIdentifier=zones,
        Tags=[{"Key": "tier", "Value": "web", "PropagateAtLaunch": True}],
    )
    assert (
        _error(
            asg.create_auto_scaling_group,
            AutoScalingGroupName=name,
            MinSize=0,
            MaxSize=1,
            LaunchTemplate=lt,
            VPCZoneIdentifier=zones,
        )[0]
        == "AlreadyExists"
    )
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    assert group["DesiredCapacity"] == 0 and group["DefaultCooldown"] == 300
    assert group["HealthCheckType"] == "EC2" and group["HealthCheckGracePeriod"] == 0
    assert group["TerminationPolicies"] == ["Default"] and group["NewInstancesProtectedFromScaleIn"] is False
    assert group["AvailabilityZones"] == [s["AvailabilityZone"] for s in subnets[:2]]
    assert group["LaunchTemplate"]["Version"] == "$Default" and group["Instances"] == []
    assert group["AutoScalingGroupARN"].startswith(
        "arn:aws:autoscaling:us-east-1:000000000000:autoScalingGroup:"
    )
    assert group["AutoScalingGroupARN"].endswith(f":autoScalingGroupName/{name}")
    assert group["Tags"] == [
        {
            "ResourceId": name,
            "ResourceType": "auto-scaling-group",
            "Key": "tier",
            "Value": "web",
            "PropagateAtLaunch": True,
        }
    ]

    code, _, message = _error(asg.set_desired_capacity, AutoScalingGroupName=name, DesiredCapacity=9)
    assert code == "ValidationError" and "above max value 4" in message
    assert (
        _error(asg.set_desired_capacity, AutoScalingGroupName="missing", DesiredCapacity=1)[0]
        == "ValidationError"
    )
    asg.update_auto_scaling_group(
        AutoScalingGroupName=name, MaxSize=6, HealthCheckGracePeriod=30, DefaultInstanceWarmup=20
    )
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    assert (group["MaxSize"], group["HealthCheckGracePeriod"], group["DefaultInstanceWarmup"]) == (6, 30, 20)

    # Tags, processes, metrics, notifications.
    asg.create_or_update_tags(
        Tags=[
            {
                "ResourceId": name,
                "ResourceType": "auto-scaling-group",
                "Key": "team",
                "Value": "a",
                "PropagateAtLaunch": False,
            }
        ]
    )
    tags = asg.describe_tags(Filters=[{"Name": "auto-scaling-group", "Values": [name]}])["Tags"]
    assert [t["Key"] for t in tags] == ["tier", "team"]
    asg.delete_tags(Tags=[{"ResourceId": name, "ResourceType": "auto-scaling-group", "Key": "team"}])
    assert len(asg.describe_tags(Filters=[{"Name": "auto-scaling-group", "Values": [name]}])["Tags"]) == 1
    asg.suspend_processes(AutoScalingGroupName=name, ScalingProcesses=["AZRebalance", "AlarmNotification"])
    suspended = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0][
        "SuspendedProcesses"
    ]
    assert sorted(p["ProcessName"] for p in suspended) == ["AZRebalance", "AlarmNotification"]
    asg.resume_processes(AutoScalingGroupName=name)
    assert (
        asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0][
            "SuspendedProcesses"
        ]
        == []
    )
    assert (
        _error(asg.suspend_processes, AutoScalingGroupName=name, ScalingProcesses=["Nope"])[0]
        == "ValidationError"
    )
    asg.enable_metrics_collection(
        AutoScalingGroupName=name, Granularity="1Minute", Metrics=["GroupDesiredCapacity"]
    )
    enabled = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0][
        "EnabledMetrics"
    ]
    assert enabled == [{"Metric": "GroupDesiredCapacity", "Granularity": "1Minute"}]
    sns = onebox.client("sns")
    topic = sns.create_topic(Name=_name("asg-events"))["TopicArn"]
    asg.put_notification_configuration(
        AutoScalingGroupName=name, TopicARN=topic, NotificationTypes=["autoscaling:EC2_INSTANCE_LAUNCH"]
    )
    configs = asg.describe_notification_configurations(AutoScalingGroupNames=[name])[
        "NotificationConfigurations"
    ]
    assert configs == [
        {
            "AutoScalingGroupName": name,
            "TopicARN": topic,
            "NotificationType": "autoscaling:EC2_INSTANCE_LAUNCH",
        }
    ]
    asg.delete_notification_configuration(AutoScalingGroupName=name, TopicARN=topic)
    sns.delete_topic(TopicArn=topic)

    limits = asg.describe_account_limits()
    assert limits["MaxNumberOfAutoScalingGroups"] == 500 and limits["NumberOfAutoScalingGroups"] >= 1
    assert [t["AdjustmentType"] for t in asg.describe_adjustment_types()["AdjustmentTypes"]] == [
        "ChangeInCapacity",
        "ExactCapacity",
        "PercentChangeInCapacity",
    ]
    asg.delete_auto_scaling_group(AutoScalingGroupName=name)
    assert _error(asg.describe_policies, AutoScalingGroupName=name)[0] == "ValidationError"


def test_launch_configurations(onebox, setup) -> None:  # noqa: ANN001
    _, asg, image, subnets, _ = setup
    name = _name("lc")
    asg.create_launch_configuration(LaunchConfigurationName=name, ImageId=image, InstanceType="t3.micro")
    assert (
        _error(
            asg.create_launch_configuration,
            LaunchConfigurationName=name,
            ImageId=image,
            InstanceType="t3.micro",
        )[0]
        == "AlreadyExists"
    )
    assert (
        _error(
            asg.create_launch_configuration,
            LaunchConfigurationName=_name("lc"),
            ImageId="ami-00000000000000000",
            InstanceType="t3.micro",
        )[0]
        == "ValidationError"
    )
    config = asg.describe_launch_configurations(LaunchConfigurationNames=[name])["LaunchConfigurations"][0]
    assert config["ImageId"] == image and config["InstanceMonitoring"] == {"Enabled": True}
    group = _name("lcg")
    asg.create_auto_scaling_group(
        AutoScalingGroupName=group,
        LaunchConfigurationName=name,
        MinSize=0,
        MaxSize=1,
        VPCZoneIdentifier=subnets[0]["SubnetId"],
    )
    assert _error(asg.delete_launch_configuration, LaunchConfigurationName=name)[0] == "ResourceInUse"
    assert (
        _error(
            asg.create_auto_scaling_group,
            AutoScalingGroupName=_name("x"),
            LaunchConfigurationName="missing",
            MinSize=0,
            MaxSize=1,
            VPCZoneIdentifier=subnets[0]["SubnetId"],
        )[0]
        == "ValidationError"
    )
    asg.delete_auto_scaling_group(AutoScalingGroupName=group)
    asg.delete_launch_configuration(LaunchConfigurationName=name)
    assert asg.describe_launch_configurations(LaunchConfigurationNames=[name])["LaunchConfigurations"] == []


def test_policies_alarms_schedules_and_hooks(onebox, setup) -> None:  # noqa: ANN001
    _, asg, _, subnets, template = setup
    cloudwatch = onebox.client("cloudwatch")
    name = _name("pol")
    asg.create_auto_scaling_group(
        AutoScalingGroupName=name,
        MinSize=0,
        MaxSize=10,
        LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"]},
        VPCZoneIdentifier=subnets[0]["SubnetId"],
    )
    step = asg.put_scaling_policy(
        AutoScalingGroupName=name,
        PolicyName="CPU-AddCapacity",
        PolicyType="StepScaling",
        AdjustmentType="ChangeInCapacity",
        EstimatedInstanceWarmup=300,
        StepAdjustments=[
            {"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 25, "ScalingAdjustment": 2},
            {"MetricIntervalLowerBound": 25, "ScalingAdjustment": 4},
        ],
    )
    assert ":scalingPolicy:" in step["PolicyARN"] and step["PolicyARN"].endswith(
        f":autoScalingGroupName/{name}:policyName/CPU-AddCapacity"
    )
    code, _, message = _error(
        asg.put_scaling_policy,
        AutoScalingGroupName=name,
        PolicyName="bad",
        PolicyType="StepScaling",
        AdjustmentType="ChangeInCapacity",
        StepAdjustments=[
            {"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 20, "ScalingAdjustment": 1},
            {"MetricIntervalLowerBound": 10, "ScalingAdjustment": 2},
        ],
    )
    assert code == "ValidationError" and "overlap" in message
    assert (
        _error(
            asg.put_scaling_policy,
            AutoScalingGroupName=name,
            PolicyName="bad",
            PolicyType="StepScaling",
            AdjustmentType="ChangeInCapacity",
            Cooldown=60,
            StepAdjustments=[{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}],
        )[0]
        == "ValidationError"
    )
    assert (
        _error(
            asg.put_scaling_policy,
            AutoScalingGroupName=name,
            PolicyName="bad",
            AdjustmentType="ChangeInCapacity",
            ScalingAdjustment=1,
            MinAdjustmentMagnitude=2,
        )[0]
        == "ValidationError"
    )
    tracking = asg.put_scaling_policy(
        AutoScalingGroupName=name,
        PolicyName="Maintain-CPU-at-40",
        PolicyType="TargetTrackingScaling",
        TargetTrackingConfiguration={
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"},
            "TargetValue": 40.0,
        },
    )
    alarm_names = [a["AlarmName"] for a in tracking["Alarms"]]
    assert alarm_names[0].startswith(f"TargetTracking-{name}-AlarmHigh-") and alarm_names[1].startswith(
        f"TargetTracking-{name}-AlarmLow-"
    )
    alarms = {a["AlarmName"]: a for a in cloudwatch.describe_alarms(AlarmNames=alarm_names)["MetricAlarms"]}
    high, low = alarms[alarm_names[0]], alarms[alarm_names[1]]
    assert (high["EvaluationPeriods"], high["Period"], high["Threshold"], high["ComparisonOperator"]) == (
        3,
        60,
        40.0,
        "GreaterThanThreshold",
    )
    assert (low["EvaluationPeriods"], low["ComparisonOperator"]) == (15, "LessThanThreshold") and low[
        "Threshold"
    ] < 40
    assert high["Dimensions"] == [{"Name": "AutoScalingGroupName", "Value": name}] and high[
        "AlarmActions"
    ] == [tracking["PolicyARN"]]
    policies = {
        p["PolicyName"]: p for p in asg.describe_policies(AutoScalingGroupName=name)["ScalingPolicies"]
    }
    assert policies["CPU-AddCapacity"]["MetricAggregationType"] == "Average"
    assert sorted(a["AlarmName"] for a in policies["Maintain-CPU-at-40"]["Alarms"]) == sorted(alarm_names)
    assert (
        _error(asg.execute_policy, AutoScalingGroupName=name, PolicyName="CPU-AddCapacity")[0]
        == "ValidationError"
    )
    asg.suspend_processes(
        AutoScalingGroupName=name, ScalingProcesses=["Launch"]
    )  # desired only, no instances
    asg.execute_policy(
        AutoScalingGroupName=name, PolicyName="CPU-AddCapacity", MetricValue=80, BreachThreshold=50
    )
    # A breach 30 over the threshold is in the +4 step, but MaxSize is 10 and nothing is warming: 0 -> 4.
    assert (
        asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0][
            "DesiredCapacity"
        ]
        == 4
    )
    # A target-tracking policy on a custom 10 s metric: its high alarm, in ALARM at 80 against a target
    # of 40, doubles the capacity (2 x 80 / 40).
    asg.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=2)
    dimensions = [{"Name": "AutoScalingGroupName", "Value": name}]
    custom = asg.put_scaling_policy(
        AutoScalingGroupName=name,
        PolicyName="Load-at-40",
        PolicyType="TargetTrackingScaling",
        TargetTrackingConfiguration={
            "CustomizedMetricSpecification": {
                "Namespace": "Onebox/ASG",
                "MetricName": "Load",
                "Dimensions": dimensions,
                "Statistic": "Average",
                "Period": 10,
            },
            "TargetValue": 40.0,
            "DisableScaleIn": True,
        },
    )
    assert len(custom["Alarms"]) == 1  # DisableScaleIn: no low alarm
    high_alarm = custom["Alarms"][0]["AlarmName"]
    assert cloudwatch.describe_alarms(AlarmNames=[high_alarm])["MetricAlarms"][0]["Period"] == 10
    cloudwatch.put_metric_data(
        Namespace="Onebox/ASG",
        MetricData=[{"MetricName": "Load", "Dimensions": dimensions, "Value": 80.0, "StorageResolution": 1}],
    )
    cloudwatch.set_alarm_state(AlarmName=high_alarm, StateValue="ALARM", StateReason="test")
    deadline = time.monotonic() + 10
    while _group_desired(asg, name) != 4 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _group_desired(asg, name) == 4
    asg.delete_policy(AutoScalingGroupName=name, PolicyName="Load-at-40")
    asg.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=0)
    asg.delete_policy(AutoScalingGroupName=name, PolicyName="Maintain-CPU-at-40")
    assert cloudwatch.describe_alarms(AlarmNames=alarm_names)["MetricAlarms"] == []  # owned alarms go with it
    assert (
        _error(asg.delete_policy, AutoScalingGroupName=name, PolicyName="Maintain-CPU-at-40")[0]
        == "ValidationError"
    )

    start = datetime.now(UTC) + timedelta(days=1)
    asg.put_scheduled_update_group_action(
        AutoScalingGroupName=name,
        ScheduledActionName="Weekend Traffic",
        Recurrence="0 8 * * 6",
        MinSize=2,
        MaxSize=10,
        DesiredCapacity=6,
        StartTime=start,
        EndTime=start + timedelta(days=30),
    )
    assert (
        _error(
            asg.put_scheduled_update_group_action,
            AutoScalingGroupName=name,
            ScheduledActionName="bad",
            Recurrence="0 8 * *",
            DesiredCapacity=1,
        )[0]
        == "ValidationError"
    )
    assert (
        _error(
            asg.put_scheduled_update_group_action,
            AutoScalingGroupName=name,
            ScheduledActionName="past",
            StartTime=datetime.now(UTC) - timedelta(hours=1),
            DesiredCapacity=1,
        )[0]
        == "ValidationError"
    )
    failed = asg.batch_put_scheduled_update_group_action(
        AutoScalingGroupName=name,
        ScheduledUpdateGroupActions=[
            {
                "ScheduledActionName": "nightly",
                "Recurrence": "0 22 * * *",
                "TimeZone": "Europe/Paris",
                "DesiredCapacity": 1,
            },
            {"ScheduledActionName": "broken", "Recurrence": "nope", "DesiredCapacity": 1},
        ],
    )["FailedScheduledUpdateGroupActions"]
    assert [f["ScheduledActionName"] for f in failed] == ["broken"] and failed[0][
        "ErrorCode"
    ] == "ValidationError"
    actions = {
        a["ScheduledActionName"]: a
        for a in asg.describe_scheduled_actions(AutoScalingGroupName=name)["ScheduledUpdateGroupActions"]
    }
    assert set(actions) == {"Weekend Traffic", "nightly"}
    assert (
        actions["Weekend Traffic"]["Recurrence"] == "0 8 * * 6"
        and actions["nightly"]["TimeZone"] == "Europe/Paris"
    )
    assert abs(actions["Weekend Traffic"]["StartTime"].timestamp() - start.timestamp()) < 1
    failed = asg.batch_delete_scheduled_action(
        AutoScalingGroupName=name, ScheduledActionNames=["nightly", "ghost"]
    )["FailedScheduledActions"]
    assert [f["ScheduledActionName"] for f in failed] == ["ghost"]
    asg.delete_scheduled_action(AutoScalingGroupName=name, ScheduledActionName="Weekend Traffic")
    assert asg.describe_scheduled_actions(AutoScalingGroupName=name)["ScheduledUpdateGroupActions"] == []

    asg.put_lifecycle_hook(
        AutoScalingGroupName=name,
        LifecycleHookName="drain",
        LifecycleTransition="autoscaling:EC2_INSTANCE_TERMINATING",
        HeartbeatTimeout=60,
    )
    hook = asg.describe_lifecycle_hooks(AutoScalingGroupName=name)["LifecycleHooks"][0]
    assert (hook["HeartbeatTimeout"], hook["GlobalTimeout"], hook["DefaultResult"]) == (60, 6000, "ABANDON")
    assert (
        _error(
            asg.put_lifecycle_hook,
            AutoScalingGroupName=name,
            LifecycleHookName="x",
            LifecycleTransition="autoscaling:NOPE",
        )[0]
        == "ValidationError"
    )
    assert (
        _error(
            asg.complete_lifecycle_action,
            AutoScalingGroupName=name,
            LifecycleHookName="drain",
            LifecycleActionResult="CONTINUE",
            InstanceId="i-0123456789abcdef0",
        )[0]
        == "ValidationError"
    )
    asg.delete_lifecycle_hook(AutoScalingGroupName=name, LifecycleHookName="drain")
    assert (
        _error(asg.cancel_instance_refresh, AutoScalingGroupName=name)[0] == "ActiveInstanceRefreshNotFound"
    )
    asg.delete_auto_scaling_group(AutoScalingGroupName=name)


def test_target_tracking_alarms_at_10_s_and_scale_in_through_the_low_alarm(onebox, setup) -> None:  # noqa: ANN001
    """The alarms a 10 s target-tracking policy owns, as AWS creates them; DisableScaleIn drops and
    restores the low alarm; the low alarm, in ALARM on the metric's 10 s datapoints, scales in to
    ceil(current x metric / target); DeletePolicy deletes both alarms. Launch is suspended: desired only."""
    _, asg, _, subnets, template = setup
    cloudwatch = onebox.client("cloudwatch")
    name = _name("tt")
    asg.create_auto_scaling_group(
        AutoScalingGroupName=name,
        MinSize=0,
        MaxSize=10,
        LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"]},
        VPCZoneIdentifier=subnets[0]["SubnetId"],
    )
    asg.suspend_processes(AutoScalingGroupName=name, ScalingProcesses=["Launch"])
    dimensions = [{"Name": "AutoScalingGroupName", "Value": name}]
    metric = {
        "Namespace": "Onebox/TT",
        "MetricName": "Busy",
        "Dimensions": dimensions,
        "Statistic": "Average",
    }

    def put(disable_scale_in: bool, period: int = 10) -> dict:
        return asg.put_scaling_policy(
            AutoScalingGroupName=name,
            PolicyName="Maintain-Busy-at-40",
            PolicyType="TargetTrackingScaling",
            TargetTrackingConfiguration={
                "CustomizedMetricSpecification": {**metric, "Period": period},
                "TargetValue": 40.0,
                "DisableScaleIn": disable_scale_in,
            },
        )

    code, status, message = _error(put, False, period=20)
    assert (code, status) == ("ValidationError", 400) and "10, 30" in message
    policy = put(False)
    high_name, low_name = (a["AlarmName"] for a in policy["Alarms"])
    suffix = high_name.removeprefix(f"TargetTracking-{name}-AlarmHigh-")
    assert len(suffix) == 36 and low_name == f"TargetTracking-{name}-AlarmLow-{suffix}"
    found = {
        a["AlarmName"]: a
        for a in cloudwatch.describe_alarms(AlarmNames=[high_name, low_name])["MetricAlarms"]
    }
    high, low = found[high_name], found[low_name]
    for alarm in (high, low):
        assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"], alarm["Dimensions"]) == (
            "Onebox/TT",
            "Busy",
            "Average",
            dimensions,
        )
        assert alarm["Period"] == 10 and alarm["AlarmActions"] == [policy["PolicyARN"]]
        assert alarm["OKActions"] == [] and alarm["InsufficientDataActions"] == []
        assert alarm.get("TreatMissingData", "missing") == "missing"
        assert alarm["AlarmDescription"] == (
            f"DO NOT EDIT OR DELETE. For TargetTrackingScaling policy {policy['PolicyARN']}."
        )
    assert (high["Threshold"], high["ComparisonOperator"]) == (40.0, "GreaterThanThreshold")
    assert (high["EvaluationPeriods"], high["DatapointsToAlarm"]) == (3, 3)
    assert (low["Threshold"], low["ComparisonOperator"]) == (36.0, "LessThanThreshold")
    assert (low["EvaluationPeriods"], low["DatapointsToAlarm"]) == (15, 15)

    # DisableScaleIn: the low alarm goes; turning scale-in back on brings it back under the same name.
    assert [a["AlarmName"] for a in put(True)["Alarms"]] == [high_name]
    assert cloudwatch.describe_alarms(AlarmNames=[low_name])["MetricAlarms"] == []
    assert [a["AlarmName"] for a in put(False)["Alarms"]] == [high_name, low_name]

    # Scale-in: 4 wanted, the metric at 10 % against 40 %: ceil(4 x 10 / 40) = 1.
    asg.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=4)
    cloudwatch.put_metric_data(
        Namespace="Onebox/TT",
        MetricData=[{"MetricName": "Busy", "Dimensions": dimensions, "Value": 10.0, "StorageResolution": 1}],
    )
    cloudwatch.set_alarm_state(AlarmName=low_name, StateValue="ALARM", StateReason="test")
    deadline = time.monotonic() + 10
    while _group_desired(asg, name) == 4 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _group_desired(asg, name) == 1

    asg.delete_policy(AutoScalingGroupName=name, PolicyName="Maintain-Busy-at-40")
    assert cloudwatch.describe_alarms(AlarmNames=[high_name, low_name])["MetricAlarms"] == []
    assert asg.describe_policies(AutoScalingGroupName=name)["ScalingPolicies"] == []
    asg.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=0)
    asg.delete_auto_scaling_group(AutoScalingGroupName=name)


def test_the_aws_cli_speaks_to_auto_scaling(onebox, setup) -> None:  # noqa: ANN001
    _, asg, _, subnets, template = setup
    name = _name("cli")
    onebox.aws(
        "autoscaling",
        "create-auto-scaling-group",
        "--auto-scaling-group-name",
        name,
        "--launch-template",
        f"LaunchTemplateId={template['LaunchTemplateId']},Version=$Latest",
        "--min-size",
        "0",
        "--max-size",
        "2",
        "--vpc-zone-identifier",
        subnets[0]["SubnetId"],
    )
    shown = json.loads(
        onebox.aws("autoscaling", "describe-auto-scaling-groups", "--auto-scaling-group-names", name).stdout
    )
    assert shown["AutoScalingGroups"][0]["LaunchTemplate"]["Version"] == "$Latest"
    failed = onebox.aws(
        "autoscaling",
        "set-desired-capacity",
        "--auto-scaling-group-name",
        name,
        "--desired-capacity",
        "7",
        check=False,
    )
    assert (
        failed.returncode != 0 and "ValidationError" in failed.stderr and "above max value 2" in failed.stderr
    )
    deleted = onebox.aws("autoscaling", "delete-auto-scaling-group", "--auto-scaling-group-name", name)
    assert deleted.returncode == 0
    assert asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"] == []


def test_target_groups_and_traffic_sources(onebox, setup) -> None:  # noqa: ANN001
    ec2, asg, _, subnets, template = setup
    elb = onebox.client("elbv2")
    target_group = elb.create_target_group(
        Name=_name("asg-tg"), Protocol="HTTP", Port=80, VpcId=subnets[0]["VpcId"], TargetType="instance"
    )["TargetGroups"][0]["TargetGroupArn"]
    name = _name("tg")
    missing = target_group.replace(target_group.rsplit("/", 1)[1], "0123456789abcdef")
    code, _, message = _error(
        asg.create_auto_scaling_group,
        AutoScalingGroupName=name,
        MinSize=0,
        MaxSize=1,
        LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"]},
        VPCZoneIdentifier=subnets[0]["SubnetId"],
        TargetGroupARNs=[missing],
    )
    assert code == "ValidationError" and "Target group not found" in message
    asg.create_auto_scaling_group(
        AutoScalingGroupName=name,
        MinSize=0,
        MaxSize=1,
        LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"]},
        VPCZoneIdentifier=subnets[0]["SubnetId"],
    )
    asg.attach_traffic_sources(
        AutoScalingGroupName=name, TrafficSources=[{"Identifier": target_group, "Type": "elbv2"}]
    )
    sources = asg.describe_traffic_sources(AutoScalingGroupName=name)["TrafficSources"]
    assert [(s["Identifier"], s["Type"]) for s in sources] == [(target_group, "elbv2")]
    assert sources[0]["State"] in ("Added", "InService")
    groups = asg.describe_load_balancer_target_groups(AutoScalingGroupName=name)["LoadBalancerTargetGroups"]
    assert [g["LoadBalancerTargetGroupARN"] for g in groups] == [target_group]
    assert asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0][
        "TargetGroupARNs"
    ] == [target_group]
    assert (
        _error(asg.attach_load_balancer_target_groups, AutoScalingGroupName=name, TargetGroupARNs=[missing])[
            0
        ]
        == "ValidationError"
    )
    asg.detach_load_balancer_target_groups(AutoScalingGroupName=name, TargetGroupARNs=[target_group])
    assert (
        asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0][
            "TargetGroupARNs"
        ]
        == []
    )
    asg.delete_auto_scaling_group(AutoScalingGroupName=name)
    elb.delete_target_group(TargetGroupArn=target_group)
