"""EC2 instance types, images, instances and launch templates through boto3 and the AWS CLI: shapes,
filters, pagination, the state machine, and AWS's errors with nothing half-created.

Every test runs against both instance drivers: the namespace driver (root's default, the shared
daemon) and the process driver (what non-root users get, a daemon of its own).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from onebox.services.ec2.images import base_image_id
from tests.conftest import LiveOnebox, start_onebox


@pytest.fixture(scope="module", params=["namespace", "process"])
def onebox(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveOnebox]:
    if request.param == "namespace":
        yield request.getfixturevalue("onebox")  # the session's shared daemon (conftest)
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ONEBOX_INSTANCE_DRIVER", "process")
        box = start_onebox(tmp_path_factory.mktemp("process-driver"))
    try:
        yield box
    finally:
        box.cli("down", check=False)


def error_code(call, **kwargs) -> str:  # noqa: ANN001
    with pytest.raises(ClientError) as error:
        call(**kwargs)
    return error.value.response["Error"]["Code"]


def base_image(ec2) -> str:  # noqa: ANN001
    return ec2.describe_images(Filters=[{"Name": "name", "Values": ["onebox-host-userland-x86_64"]}])[
        "Images"
    ][0]["ImageId"]


def test_describe_instance_types_sizes_prices_and_filters(onebox) -> None:  # noqa: ANN001
    ec2 = onebox.client("ec2")
    found = ec2.describe_instance_types(InstanceTypes=["c5.xlarge", "c5.2xlarge", "t3.micro", "p3.16xlarge"])
    by_name = {t["InstanceType"]: t for t in found["InstanceTypes"]}
    assert by_name["c5.xlarge"]["VCpuInfo"]["DefaultVCpus"] == 4
    assert by_name["c5.2xlarge"]["VCpuInfo"]["DefaultVCpus"] == 8
    assert (
        by_name["c5.2xlarge"]["MemoryInfo"]["SizeInMiB"]
        == 2 * by_name["c5.xlarge"]["MemoryInfo"]["SizeInMiB"]
    )
    assert by_name["t3.micro"]["BurstablePerformanceSupported"] is True
    assert by_name["p3.16xlarge"]["GpuInfo"]["Gpus"][0]["Count"] == 8
    families = {"t3", "m5", "m6i", "c5", "c6i", "r5", "i3", "g4dn", "p3"}
    paginator = ec2.get_paginator("describe_instance_types")
    names = [
        t["InstanceType"]
        for page in paginator.paginate(PaginationConfig={"PageSize": 20})
        for t in page["InstanceTypes"]
    ]
    assert {name.split(".")[0] for name in names} == families
    assert len(names) == len(set(names))
    two_vcpus = ec2.describe_instance_types(Filters=[{"Name": "vcpu-info.default-vcpus", "Values": ["2"]}])
    assert {t["VCpuInfo"]["DefaultVCpus"] for t in two_vcpus["InstanceTypes"]} == {2}
    storage = ec2.describe_instance_types(
        Filters=[{"Name": "instance-storage-supported", "Values": ["true"]}]
    )
    assert {t["InstanceType"].split(".")[0] for t in storage["InstanceTypes"]} == {"i3", "g4dn"}
    assert error_code(ec2.describe_instance_types, InstanceTypes=["t2.micro"]) == "InvalidInstanceType"
    cli = onebox.aws("ec2", "describe-instance-types", "--instance-types", "m5.large")
    assert json.loads(cli.stdout)["InstanceTypes"][0]["MemoryInfo"]["SizeInMiB"] == 8192


def test_base_images_have_stable_ids_and_filters(onebox) -> None:  # noqa: ANN001
    ec2 = onebox.client("ec2")
    image_id = base_image(ec2)
    assert image_id == base_image_id("us-east-1", "onebox-host-userland-x86_64")
    west = onebox.client("ec2", region_name="us-west-2")
    assert base_image(west) == base_image_id("us-west-2", "onebox-host-userland-x86_64") != image_id
    amazon = ec2.describe_images(
        Owners=["amazon"], Filters=[{"Name": "name", "Values": ["al2023-ami-2023.*"]}]
    )
    assert amazon["Images"][0]["ImageOwnerAlias"] == "amazon"
    assert ec2.describe_images(Owners=["self"])["Images"] == [] or all(
        i["OwnerId"] == "000000000000" for i in ec2.describe_images(Owners=["self"])["Images"]
    )
    assert error_code(ec2.describe_images, ImageIds=["ami-12345678901234567"]) == "InvalidAMIID.NotFound"
    assert error_code(ec2.describe_images, ImageIds=["bogus"]) == "InvalidAMIID.Malformed"
    attribute = ec2.describe_image_attribute(ImageId=image_id, Attribute="description")
    assert "host" in attribute["Description"]["Value"]


def test_run_instances_errors_create_nothing(onebox) -> None:  # noqa: ANN001
    ec2 = onebox.client("ec2")
    image = base_image(ec2)
    before = sum(len(r["Instances"]) for r in ec2.describe_instances()["Reservations"])
    run = ec2.run_instances
    assert error_code(run, ImageId="ami-12345678901234567", MinCount=1, MaxCount=1) == "InvalidAMIID.NotFound"
    assert error_code(run, ImageId="ami-xyz", MinCount=1, MaxCount=1) == "InvalidAMIID.Malformed"
    assert error_code(run, ImageId=image, InstanceType="t3.gigantic", MinCount=1, MaxCount=1) == (
        "InvalidParameterValue"
    )
    # p3.16xlarge asks for 488 GiB: more than this host has.
    assert error_code(run, ImageId=image, InstanceType="p3.16xlarge", MinCount=1, MaxCount=1) == (
        "InsufficientInstanceCapacity"
    )
    assert (
        error_code(run, ImageId=image, KeyName="no-such-key", MinCount=1, MaxCount=1)
        == "InvalidKeyPair.NotFound"
    )
    assert error_code(run, ImageId=image, MinCount=3, MaxCount=2) == "InvalidParameterValue"
    subnet = ec2.describe_subnets(Filters=[{"Name": "availability-zone", "Values": ["us-east-1a"]}])[
        "Subnets"
    ]
    subnet_id = [s for s in subnet if s["DefaultForAz"]][0]["SubnetId"]
    assert (
        error_code(
            run,
            ImageId=image,
            MinCount=1,
            MaxCount=1,
            SubnetId=subnet_id,
            Placement={"AvailabilityZone": "us-east-1b"},
        )
        == "InvalidParameterValue"
    )
    assert error_code(run, ImageId=image, MinCount=1, MaxCount=1, SubnetId="subnet-12345678") == (
        "InvalidSubnetID.NotFound"
    )
    assert error_code(
        run, ImageId=image, MinCount=1, MaxCount=1, PrivateIpAddress="192.168.77.5", SubnetId=subnet_id
    ) == ("InvalidParameterValue")
    after = sum(len(r["Instances"]) for r in ec2.describe_instances()["Reservations"])
    assert after == before
    assert (
        error_code(ec2.describe_instances, InstanceIds=["i-12345678901234567"])
        == "InvalidInstanceID.NotFound"
    )
    assert error_code(ec2.describe_instances, InstanceIds=["x-1"]) == "InvalidInstanceID.Malformed"
    assert error_code(ec2.stop_instances, InstanceIds=["i-12345678901234567"]) == "InvalidInstanceID.NotFound"


def test_instances_state_machine_filters_pagination_and_attributes(onebox) -> None:  # noqa: ANN001
    ec2 = onebox.client("ec2")
    image = base_image(ec2)
    reservation = ec2.run_instances(
        ImageId=image,
        InstanceType="t3.nano",
        MinCount=3,
        MaxCount=3,
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "app", "Value": "sm-test"}]}],
    )
    ids = [i["InstanceId"] for i in reservation["Instances"]]
    assert [i["AmiLaunchIndex"] for i in reservation["Instances"]] == [0, 1, 2]
    assert {i["State"]["Name"] for i in reservation["Instances"]} == {"pending"}
    ec2.get_waiter("instance_running").wait(InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    tagged = [{"Name": "tag:app", "Values": ["sm-test"]}]
    pages = list(
        ec2.get_paginator("describe_instances").paginate(Filters=tagged, PaginationConfig={"PageSize": 5})
    )
    seen = [i["InstanceId"] for p in pages for r in p["Reservations"] for i in r["Instances"]]
    assert sorted(seen) == sorted(ids)
    first = ec2.describe_instances(Filters=tagged, MaxResults=5)
    assert "NextToken" not in first
    by_type = ec2.describe_instances(Filters=[*tagged, {"Name": "instance-type", "Values": ["t3.nano"]}])
    assert len(by_type["Reservations"][0]["Instances"]) == 3
    one = reservation["Instances"][0]
    ec2.create_tags(Resources=[one["InstanceId"]], Tags=[{"Key": "role", "Value": "first"}])
    cli = onebox.aws("ec2", "describe-instances", "--filters", "Name=tag:role,Values=first")
    assert [i["InstanceId"] for r in json.loads(cli.stdout)["Reservations"] for i in r["Instances"]] == [
        one["InstanceId"]
    ]
    described_tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [one["InstanceId"]]}])[
        "Tags"
    ]
    assert {(t["Key"], t["ResourceType"]) for t in described_tags} == {
        ("app", "instance"),
        ("role", "instance"),
    }
    by_ip = ec2.describe_instances(
        Filters=[{"Name": "private-ip-address", "Values": [one["PrivateIpAddress"]]}]
    )
    assert [i["InstanceId"] for r in by_ip["Reservations"] for i in r["Instances"]] == [one["InstanceId"]]
    statuses = ec2.describe_instance_status(InstanceIds=ids)["InstanceStatuses"]
    assert {s["InstanceState"]["Name"] for s in statuses} == {"running"}
    assert (
        error_code(ec2.modify_instance_attribute, InstanceId=ids[0], InstanceType={"Value": "t3.small"})
        == "IncorrectInstanceState"
    )
    ec2.stop_instances(InstanceIds=[ids[0]])
    ec2.get_waiter("instance_stopped").wait(
        InstanceIds=[ids[0]], WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )
    ec2.modify_instance_attribute(InstanceId=ids[0], InstanceType={"Value": "t3.small"})
    ec2.modify_instance_attribute(
        InstanceId=ids[0], UserData={"Value": b"#!/bin/sh\necho second-user-data\n"}
    )
    assert ec2.describe_instance_attribute(InstanceId=ids[0], Attribute="instanceType")["InstanceType"] == {
        "Value": "t3.small"
    }
    stopped = ec2.describe_instances(
        Filters=[*tagged, {"Name": "instance-state-name", "Values": ["stopped"]}]
    )["Reservations"]
    assert [i["InstanceId"] for r in stopped for i in r["Instances"]] == [ids[0]]
    assert (
        error_code(ec2.reboot_instances, InstanceIds=["i-12345678901234567"]) == "InvalidInstanceID.NotFound"
    )
    ec2.reboot_instances(InstanceIds=[ids[1]])
    ec2.modify_instance_attribute(InstanceId=ids[2], DisableApiTermination={"Value": True})
    assert error_code(ec2.terminate_instances, InstanceIds=ids) == "OperationNotPermitted"
    ec2.modify_instance_attribute(InstanceId=ids[2], DisableApiTermination={"Value": False})
    result = ec2.terminate_instances(InstanceIds=ids)["TerminatingInstances"]
    assert {r["PreviousState"]["Name"] for r in result} == {"running", "stopped"}
    ec2.get_waiter("instance_terminated").wait(InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    again = ec2.terminate_instances(InstanceIds=[ids[0]])["TerminatingInstances"][0]
    assert again["PreviousState"]["Name"] == again["CurrentState"]["Name"] == "terminated"


def test_launch_templates_versions_and_run_from_template(onebox) -> None:  # noqa: ANN001
    ec2 = onebox.client("ec2")
    image = base_image(ec2)
    created = ec2.create_launch_template(
        LaunchTemplateName="web-template",
        LaunchTemplateData={
            "ImageId": image,
            "InstanceType": "t3.micro",
            "TagSpecifications": [
                {"ResourceType": "instance", "Tags": [{"Key": "from", "Value": "template"}]}
            ],
        },
    )["LaunchTemplate"]
    assert created["DefaultVersionNumber"] == created["LatestVersionNumber"] == 1
    assert (
        error_code(
            ec2.create_launch_template,
            LaunchTemplateName="web-template",
            LaunchTemplateData={"ImageId": image},
        )
        == "InvalidLaunchTemplateName.AlreadyExistsException"
    )
    version = ec2.create_launch_template_version(
        LaunchTemplateId=created["LaunchTemplateId"],
        SourceVersion="1",
        LaunchTemplateData={"InstanceType": "t3.small"},
    )["LaunchTemplateVersion"]
    assert version["VersionNumber"] == 2 and version["LaunchTemplateData"]["ImageId"] == image
    latest = ec2.describe_launch_template_versions(LaunchTemplateName="web-template", Versions=["$Latest"])
    assert latest["LaunchTemplateVersions"][0]["LaunchTemplateData"]["InstanceType"] == "t3.small"
    ec2.modify_launch_template(LaunchTemplateId=created["LaunchTemplateId"], DefaultVersion="2")
    described = ec2.describe_launch_templates(LaunchTemplateNames=["web-template"])["LaunchTemplates"][0]
    assert described["DefaultVersionNumber"] == 2
    launched = ec2.run_instances(
        LaunchTemplate={"LaunchTemplateName": "web-template"}, MinCount=1, MaxCount=1
    )["Instances"][0]
    assert launched["InstanceType"] == "t3.small"
    tags = {t["Key"]: t["Value"] for t in launched["Tags"]}
    assert tags["from"] == "template"
    assert tags["aws:ec2launchtemplate:id"] == created["LaunchTemplateId"]
    assert tags["aws:ec2launchtemplate:version"] == "2"
    pinned = ec2.run_instances(
        LaunchTemplate={"LaunchTemplateId": created["LaunchTemplateId"], "Version": "1"},
        MinCount=1,
        MaxCount=1,
    )["Instances"][0]
    assert pinned["InstanceType"] == "t3.micro"
    assert (
        error_code(ec2.describe_launch_template_versions, LaunchTemplateName="web-template", Versions=["9"])
        == "InvalidLaunchTemplateId.VersionNotFound"
    )
    ec2.terminate_instances(InstanceIds=[launched["InstanceId"], pinned["InstanceId"]])
    ec2.delete_launch_template(LaunchTemplateName="web-template")
    assert (
        error_code(ec2.describe_launch_templates, LaunchTemplateNames=["web-template"])
        == "InvalidLaunchTemplateName.NotFoundException"
    )
