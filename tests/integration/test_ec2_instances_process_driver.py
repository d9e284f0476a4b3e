"""The process driver (what non-root users get): an instance is a supervised process group with a
loopback private address; user data runs, the console records it, the IMDS answers, terminate stops it."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import start_onebox

USER_DATA = """#!/bin/sh
echo "user data ran in $(pwd)"
mkdir -p site && cd site
printf '<?php echo "served by process driver";' > index.php
php -S "$(curl -s "$AWS_EC2_METADATA_SERVICE_ENDPOINT"latest/meta-data/local-ipv4):8080" >/dev/null 2>&1 &
"""


def test_process_driver_runs_user_data_serves_and_terminates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONEBOX_INSTANCE_DRIVER", "process")
    box = start_onebox(tmp_path / "state")
    try:
        ec2 = box.client("ec2")
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        launched = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, UserData=USER_DATA)["Instances"][
            0
        ]
        instance_id, ip = launched["InstanceId"], launched["PrivateIpAddress"]
        assert ip.startswith("127.")
        ec2.get_waiter("instance_running").wait(
            InstanceIds=[instance_id], WaiterConfig={"Delay": 1, "MaxAttempts": 30}
        )
        imds = subprocess.run(
            ["curl", "-s", "-m", "2", f"http://{ip}/latest/meta-data/instance-id"],
            capture_output=True,
            text=True,
        )
        assert imds.stdout == instance_id
        page = ""
        deadline = time.monotonic() + 15
        while page != "served by process driver" and time.monotonic() < deadline:
            page = subprocess.run(
                ["curl", "-s", "-m", "1", f"http://{ip}:8080/"], capture_output=True, text=True
            ).stdout
            time.sleep(0.1)
        assert page == "served by process driver"
        console = ec2.get_console_output(InstanceId=instance_id)["Output"]
        assert f"user data ran in {box.state_dir}/instances/{instance_id}/root" in console
        ec2.terminate_instances(InstanceIds=[instance_id])
        ec2.get_waiter("instance_terminated").wait(
            InstanceIds=[instance_id], WaiterConfig={"Delay": 1, "MaxAttempts": 30}
        )
        refused = subprocess.run(
            ["curl", "-s", "-m", "1", f"http://{ip}:8080/"], capture_output=True, text=True
        )
        assert refused.returncode != 0
        assert not (box.state_dir / "instances" / instance_id).exists()
    finally:
        box.cli("down", check=False)
