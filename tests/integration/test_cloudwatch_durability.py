"""Acknowledged PutMetricData points survive a kill -9 of the daemon that took them (the metric store's
journal), and are counted once."""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime, timedelta

from tests.conftest import process_gone


def test_points_acknowledged_before_kill_9_are_all_there_once(fresh_onebox) -> None:
    box = fresh_onebox
    cw = box.client("cloudwatch")
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    values = [float(v) for v in range(1, 121)]
    for start in range(0, len(values), 20):  # six acknowledged requests, none flushed by a read
        cw.put_metric_data(
            Namespace="Durable",
            MetricData=[
                {"MetricName": "Hits", "Value": v, "Timestamp": now - timedelta(minutes=2)}
                for v in values[start : start + 20]
            ],
        )
    daemon_pid = int((box.state_dir / "run" / "daemon.pid").read_text())
    os.kill(daemon_pid, signal.SIGKILL)
    assert process_gone(daemon_pid)

    result = box.cli("up", "--detach", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    cw = box.client("cloudwatch")
    stats = cw.get_metric_statistics(
        Namespace="Durable",
        MetricName="Hits",
        StartTime=now - timedelta(minutes=5),
        EndTime=now,
        Period=60,
        Statistics=["SampleCount", "Sum", "Maximum"],
    )["Datapoints"]
    assert len(stats) == 1
    assert stats[0]["SampleCount"] == len(values)
    assert stats[0]["Sum"] == sum(values)
    assert stats[0]["Maximum"] == 120.0
