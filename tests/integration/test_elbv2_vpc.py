"""A load balancer inside its VPC (namespace driver): one requester-managed interface per subnet, its
private addresses answer the listeners for instances in the VPC, the balancer's security groups decide
who may connect, and deleting the balancer frees the interfaces and unplugs them on the host."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from onebox.host.instances.drivers import NamespaceDriver
from onebox.host.loadbalancer.vpc_ports import netns_name
from onebox.host.network import port_name, router_namespace

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="VPC networking needs root")


def _until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.2)


def _own_vpc(ec2) -> tuple[str, list[str]]:  # noqa: ANN001
    """A /24 VPC of this test's own (a range no host route holds) with two subnets in two zones."""
    routes = subprocess.run(["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True)
    for second in range(24, 31):
        prefix = f"172.{second}.9."
        if prefix not in routes.stdout:
            vpc = ec2.create_vpc(CidrBlock=f"{prefix}0/24")["Vpc"]["VpcId"]
            subnets = [
                ec2.create_subnet(VpcId=vpc, CidrBlock=f"{prefix}{start}/25", AvailabilityZone=zone)[
                    "Subnet"
                ]["SubnetId"]
                for start, zone in ((0, "us-east-1a"), (128, "us-east-1b"))
            ]
            return vpc, subnets
    raise AssertionError("no free private range on this host")


def _curl_inside(instance_id: str, url: str) -> subprocess.CompletedProcess[str]:
    netns = NamespaceDriver.netns(instance_id)
    return subprocess.run(
        ["ip", "netns", "exec", netns, "curl", "-s", "-m", "2", url], capture_output=True, text=True
    )


def test_internal_balancer_answers_in_its_vpc_behind_its_security_groups(onebox, tmp_path: Path) -> None:  # noqa: ANN001
    ec2, elbv2 = onebox.client("ec2"), onebox.client("elbv2")
    vpc, subnets = _own_vpc(ec2)
    allowed = ec2.create_security_group(GroupName="alb-clients", Description="may", VpcId=vpc)["GroupId"]
    other = ec2.create_security_group(GroupName="not-clients", Description="may not", VpcId=vpc)["GroupId"]
    lb_group = ec2.create_security_group(GroupName="alb", Description="alb", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=lb_group,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [{"GroupId": allowed}]}
        ],
    )
    target_group = ec2.create_security_group(GroupName="alb-targets", Description="t", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(  # the targets take traffic from the balancer's group only
        GroupId=target_group,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 8080,
                "ToPort": 8080,
                "UserIdGroupPairs": [{"GroupId": lb_group}],
            }
        ],
    )
    image = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "name", "Values": ["onebox-host-*"]}])
    image_id = image["Images"][0]["ImageId"]
    clients = {
        group: ec2.run_instances(
            ImageId=image_id, MinCount=1, MaxCount=1, SubnetId=subnets[0], SecurityGroupIds=[group]
        )["Instances"][0]["InstanceId"]
        for group in (allowed, other)
    }
    target = ec2.run_instances(
        ImageId=image_id, MinCount=1, MaxCount=1, SubnetId=subnets[1], SecurityGroupIds=[target_group]
    )["Instances"][0]["InstanceId"]
    lb = elbv2.create_load_balancer(
        Name="inside-vpc", Subnets=subnets, SecurityGroups=[lb_group], Scheme="internal"
    )["LoadBalancers"][0]
    arn, lb_id = lb["LoadBalancerArn"], lb["LoadBalancerArn"].rsplit("/", 1)[1]
    tg = elbv2.create_target_group(
        Name="inside-vpc", Protocol="HTTP", Port=8080, VpcId=vpc, HealthCheckIntervalSeconds=5,
        HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2,
    )["TargetGroups"][0]["TargetGroupArn"]  # fmt: skip
    elbv2.create_listener(
        LoadBalancerArn=arn,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
    )
    described = ec2.describe_network_interfaces(
        Filters=[{"Name": "description", "Values": [f"ELB app/inside-vpc/{lb_id}"]}]
    )["NetworkInterfaces"]
    assert sorted(i["SubnetId"] for i in described) == sorted(subnets)
    for interface in described:
        assert interface["RequesterManaged"] is True and interface["Status"] == "in-use"
        assert interface["InterfaceType"] == "interface" and interface["VpcId"] == vpc
        assert [g["GroupId"] for g in interface["Groups"]] == [lb_group]
    addresses = [i["PrivateIpAddress"] for i in described]
    for instance_id in [*clients.values(), target]:
        _until(
            lambda i=instance_id: (
                ec2.describe_instances(InstanceIds=[i])["Reservations"][0]["Instances"][0]["State"]["Name"]
                == "running"
            )
        )
    root = tmp_path / "www"
    root.mkdir()
    (root / "index.html").write_text("from-target")
    server = subprocess.Popen(
        ["ip", "netns", "exec", NamespaceDriver.netns(target), sys.executable, "-m", "http.server", "8080"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        elbv2.register_targets(TargetGroupArn=tg, Targets=[{"Id": target}])
        # The balancer reaches the target from its own private address (the target's group allows only
        # the balancer's group): health checks pass and requests are answered by the target.
        _until(
            lambda: (
                elbv2.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"][0][
                    "TargetHealth"
                ]["State"]
                == "healthy"
            )
        )
        # Same subnet (bridged) and the other subnet (routed): both pass the balancer's groups.
        for address in addresses:
            _until(lambda a=address: _curl_inside(clients[allowed], f"http://{a}/").stdout == "from-target")
            refused = _curl_inside(clients[other], f"http://{address}/")
            assert refused.returncode != 0 and refused.stdout == ""
    finally:
        server.terminate()
        server.wait(timeout=10)

    elbv2.delete_load_balancer(LoadBalancerArn=arn)
    assert not ec2.describe_network_interfaces(
        Filters=[{"Name": "description", "Values": [f"ELB app/inside-vpc/{lb_id}"]}]
    )["NetworkInterfaces"]

    def unplugged() -> bool:
        namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        links = subprocess.run(
            ["ip", "netns", "exec", router_namespace(vpc), "ip", "-o", "link"], capture_output=True, text=True
        ).stdout
        return not any(
            netns_name(i["NetworkInterfaceId"]) in namespaces or port_name(i["NetworkInterfaceId"]) in links
            for i in described
        )

    _until(unplugged)
    ec2.terminate_instances(InstanceIds=[*clients.values(), target])
    elbv2.delete_target_group(TargetGroupArn=tg)
