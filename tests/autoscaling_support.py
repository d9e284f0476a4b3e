"""The seed's web tier for Auto Scaling tests and the benchmark: a VPC of its own with two subnets in
two AZs, a PHP launch template, an ALB with an instance target group, a group behind it, and a load
generator that counts every request through the ALB."""

from __future__ import annotations

import base64
import http.client
import json
import queue
import socket
import subprocess
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# The instance writes its id once at boot; index.php answers with it, burn.php burns ~40 ms of CPU first.
# PHP_CLI_SERVER_WORKERS lets `php -S` serve several requests at once (it is single-threaded without).
WEB_USER_DATA = """#!/bin/sh
mkdir -p /var/www/html
cd /var/www/html
php -r '
$put = stream_context_create(["http" => ["method" => "PUT",
    "header" => "X-aws-ec2-metadata-token-ttl-seconds: 60"]]);
$token = file_get_contents("http://169.254.169.254/latest/api/token", false, $put);
$get = stream_context_create(["http" => ["header" => "X-aws-ec2-metadata-token: $token"]]);
file_put_contents("id.txt", file_get_contents("http://169.254.169.254/latest/meta-data/instance-id", false, $get));
'
echo '<?php readfile("id.txt");' > index.php
echo '<?php $end = microtime(true) + 0.04; $x = 0; while (microtime(true) < $end) { $x++; } readfile("id.txt");' > burn.php
PHP_CLI_SERVER_WORKERS=4 php -S 0.0.0.0:80 >/var/log/php.log 2>&1 &
"""


def wait_for(what: str, check: Callable[[], Any], bound: float = 90.0, every: float = 0.5) -> Any:
    started = time.monotonic()
    deadline = started + bound
    while True:
        value = check()
        if value:
            print(f"{what}: {time.monotonic() - started:.1f} s")
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


def free_private_range() -> int:
    """The second octet of a 172.x.0.0/16 no host route holds (other daemons' VPCs hold theirs)."""
    routes = subprocess.run(
        ["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True
    ).stdout
    for second in range(24, 31):
        if f"172.{second}." not in routes:
            return second
    raise AssertionError("no free private range on this host")


@dataclass
class WebTier:
    ec2: Any
    elb: Any
    asg: Any
    name: str
    vpc: str = ""
    subnets: list[str] = field(default_factory=list)
    security_group: str = ""
    template: str = ""
    load_balancer: str = ""
    dns_name: str = ""
    target_group: str = ""
    group: str = ""

    @classmethod
    def build(
        cls, clients: dict[str, Any], *, min_size: int, max_size: int, desired: int, grace: int = 30
    ) -> WebTier:
        tier = cls(clients["ec2"], clients["elbv2"], clients["autoscaling"], f"web-{uuid.uuid4().hex[:6]}")
        try:
            tier._build(min_size, max_size, desired, grace)
        except BaseException:
            tier.destroy()
            raise
        return tier

    def _build(self, min_size: int, max_size: int, desired: int, grace: int) -> None:
        ec2, elb = self.ec2, self.elb
        second = free_private_range()
        self.vpc = ec2.create_vpc(CidrBlock=f"172.{second}.0.0/16")["Vpc"]["VpcId"]
        for index, zone in enumerate(("us-east-1a", "us-east-1b")):
            subnet = ec2.create_subnet(
                VpcId=self.vpc, CidrBlock=f"172.{second}.{index + 1}.0/24", AvailabilityZone=zone
            )
            self.subnets.append(subnet["Subnet"]["SubnetId"])
        self.security_group = ec2.create_security_group(
            GroupName=self.name, Description="web", VpcId=self.vpc
        )["GroupId"]
        ec2.authorize_security_group_ingress(
            GroupId=self.security_group,
            IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
            ],
        )
        images = ec2.describe_images(
            Owners=["amazon"], Filters=[{"Name": "name", "Values": ["onebox-host-*"]}]
        )
        self.template = ec2.create_launch_template(
            LaunchTemplateName=self.name,
            LaunchTemplateData={
                "ImageId": images["Images"][0]["ImageId"],
                "InstanceType": "t3.micro",
                "SecurityGroupIds": [self.security_group],
                "Monitoring": {"Enabled": True},  # 10 s CPU datapoints
                "UserData": base64.b64encode(WEB_USER_DATA.encode()).decode(),
            },
        )["LaunchTemplate"]["LaunchTemplateId"]
        balancer = elb.create_load_balancer(
            Name=self.name, Subnets=self.subnets, SecurityGroups=[self.security_group]
        )
        self.load_balancer = balancer["LoadBalancers"][0]["LoadBalancerArn"]
        self.dns_name = balancer["LoadBalancers"][0]["DNSName"]
        self.target_group = elb.create_target_group(
            Name=self.name,
            Protocol="HTTP",
            Port=80,
            VpcId=self.vpc,
            TargetType="instance",
            HealthCheckPath="/",
            HealthCheckIntervalSeconds=5,
            HealthCheckTimeoutSeconds=2,
            HealthyThresholdCount=2,
            UnhealthyThresholdCount=2,
        )["TargetGroups"][0]["TargetGroupArn"]
        elb.modify_target_group_attributes(
            TargetGroupArn=self.target_group,
            Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "3"}],
        )
        elb.create_listener(
            LoadBalancerArn=self.load_balancer,
            Protocol="HTTP",
            Port=80,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": self.target_group}],
        )
        self.group = self.name
        self.asg.create_auto_scaling_group(
            AutoScalingGroupName=self.group,
            MinSize=min_size,
            MaxSize=max_size,
            DesiredCapacity=desired,
            LaunchTemplate={"LaunchTemplateId": self.template, "Version": "$Latest"},
            VPCZoneIdentifier=",".join(self.subnets),
            TargetGroupARNs=[self.target_group],
            HealthCheckType="ELB",
            HealthCheckGracePeriod=grace,
        )

    def in_service(self, count: int) -> list[dict[str, Any]] | None:
        instances = self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[self.group])[
            "AutoScalingGroups"
        ][0]["Instances"]
        if len(instances) == count and all(i["LifecycleState"] == "InService" for i in instances):
            return instances
        return None

    def serving(self, count: int) -> list[dict[str, Any]] | None:
        """Exactly `count` instances InService (others may still be on their way out)."""
        instances = self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[self.group])[
            "AutoScalingGroups"
        ][0]["Instances"]
        in_service = [i for i in instances if i["LifecycleState"] == "InService"]
        leaving = [
            i
            for i in instances
            if i["LifecycleState"] != "InService" and i["LifecycleState"].startswith("Termin")
        ]
        if len(in_service) == count and len(in_service) + len(leaving) == len(instances):
            return in_service
        return None

    def desired(self) -> int:
        return self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[self.group])["AutoScalingGroups"][
            0
        ]["DesiredCapacity"]

    def healthy_targets(self) -> set[str]:
        found = self.elb.describe_target_health(TargetGroupArn=self.target_group)["TargetHealthDescriptions"]
        return {d["Target"]["Id"] for d in found if d["TargetHealth"]["State"] == "healthy"}

    def address(self) -> str:
        return socket.getaddrinfo(self.dns_name, 80, socket.AF_INET)[0][4][0]

    def destroy(self) -> None:
        """Best effort, in dependency order: the group (and its instances), balancer, template, network."""
        ec2, elb, asg = self.ec2, self.elb, self.asg
        steps: list[Callable[[], Any]] = []
        if self.group:
            steps.append(
                lambda: asg.delete_auto_scaling_group(AutoScalingGroupName=self.group, ForceDelete=True)
            )
            steps.append(
                lambda: wait_for(
                    "the group's deletion",
                    lambda: (
                        not asg.describe_auto_scaling_groups(AutoScalingGroupNames=[self.group])[
                            "AutoScalingGroups"
                        ]
                    ),
                    bound=120,
                )
            )
        if self.load_balancer:
            steps.append(lambda: elb.delete_load_balancer(LoadBalancerArn=self.load_balancer))
        if self.target_group:
            steps.append(lambda: elb.delete_target_group(TargetGroupArn=self.target_group))
        if self.template:
            steps.append(lambda: ec2.delete_launch_template(LaunchTemplateId=self.template))
        if self.security_group:
            steps.append(lambda: ec2.delete_security_group(GroupId=self.security_group))
        for subnet in self.subnets:
            steps.append(lambda s=subnet: ec2.delete_subnet(SubnetId=s))
        if self.vpc:
            steps.append(lambda: ec2.delete_vpc(VpcId=self.vpc))
        for step in steps:
            for _ in range(20):
                try:
                    step()
                    break
                except Exception:  # dependencies (interfaces, instances) take a moment to go
                    time.sleep(0.5)


class Load:
    """`workers` threads sending GET `path` through the ALB back to back; counts answers per instance
    and every failure (a non-200 answer or a connection error)."""

    def __init__(self, address: str, host: str, path: str = "/", workers: int = 4) -> None:
        self.address, self.host, self.path, self.workers = address, host, path, workers
        self.total = 0
        self.failed = 0
        self.errors: Counter[str] = Counter()
        self.served_by: Counter[str] = Counter()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(workers)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)

    def _run(self) -> None:
        while not self._stop.is_set():
            error = None
            instance = None
            try:
                connection = http.client.HTTPConnection(self.address, 80, timeout=10)
                try:
                    connection.request("GET", self.path, headers={"Host": self.host})
                    response = connection.getresponse()
                    body = response.read().decode(errors="replace").strip()
                    if response.status == 200 and body.startswith("i-"):
                        instance = body
                    else:
                        error = f"HTTP {response.status}"
                finally:
                    connection.close()
            except OSError as failure:
                error = type(failure).__name__
            with self._lock:
                self.total += 1
                if error:
                    self.failed += 1
                    self.errors[error] += 1
                elif instance:
                    self.served_by[instance] += 1

    def snapshot(self) -> tuple[int, int, set[str]]:
        with self._lock:
            return self.total, self.failed, set(self.served_by)

    def reset_served(self) -> None:
        with self._lock:
            self.served_by.clear()


class Subscriber:
    """An HTTP endpoint subscribed to an SNS topic: confirms the subscription, queues notifications."""

    def __init__(self) -> None:
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if body.get("Type") == "SubscriptionConfirmation":
                    urllib.request.urlopen(body["SubscribeURL"], timeout=10).read()
                else:
                    owner.messages.put(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/asg"

    def notification(self, event: str, timeout: float = 60) -> dict[str, Any]:
        """The next notification whose Message is the Auto Scaling `event` (others are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            body = self.messages.get(timeout=max(deadline - time.monotonic(), 0.1))
            message = json.loads(body["Message"])
            if message.get("Event") == event:
                return {**message, "Subject": body.get("Subject")}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
