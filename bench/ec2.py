"""EC2: RunInstances to the first HTTP answer from the instance (median of 10), CreateImage after the
instance wrote 100 MB, and memory per idle instance.

Peers measured in the same run, on the same host: the same `php -S` started as a bare host process (what
an instance costs beyond the server it runs), `cp -a` of the same 100 MB (what freezing a layer costs
beyond copying what changed), and the bare process's resident memory. For scale, EC2 itself takes
roughly 30-60 s from RunInstances to a booted server (not measured here: no network access).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from bench.peers import free_port, onebox

RUNS = 10
USER_DATA = """#!/bin/sh
mkdir -p /srv/www && echo '<?php echo "ok";' > /srv/www/index.php
cd /srv/www && php -S 0.0.0.0:80 >/dev/null 2>&1 &
"""
WRITE_100MB = """#!/bin/sh
head -c 104857600 /dev/urandom > /root/data.bin && sync && echo wrote-100mb
"""


def _client(endpoint: str) -> Any:
    return boto3.client(
        "ec2",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}),
    )


def _first_answer(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=0.5).read()
            return
        except OSError:
            time.sleep(0.005)
    raise TimeoutError(url)


def _own_subnet(ec2: Any) -> tuple[str, str]:
    routes = subprocess.run(
        ["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True
    ).stdout
    for second in range(24, 31):
        if f"172.{second}." not in routes:
            cidr = f"172.{second}.0.0/24"
            vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
            subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone="us-east-1a")["Subnet"]
            return vpc, subnet["SubnetId"]
    raise RuntimeError("no free private range on this host")


def _instance_memory(state_dir_hint: str | None, instance_id: str) -> int:
    for path in (
        Path("/sys/fs/cgroup/memory/onebox", instance_id, "memory.usage_in_bytes"),
        Path("/sys/fs/cgroup/onebox", instance_id, "memory.current"),
    ):
        if path.exists():
            return int(path.read_text())
    return 0


def _bare_php() -> tuple[float, int]:
    """Median seconds from spawning `php -S` on loopback to its first answer, and its resident memory."""
    times = []
    rss = 0
    with tempfile.TemporaryDirectory() as root:
        Path(root, "index.php").write_text('<?php echo "ok";')
        for _ in range(RUNS):
            port = free_port()
            started = time.monotonic()
            process = subprocess.Popen(
                ["php", "-S", f"127.0.0.1:{port}"],
                cwd=root,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                _first_answer(f"http://127.0.0.1:{port}/")
                times.append(time.monotonic() - started)
                status = Path(f"/proc/{process.pid}/status").read_text()
                rss = (
                    int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1])
                    * 1024
                )
            finally:
                process.terminate()
                process.wait()
    return statistics.median(times), rss


def _bare_copy() -> float:
    with tempfile.TemporaryDirectory() as root:
        source = Path(root, "upper", "root")
        source.mkdir(parents=True)
        with open(source / "data.bin", "wb") as handle:
            handle.write(os.urandom(100 * 1024 * 1024))
        os.sync()
        started = time.monotonic()
        subprocess.run(["cp", "-a", str(Path(root, "upper")), str(Path(root, "copy"))], check=True)
        return time.monotonic() - started


def run() -> None:
    if os.geteuid() != 0 or shutil.which("php") is None:
        print("ec2: skipped (the namespace driver needs root, and the instances run php)")
        return
    with onebox() as (endpoint, _):
        ec2 = _client(endpoint)
        vpc, subnet = _own_subnet(ec2)
        group = ec2.create_security_group(GroupName="bench-web", Description="bench", VpcId=vpc)["GroupId"]
        ec2.authorize_security_group_ingress(
            GroupId=group,
            IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
            ],
        )
        image = ec2.describe_images(Filters=[{"Name": "name", "Values": ["onebox-host-userland-x86_64"]}])[
            "Images"
        ][0]["ImageId"]
        times, ids = [], []
        for _ in range(RUNS):
            started = time.monotonic()
            instance = ec2.run_instances(
                ImageId=image,
                InstanceType="t3.micro",
                MinCount=1,
                MaxCount=1,
                UserData=USER_DATA,
                SubnetId=subnet,
                SecurityGroupIds=[group],
            )["Instances"][0]
            _first_answer(f"http://{instance['PrivateIpAddress']}/")
            times.append(time.monotonic() - started)
            ids.append(instance["InstanceId"])
        time.sleep(2)  # idle: let boot-time allocations settle before reading memory
        memory = statistics.mean(_instance_memory(None, i) for i in ids)
        writer = ec2.run_instances(
            ImageId=image,
            MinCount=1,
            MaxCount=1,
            UserData=WRITE_100MB,
            SubnetId=subnet,
            SecurityGroupIds=[group],
        )["Instances"][0]
        deadline = time.monotonic() + 120
        while "wrote-100mb" not in ec2.get_console_output(InstanceId=writer["InstanceId"]).get("Output", ""):
            if time.monotonic() > deadline:
                raise TimeoutError("the instance did not write 100 MB")
            time.sleep(0.1)
        started = time.monotonic()
        new_image = ec2.create_image(InstanceId=writer["InstanceId"], Name="bench-100mb")["ImageId"]
        while ec2.describe_images(ImageIds=[new_image])["Images"][0]["State"] != "available":
            time.sleep(0.01)
        create_image = time.monotonic() - started
        ec2.terminate_instances(InstanceIds=[*ids, writer["InstanceId"]])
    bare_start, bare_rss = _bare_php()
    bare_copy = _bare_copy()
    median = statistics.median(times)
    print("EC2 (onebox namespace instances vs the same work done bare on the host)")
    print(
        f"  RunInstances -> first HTTP answer, median of {RUNS}: {median:.2f} s "
        f"(bare php -S: {bare_start:.3f} s, ratio {median / bare_start:.1f}x; EC2: ~30-60 s)"
    )
    print(
        f"  CreateImage after writing 100 MB: {create_image:.2f} s (cp -a of 100 MB: {bare_copy:.2f} s, "
        f"ratio {create_image / bare_copy:.1f}x)"
    )
    print(
        f"  memory per idle instance (cgroup, incl. page cache): {memory / 2**20:.1f} MiB "
        f"(bare php -S RSS: {bare_rss / 2**20:.1f} MiB, ratio {memory / max(bare_rss, 1):.1f}x)"
    )


if __name__ == "__main__":
    run()
