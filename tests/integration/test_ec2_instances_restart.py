"""What serves after a restart of an instance is the instance's own disk, as on EC2 with cloud-init: the
PHP instance's user data ran once (per instance id) and wrote the page and an /etc/rc.local that starts
the server; a Stop/Start, and an `onebox down` + `up`, boot it again from its writable layer, rc.local
starts the server and the same page is served."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.integration.test_ec2_instances_live import (
    PHP_USER_DATA,
    base_image,
    http_get,
    own_subnet,
    wait_state,
    web_group,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the namespace driver needs root")


def page(ip: str) -> tuple[str, str]:
    """(status code, body) of http://ip/ once the server answers."""
    assert http_get(ip) is not None, f"nothing answers on {ip}:80"
    result = subprocess.run(
        ["curl", "-s", "-m", "5", "-o", "-", "-w", "\n%{http_code}", f"http://{ip}/"],
        capture_output=True,
        text=True,
    )
    body, _, code = result.stdout.rpartition("\n")
    return code, body


def test_a_php_instance_serves_again_after_stop_start_and_onebox_restart(fresh_onebox) -> None:  # noqa: ANN001
    ec2 = fresh_onebox.client("ec2")
    vpc, subnet = own_subnet(ec2)
    group = web_group(ec2, "web-restart", open_port_80=True, vpc=vpc)
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
    assert page(ip) == ("200", instance_id)

    ec2.stop_instances(InstanceIds=[instance_id])
    wait_state(ec2, instance_id, "stopped")
    ec2.start_instances(InstanceIds=[instance_id])
    wait_state(ec2, instance_id, "running")
    assert page(ip) == ("200", instance_id)

    fresh_onebox.cli("down")
    fresh_onebox.cli("up", "--detach")
    ec2 = fresh_onebox.client("ec2")
    wait_state(ec2, instance_id, "running")
    assert page(ip) == ("200", instance_id)
    console = ec2.get_console_output(InstanceId=instance_id)["Output"]
    assert console.count("running /var/lib/cloud/instances/") == 1  # user data ran once
    assert console.count("running /etc/rc.local") == 2  # the server came back from the disk each boot
    assert console.count("onebox-init: halted") == 2  # both shutdowns were clean
