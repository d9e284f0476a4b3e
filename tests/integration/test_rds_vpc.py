"""A DB instance placed in a VPC: a private address in its DB subnet group held by a requester-managed
interface, reachable from instances its security groups allow and refused to others, while its
loopback endpoint keeps answering the host."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from onebox.host.engines.vpc_access import netns_name
from onebox.host.instances.drivers import NamespaceDriver
from tests.rds_support import wait_gone, wait_status

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="VPC networking needs root")

PASSWORD = "s3cret-pass"


def psql_argv(host: str, port: int) -> list[str]:
    return [
        "psql",
        "-h",
        host,
        "-p",
        str(port),
        "-U",
        "master",
        "-d",
        "postgres",
        "-X",
        "-At",
        "-c",
        "SELECT 42",
    ]


def psql_from(netns: str | None, host: str, port: int) -> subprocess.CompletedProcess[str]:
    prefix = ["ip", "netns", "exec", netns] if netns else []
    return subprocess.run(
        [*prefix, *psql_argv(host, port)],
        env={"PGPASSWORD": PASSWORD, "PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "PGCONNECT_TIMEOUT": "2"},
        capture_output=True,
        text=True,
        timeout=30,
    )


def own_vpc(ec2) -> tuple[str, list[str]]:  # noqa: ANN001
    """A VPC with subnets in two zones, in a 172.x range no host route (or other daemon) holds."""
    routes = subprocess.run(["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True)
    for second in range(16, 24):
        prefix = f"172.{second}."
        if prefix in routes.stdout:
            continue
        vpc = ec2.create_vpc(CidrBlock=f"{prefix}0.0/24")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"{prefix}0.{low}/25", AvailabilityZone=zone)["Subnet"][
                "SubnetId"
            ]
            for low, zone in ((0, "us-east-1a"), (128, "us-east-1b"))
        ]
        return vpc, subnets
    raise AssertionError("no free private range on this host")


def base_image(ec2) -> str:  # noqa: ANN001
    images = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "name", "Values": ["onebox-host-*"]}])
    return images["Images"][0]["ImageId"]


def wait_running(ec2, instance_ids: list[str], timeout: float = 60) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while True:
        reservations = ec2.describe_instances(InstanceIds=instance_ids)["Reservations"]
        states = {i["State"]["Name"] for r in reservations for i in r["Instances"]}
        if states == {"running"}:
            return
        assert time.monotonic() < deadline, states
        time.sleep(0.2)


def until(check, timeout: float = 30) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.3)


def test_db_in_vpc_reachable_from_allowed_instances_only(onebox) -> None:  # noqa: ANN001
    ec2, rds = onebox.client("ec2"), onebox.client("rds")
    vpc, subnets = own_vpc(ec2)
    app = ec2.create_security_group(GroupName="app", Description="app", VpcId=vpc)["GroupId"]
    db_group = ec2.create_security_group(GroupName="db", Description="db", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=db_group,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": app}]}
        ],
    )
    default_group = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]}]
    )["SecurityGroups"][0]["GroupId"]
    rds.create_db_subnet_group(DBSubnetGroupName="vpc-db", DBSubnetGroupDescription="two", SubnetIds=subnets)
    rds.create_db_instance(
        DBInstanceIdentifier="pg-vpc",
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        AllocatedStorage=20,
        MasterUsername="master",
        MasterUserPassword=PASSWORD,
        BackupRetentionPeriod=0,
        DBSubnetGroupName="vpc-db",
        VpcSecurityGroupIds=[db_group],
    )
    image = base_image(ec2)
    allowed, refused = (
        ec2.run_instances(
            ImageId=image, MinCount=1, MaxCount=1, SubnetId=subnets[0], SecurityGroupIds=[group]
        )["Instances"][0]["InstanceId"]
        for group in (app, default_group)
    )
    instance = None
    try:
        instance = wait_status(rds, "pg-vpc")
        assert instance["DBSubnetGroup"]["VpcId"] == vpc
        assert instance["VpcSecurityGroups"] == [{"VpcSecurityGroupId": db_group, "Status": "active"}]
        assert instance["AvailabilityZone"] in ("us-east-1a", "us-east-1b")
        interfaces = ec2.describe_network_interfaces(Filters=[{"Name": "group-id", "Values": [db_group]}])[
            "NetworkInterfaces"
        ]
        assert len(interfaces) == 1 and interfaces[0]["SubnetId"] in subnets
        private_ip = interfaces[0]["PrivateIpAddress"]
        wait_running(ec2, [allowed, refused])
        endpoint = instance["Endpoint"]
        # The host keeps its loopback endpoint; the VPC reaches the private address.
        assert psql_from(None, endpoint["Address"], endpoint["Port"]).stdout.strip() == "42"
        inside = psql_from(NamespaceDriver.netns(allowed), private_ip, 5432)
        assert inside.returncode == 0 and inside.stdout.strip() == "42", inside.stderr
        blocked = psql_from(NamespaceDriver.netns(refused), private_ip, 5432)
        assert blocked.returncode != 0 and "timeout" in blocked.stderr.lower()
        # Security group changes apply to the running instance (the VPC controller re-applies them).
        rds.modify_db_instance(
            DBInstanceIdentifier="pg-vpc",
            VpcSecurityGroupIds=[db_group, default_group],
            ApplyImmediately=True,
        )
        until(lambda: psql_from(NamespaceDriver.netns(refused), private_ip, 5432).returncode == 0)
    finally:
        rds.delete_db_instance(DBInstanceIdentifier="pg-vpc", SkipFinalSnapshot=True)
        ec2.terminate_instances(InstanceIds=[allowed, refused])
    wait_gone(rds, "pg-vpc")
    if instance is not None:
        namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert netns_name(instance["DbiResourceId"]) not in namespaces
    assert not ec2.describe_network_interfaces(Filters=[{"Name": "group-id", "Values": [db_group]}])[
        "NetworkInterfaces"
    ]
    until(
        lambda: (
            {
                i["State"]["Name"]
                for r in ec2.describe_instances(InstanceIds=[allowed, refused])["Reservations"]
                for i in r["Instances"]
            }
            == {"terminated"}
        ),
        timeout=60,
    )
    rds.delete_db_subnet_group(DBSubnetGroupName="vpc-db")
    for group in (db_group, app):
        ec2.delete_security_group(GroupId=group)
    for subnet in subnets:
        ec2.delete_subnet(SubnetId=subnet)
    ec2.delete_vpc(VpcId=vpc)
