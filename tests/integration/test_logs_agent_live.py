"""The instance log agent for real: lines written inside instances (to /var/log/messages directly and
through `logger`) reach their log streams (one per instance id) through boto3's GetLogEvents and
FilterLogEvents; the user-data output too; exactly once across a rotation and a kill -9 of the daemon;
configuration from user data (awslogs.conf)."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the agent reads namespace instances' disks (root)")

TICKS = 40
# Appends numbered lines to /var/log/messages for ~10 s, rotating the file (mv, as logrotate does)
# after tick 20; prints to the user-data output; logs one line through syslog (/dev/log).
TICKING = """#!/bin/sh
echo "user data output {token}"
logger -t onebox-test "through syslog {token}"
nohup sh -c 'i=1
while [ $i -le {ticks} ]; do
  echo "tick $i" >> /var/log/messages
  [ $i -eq 20 ] && mv /var/log/messages /var/log/messages.1
  i=$((i+1)); sleep 0.25
done
echo done >> /var/log/messages' >/dev/null 2>&1 &
"""


def _eventually(check: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.3)


def _messages(logs: Any, group: str, stream: str) -> list[str]:
    try:
        found = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)
    except ClientError:
        return []
    return [event["message"] for event in found["events"]]


def _image(ec2: Any) -> str:
    images = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "name", "Values": ["onebox-host-*"]}])
    return images["Images"][0]["ImageId"]


def test_agent_ships_exactly_once_across_rotation_and_daemon_kill(fresh_onebox) -> None:  # noqa: ANN001
    ec2, logs = fresh_onebox.client("ec2"), fresh_onebox.client("logs")
    token = uuid.uuid4().hex[:10]
    instance_id = ec2.run_instances(
        ImageId=_image(ec2), MinCount=1, MaxCount=1, UserData=TICKING.format(token=token, ticks=TICKS)
    )["Instances"][0]["InstanceId"]
    # Default configuration: /var/log/messages and the user-data output, one stream per instance id.
    assert _eventually(lambda: "tick 1" in _messages(logs, "/var/log/messages", instance_id), 30)

    daemon_pid = int((fresh_onebox.state_dir / "run" / "daemon.pid").read_text())
    os.kill(daemon_pid, signal.SIGKILL)
    while Path(f"/proc/{daemon_pid}").exists():
        time.sleep(0.01)
    time.sleep(1)  # the instance keeps writing while no daemon runs
    assert fresh_onebox.cli("up", "--detach", check=False).returncode == 0
    logs = fresh_onebox.client("logs")

    expected = [f"tick {i}" for i in range(1, TICKS + 1)] + ["done"]
    assert _eventually(lambda: "done" in _messages(logs, "/var/log/messages", instance_id), 40)
    shipped = _messages(logs, "/var/log/messages", instance_id)
    assert [line for line in shipped if "syslog" not in line] == expected  # none lost, none twice
    # `logger` works: the instance's /dev/log writes rsyslog-style lines to /var/log/messages.
    through_syslog = [line for line in shipped if "syslog" in line]
    assert len(through_syslog) == 1 and through_syslog[0].endswith(f" onebox-test: through syslog {token}")

    output = logs.filter_log_events(
        logGroupName="/var/log/cloud-init-output.log",
        logStreamNames=[instance_id],
        filterPattern=f'"user data output {token}"',
    )["events"]
    assert len(output) == 1 and output[0]["logStreamName"] == instance_id
    streams = logs.describe_log_streams(logGroupName="/var/log/messages")["logStreams"]
    assert [stream["logStreamName"] for stream in streams] == [instance_id]
    ec2.terminate_instances(InstanceIds=[instance_id])


AWSLOGS_USER_DATA = """#cloud-config
write_files:
  - path: /etc/awslogs/awslogs.conf
    content: |
      [general]
      state_file = /var/lib/awslogs/agent-state

      [app]
      file = /var/log/app.log
      log_group_name = {group}
      log_stream_name = {{instance_id}}/app
      datetime_format = %Y-%m-%d %H:%M:%S
      time_zone = UTC
      buffer_duration = 1000
runcmd:
  - echo "2026-03-04 05:06:07 app started {token}" >> /var/log/app.log
  - echo "no timestamp here {token}" >> /var/log/app.log
  - echo "not shipped {token}" >> /var/log/messages
"""


def test_agent_configuration_from_user_data(onebox) -> None:  # noqa: ANN001
    ec2, logs = onebox.client("ec2"), onebox.client("logs")
    token = uuid.uuid4().hex[:10]
    group = f"/onebox/test/app-{token}"
    instance_id = ec2.run_instances(
        ImageId=_image(ec2),
        MinCount=1,
        MaxCount=1,
        UserData=AWSLOGS_USER_DATA.format(group=group, token=token),
    )["Instances"][0]["InstanceId"]
    stream = f"{instance_id}/app"
    try:
        found = _eventually(
            lambda: len(_messages(logs, group, stream)) >= 2 and _messages(logs, group, stream), 30
        )
        assert found == [f"2026-03-04 05:06:07 app started {token}", f"no timestamp here {token}"]
        events = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)["events"]
        # datetime_format parsed in the line (UTC); a line without one gets the time it was read.
        assert events[0]["timestamp"] == int(datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC).timestamp() * 1000)
        assert abs(events[1]["timestamp"] / 1000 - time.time()) < 120
        # This configuration replaces the defaults: /var/log/messages is not shipped for this instance.
        assert _messages(logs, "/var/log/messages", instance_id) == []
    finally:
        ec2.terminate_instances(InstanceIds=[instance_id])
