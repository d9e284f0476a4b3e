"""A DB instance's server survives a daemon kill -9, is adopted by the next daemon, and stops with it."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from onebox.host.engines.base import Layout
from onebox.host.instances import cgroups
from tests.integration.test_rds_postgres import sql, wait_gone, wait_status

PASSWORD = "s3cret-pass"


def server_pid(state_dir: Path) -> int:
    (pidfile,) = (state_dir / "run").glob("rds-*.json")
    return json.loads(pidfile.read_text())["pid"]


def test_server_survives_daemon_kill_and_is_adopted(fresh_onebox) -> None:
    rds = fresh_onebox.client("rds")
    rds.create_db_instance(
        DBInstanceIdentifier="sturdy",
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        AllocatedStorage=20,
        MasterUsername="master",
        MasterUserPassword=PASSWORD,
        DBName="app",
        BackupRetentionPeriod=0,
    )
    instance = wait_status(rds, "sturdy")
    endpoint = instance["Endpoint"]
    sql(endpoint, "CREATE TABLE t AS SELECT 1 AS one")
    pid = server_pid(fresh_onebox.state_dir)
    group = f"rds-{instance['DbiResourceId'].lower()}"
    # The class's memory is the server's cgroup limit, as EC2 instance types do.
    assert pid in cgroups.pids(group)
    assert cgroups.memory_limit_bytes(group) == 1024**3  # db.t3.micro: 1 GiB
    rds.modify_db_instance(
        DBInstanceIdentifier="sturdy", DBInstanceClass="db.t3.small", ApplyImmediately=True
    )
    deadline = time.monotonic() + 30
    while cgroups.memory_limit_bytes(group) != 2 * 1024**3:
        assert time.monotonic() < deadline, "the new class's memory limit was not applied"
        time.sleep(0.2)
    daemon = int((fresh_onebox.state_dir / "run" / "daemon.pid").read_text())
    os.kill(daemon, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{daemon}") and "zombie" not in open(f"/proc/{daemon}/status").read():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert sql(endpoint, "SELECT one FROM t") == "1"  # still serving with no daemon
    fresh_onebox.cli("up", "--detach")
    rds = fresh_onebox.client("rds")
    assert wait_status(rds, "sturdy")["DBInstanceStatus"] == "available"
    assert server_pid(fresh_onebox.state_dir) == pid  # adopted, not restarted
    assert sql(endpoint, "SELECT one FROM t") == "1"
    rds.delete_db_instance(DBInstanceIdentifier="sturdy", SkipFinalSnapshot=True)
    wait_gone(rds, "sturdy")
    assert not os.path.exists(f"/proc/{pid}") or "zombie" in open(f"/proc/{pid}/status").read().lower()
    assert not cgroups.exists(group)
    assert not list((fresh_onebox.state_dir / "rds" / "instances").iterdir())


def test_onebox_down_stops_servers(fresh_onebox) -> None:
    rds = fresh_onebox.client("rds")
    rds.create_db_instance(
        DBInstanceIdentifier="brief",
        Engine="mariadb",
        DBInstanceClass="db.t3.micro",
        AllocatedStorage=20,
        MasterUsername="admin",
        MasterUserPassword=PASSWORD,
        BackupRetentionPeriod=0,
    )
    instance = wait_status(rds, "brief")
    pid = server_pid(fresh_onebox.state_dir)
    fresh_onebox.cli("down")
    deadline = time.monotonic() + 30
    while os.path.exists(f"/proc/{pid}"):
        assert time.monotonic() < deadline, "the server outlived onebox down"
        time.sleep(0.1)
    cgroups.remove(f"rds-{instance['DbiResourceId'].lower()}")
    root = fresh_onebox.state_dir / "rds" / "instances" / instance["DbiResourceId"]
    Layout(root, root).remove()  # the instance stays (until the next up); its /tmp socket dir goes
