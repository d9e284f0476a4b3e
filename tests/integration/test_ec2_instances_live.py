"""EC2 instances for real (namespace driver): PHP served from an instance, IMDSv2, stop/start, AMIs,
security groups, terminate cleanup on the host, and re-adoption after the daemon is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from onebox.host.instances import cgroups
from onebox.host.instances.drivers import NamespaceDriver
from onebox.host.network import port_name, router_namespace

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the namespace driver needs root")

PHP_USER_DATA = """#!/bin/sh
mkdir -p /var/www/html
cat > /var/www/html/index.php <<'PHP'
<?php
$put = stream_context_create(["http" => ["method" => "PUT",
    "header" => "X-aws-ec2-metadata-token-ttl-seconds: 60"]]);
$token = file_get_contents("http://169.254.169.254/latest/api/token", false, $put);
$get = stream_context_create(["http" => ["header" => "X-aws-ec2-metadata-token: $token"]]);
echo file_get_contents("http://169.254.169.254/latest/meta-data/instance-id", false, $get);
PHP
cat > /etc/rc.local <<'RC'
#!/bin/sh
cd /var/www/html && php -S 0.0.0.0:80 >/var/log/php.log 2>&1 &
RC
chmod +x /etc/rc.local
echo written-by-user-data > /root/marker.txt
/etc/rc.local
"""


def base_image(ec2) -> str:  # noqa: ANN001
    images = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "name", "Values": ["onebox-host-*"]}])
    return images["Images"][0]["ImageId"]


def wait_state(ec2, instance_id: str, state: str, timeout: float = 30) -> dict:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while True:
        found = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        if found["State"]["Name"] == state or time.monotonic() > deadline:
            assert found["State"]["Name"] == state, found["State"]
            return found
        time.sleep(0.05)


def http_get(ip: str, timeout: float = 15) -> str | None:
    """The page at http://ip/, retried until the server answers or `timeout` passes (None)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = subprocess.run(["curl", "-s", "-m", "1", f"http://{ip}/"], capture_output=True, text=True)
        if result.returncode == 0 and result.stdout:
            return result.stdout
        time.sleep(0.1)
    return None


def own_subnet(ec2, avoid: tuple[str, ...] = ()) -> tuple[str, str]:  # noqa: ANN001
    """A VPC and subnet of this test's own, in a range no host route (or other daemon) holds, so the
    host reaches the test's instances even while other onebox daemons run."""
    routes = subprocess.run(
        ["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True
    ).stdout
    for second in range(24, 31):
        prefix = f"172.{second}."
        if prefix not in routes and not any(taken.startswith(prefix) for taken in avoid):
            cidr = f"{prefix}0.0/24"
            vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
            subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone="us-east-1a")
            return vpc, subnet["Subnet"]["SubnetId"]
    raise AssertionError("no free private range on this host")


def web_group(ec2, name: str, open_port_80: bool, vpc: str) -> str:  # noqa: ANN001
    group = ec2.create_security_group(GroupName=name, Description="web", VpcId=vpc)["GroupId"]
    if open_port_80:
        ec2.authorize_security_group_ingress(
            GroupId=group,
            IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
            ],
        )
    return group


def host_leftovers(instance_id: str, interface_id: str, vpc_id: str) -> list[str]:
    found = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    if NamespaceDriver.netns(instance_id) in netns:
        found.append("network namespace")
    if cgroups.exists(instance_id):
        found.append("cgroup")
    if instance_id in Path("/proc/self/mountinfo").read_text():
        found.append("mount")
    router = router_namespace(vpc_id)
    if router in netns:
        links = subprocess.run(
            ["ip", "netns", "exec", router, "ip", "-o", "link"], capture_output=True, text=True
        )
        if port_name(interface_id) in links.stdout:
            found.append("veth")
    return found


def test_php_instance_imdsv2_stop_start_image_and_terminate(onebox) -> None:  # noqa: ANN001
    ec2 = onebox.client("ec2")
    vpc, subnet = own_subnet(ec2)
    closed = web_group(ec2, "web-closed", open_port_80=False, vpc=vpc)
    launched = ec2.run_instances(
        SubnetId=subnet,
        ImageId=base_image(ec2),
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        UserData=PHP_USER_DATA,
        SecurityGroupIds=[closed],
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "php"}]}],
    )["Instances"][0]
    instance_id, ip = launched["InstanceId"], launched["PrivateIpAddress"]
    assert launched["State"] == {"Code": 0, "Name": "pending"}
    running = wait_state(ec2, instance_id, "running")
    assert running["Tags"] == [{"Key": "Name", "Value": "php"}]
    assert running["PrivateDnsName"] == f"ip-{ip.replace('.', '-')}.ec2.internal"

    # The group has no port 80: the host cannot reach the server; adding the rule opens it.
    console = ""
    deadline = time.monotonic() + 15
    while "finished booting" not in console and time.monotonic() < deadline:
        console = ec2.get_console_output(InstanceId=instance_id).get("Output", "")  # boto3 decodes base64
    assert "part-001 exited with status 0" in console
    assert http_get(ip, timeout=2) is None
    ec2.authorize_security_group_ingress(
        GroupId=closed,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
        ],
    )
    assert http_get(ip) == instance_id

    # Stop and start keep what the instance wrote; rc.local brings the server back.
    stopped = ec2.stop_instances(InstanceIds=[instance_id])["StoppingInstances"][0]
    assert stopped["CurrentState"]["Name"] == "stopping"
    wait_state(ec2, instance_id, "stopped")
    assert http_get(ip, timeout=1) is None
    ec2.start_instances(InstanceIds=[instance_id])
    wait_state(ec2, instance_id, "running")
    assert http_get(ip) == instance_id
    console = ec2.get_console_output(InstanceId=instance_id)["Output"]
    assert "user data already ran for this instance" in console

    # An image of it: a new instance with no user data serves the same page, with its own id.
    image_id = ec2.create_image(InstanceId=instance_id, Name="php-web", NoReboot=True)["ImageId"]
    ec2.get_waiter("image_available").wait(ImageIds=[image_id], WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    clone = ec2.run_instances(
        ImageId=image_id,
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        SecurityGroupIds=[closed],
        SubnetId=subnet,
    )["Instances"][0]
    wait_state(ec2, clone["InstanceId"], "running")
    assert http_get(clone["PrivateIpAddress"]) == clone["InstanceId"]

    # Terminate: state machine, then nothing left on the host.
    details = {}
    for instance in (running, clone):
        found = ec2.describe_instances(InstanceIds=[instance["InstanceId"]])["Reservations"][0]["Instances"][
            0
        ]
        details[found["InstanceId"]] = (found["NetworkInterfaces"][0]["NetworkInterfaceId"], found["VpcId"])
    result = ec2.terminate_instances(InstanceIds=list(details))["TerminatingInstances"]
    assert {r["CurrentState"]["Name"] for r in result} == {"shutting-down"}
    for terminated_id, (interface_id, vpc_id) in details.items():
        gone = wait_state(ec2, terminated_id, "terminated")
        assert "PrivateIpAddress" not in gone
        assert host_leftovers(terminated_id, interface_id, vpc_id) == []
    with pytest.raises(ClientError) as error:
        ec2.start_instances(InstanceIds=[instance_id])
    assert error.value.response["Error"]["Code"] == "IncorrectInstanceState"
    layers = onebox.state_dir / "images" / "layers"
    assert len(list(layers.iterdir())) == 1
    ec2.deregister_image(ImageId=image_id)
    with pytest.raises(ClientError) as error:
        ec2.describe_images(ImageIds=[image_id])
    assert error.value.response["Error"]["Code"] == "InvalidAMIID.NotFound"
    deadline = time.monotonic() + 10
    while list(layers.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(layers.iterdir()) == []  # no image or instance uses the layer any more


def test_imds_paths_v1_and_v2_from_inside_the_instance(onebox) -> None:  # noqa: ANN001
    ec2 = onebox.client("ec2")
    key = ec2.create_key_pair(KeyName="imds-key", KeyType="ed25519")
    public_key = ec2.describe_key_pairs(KeyNames=["imds-key"], IncludePublicKey=True)["KeyPairs"][0][
        "PublicKey"
    ]
    launched = ec2.run_instances(
        ImageId=base_image(ec2),
        InstanceType="c5.large",
        MinCount=1,
        MaxCount=1,
        KeyName="imds-key",
        UserData="#cloud-config\nwrite_files:\n  - path: /etc/motd-onebox\n    content: hi\n",
        Placement={"AvailabilityZone": "us-east-1b"},
    )["Instances"][0]
    instance_id = launched["InstanceId"]
    wait_state(ec2, instance_id, "running")
    netns = NamespaceDriver.netns(instance_id)

    def inside(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", netns, *argv], capture_output=True, text=True, timeout=10
        )

    def imds(path: str, *headers: str, method: str = "GET") -> tuple[int, str]:
        argv = ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "-X", method]
        for header in headers:
            argv += ["-H", header]
        out = inside(*argv, f"http://169.254.169.254{path}").stdout
        body, _, code = out.rpartition("\n")
        return int(code), body

    status, token = imds("/latest/api/token", "X-aws-ec2-metadata-token-ttl-seconds: 300", method="PUT")
    assert status == 200 and token
    auth = f"X-aws-ec2-metadata-token: {token}"
    assert imds("/latest/meta-data/instance-id", auth) == (200, instance_id)
    assert imds("/latest/meta-data/instance-id") == (200, instance_id)  # IMDSv1 still allowed
    assert imds("/latest/meta-data/instance-id", "X-aws-ec2-metadata-token: bogus")[0] == 401
    assert imds("/latest/api/token", method="PUT")[0] == 400
    assert imds("/latest/meta-data/instance-type", auth) == (200, "c5.large")
    assert imds("/latest/meta-data/local-ipv4", auth) == (200, launched["PrivateIpAddress"])
    assert imds("/latest/meta-data/placement/availability-zone", auth) == (200, "us-east-1b")
    assert imds("/latest/meta-data/placement/region", auth) == (200, "us-east-1")
    mac = imds("/latest/meta-data/mac", auth)[1]
    assert (
        imds(f"/latest/meta-data/network/interfaces/macs/{mac}/local-ipv4s", auth)[1]
        == launched["PrivateIpAddress"]
    )
    assert imds("/latest/meta-data/security-groups", auth) == (200, "default")
    assert imds("/latest/meta-data/public-keys/", auth) == (200, "0=imds-key")
    assert imds("/latest/meta-data/public-keys/0/openssh-key", auth)[1].startswith(public_key.strip())
    assert imds("/latest/user-data", auth)[1].startswith("#cloud-config")
    document = json.loads(imds("/latest/dynamic/instance-identity/document", auth)[1])
    assert document["instanceId"] == instance_id and document["region"] == "us-east-1"
    assert imds("/latest/meta-data/nope", auth)[0] == 404
    # The instance's own view: hostname, isolated PIDs, authorized key, cloud-config file, limits.
    assert inside("cat", f"/proc/{_init_pid(instance_id)}/root/etc/motd-onebox").stdout == "hi"
    root = f"/proc/{_init_pid(instance_id)}/root"
    assert public_key.split()[1] in Path(root, "root/.ssh/authorized_keys").read_text()
    assert subprocess.run(
        ["nsenter", "-t", str(_init_pid(instance_id)), "-u", "hostname"], capture_output=True, text=True
    ).stdout.strip() == "ip-" + launched["PrivateIpAddress"].replace(".", "-")
    # Its own PID namespace: its /proc shows its init as PID 1 and only its few processes.
    pids = [entry.name for entry in Path(root, "proc").iterdir() if entry.name.isdigit()]
    assert "1" in pids and len(pids) < 10
    assert cgroups.memory_limit_bytes(instance_id) == 4 * 1024**3
    # Root inside cannot reach the host kernel: no CAP_SYS_ADMIN/CAP_SYS_MODULE, /proc/sys read-only.
    status = Path(f"/proc/{_init_pid(instance_id)}/status").read_text()
    bounding = int(next(line for line in status.splitlines() if line.startswith("CapBnd")).split()[1], 16)
    assert not bounding & (1 << 21) and not bounding & (1 << 16)
    mounts = Path(f"/proc/{_init_pid(instance_id)}/mountinfo").read_text().splitlines()
    proc_sys = [line for line in mounts if line.split()[4] == "/proc/sys"]
    assert proc_sys and proc_sys[-1].split()[5].split(",")[0] == "ro"
    # Reboot: a new init (new PID 1), the state stays running, the token from before is invalid.
    before = _init_pid(instance_id)
    ec2.reboot_instances(InstanceIds=[instance_id])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if _init_pid(instance_id) != before and imds("/latest/meta-data/instance-id")[0] == 200:
                break
        except AssertionError:
            pass  # between the old init and the new one
        time.sleep(0.05)
    assert _init_pid(instance_id) != before
    assert wait_state(ec2, instance_id, "running")
    assert imds("/latest/meta-data/instance-id", auth)[0] == 401
    console = ec2.get_console_output(InstanceId=instance_id)["Output"]
    assert console.count(f"booting {instance_id}") == 2
    ec2.terminate_instances(InstanceIds=[instance_id])
    wait_state(ec2, instance_id, "terminated")
    assert key["KeyName"] == "imds-key"


def _init_pid(instance_id: str) -> int:
    """The host pid of the instance's init: the process of its cgroup that is PID 1 in its namespace."""
    for pid in sorted(cgroups.pids(instance_id)):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            continue
        nspid = next(line for line in status.splitlines() if line.startswith("NSpid:")).split()[1:]
        if len(nspid) > 1 and nspid[-1] == "1":
            return pid
    raise AssertionError("no init process")


def test_instances_survive_daemon_kill_and_are_adopted(fresh_onebox) -> None:  # noqa: ANN001
    ec2 = fresh_onebox.client("ec2")
    vpc, subnet = own_subnet(ec2)
    group = web_group(ec2, "web-open", open_port_80=True, vpc=vpc)
    launched = ec2.run_instances(
        ImageId=base_image(ec2),
        MinCount=1,
        MaxCount=1,
        UserData=PHP_USER_DATA,
        SecurityGroupIds=[group],
        SubnetId=subnet,
    )["Instances"][0]
    instance_id, ip = launched["InstanceId"], launched["PrivateIpAddress"]
    wait_state(ec2, instance_id, "running")
    assert http_get(ip) == instance_id
    init_pid = _init_pid(instance_id)
    daemon_pid = int((fresh_onebox.state_dir / "run" / "daemon.pid").read_text())
    os.kill(daemon_pid, signal.SIGKILL)
    for _ in range(200):
        if not Path(f"/proc/{daemon_pid}").exists():
            break
        time.sleep(0.01)
    assert http_get(ip) == instance_id  # serving without a daemon
    assert fresh_onebox.cli("up", "--detach", check=False).returncode == 0
    ec2 = fresh_onebox.client("ec2")
    assert wait_state(ec2, instance_id, "running")
    assert _init_pid(instance_id) == init_pid  # adopted, not rebooted
    assert http_get(ip) == instance_id
    details = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    interface_id = details["NetworkInterfaces"][0]["NetworkInterfaceId"]
    # A second instance boots: the new daemon's controllers run (not only its API).
    second = ec2.run_instances(ImageId=base_image(ec2), MinCount=1, MaxCount=1, SubnetId=subnet)["Instances"][
        0
    ]
    wait_state(ec2, second["InstanceId"], "running")
    second_interface = second["NetworkInterfaces"][0]["NetworkInterfaceId"]
    # `onebox down` stops the instances and gives back their namespaces and cgroups.
    fresh_onebox.cli("down")
    assert host_leftovers(instance_id, interface_id, details["VpcId"]) == []
    assert host_leftovers(second["InstanceId"], second_interface, vpc) == []


def test_two_vpcs_cannot_reach_each_other(onebox) -> None:  # noqa: ANN001
    ec2 = onebox.client("ec2")
    first_vpc, first_subnet = own_subnet(ec2)
    first_cidr = ec2.describe_vpcs(VpcIds=[first_vpc])["Vpcs"][0]["CidrBlock"]
    second_vpc, second_subnet = own_subnet(ec2, avoid=(first_cidr,))

    def free_addresses() -> int:
        return ec2.describe_subnets(SubnetIds=[first_subnet])["Subnets"][0]["AvailableIpAddressCount"]

    free_before = free_addresses()
    server = ec2.run_instances(
        ImageId=base_image(ec2),
        MinCount=1,
        MaxCount=1,
        UserData=PHP_USER_DATA,
        SubnetId=first_subnet,
        SecurityGroupIds=[web_group(ec2, "web-a", open_port_80=True, vpc=first_vpc)],
    )["Instances"][0]
    client = ec2.run_instances(ImageId=base_image(ec2), MinCount=1, MaxCount=1, SubnetId=second_subnet)[
        "Instances"
    ][0]
    wait_state(ec2, server["InstanceId"], "running")
    wait_state(ec2, client["InstanceId"], "running")
    assert http_get(server["PrivateIpAddress"]) == server["InstanceId"]  # the host reaches it
    netns = NamespaceDriver.netns(client["InstanceId"])
    url = f"http://{server['PrivateIpAddress']}/"
    probe = subprocess.run(
        ["ip", "netns", "exec", netns, "curl", "-s", "-m", "2", url], capture_output=True, text=True
    )
    assert probe.returncode != 0 and probe.stdout == ""
    routes = subprocess.run(
        ["ip", "netns", "exec", netns, "ip", "-4", "route"], capture_output=True, text=True
    )
    assert routes.stdout.splitlines()[0].startswith("default via ") and "eth0" in routes.stdout
    ec2.terminate_instances(InstanceIds=[server["InstanceId"], client["InstanceId"]])
    wait_state(ec2, server["InstanceId"], "terminated")
    wait_state(ec2, client["InstanceId"], "terminated")
    assert free_addresses() == free_before  # terminate gave the private IP back
