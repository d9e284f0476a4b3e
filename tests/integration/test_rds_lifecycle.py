"""A DB instance's server survives a daemon kill -9, is adopted by the next daemon, and stops with it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from onebox.host.engines.vpc_access import netns_name
from onebox.host.instances import cgroups
from tests.integration.test_rds_postgres import sql, wait_gone, wait_status

PASSWORD = "s3cret-pass"


def server_pid(state_dir: Path) -> int:
    """The database server's pid (not its VPC forwarder's, `rds-<id>-vpc`)."""
    (pidfile,) = [p for p in (state_dir / "run").glob("rds-*.json") if not p.stem.endswith("-vpc")]
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
    root = fresh_onebox.state_dir / "rds" / "instances" / instance["DbiResourceId"]
    namespace = netns_name(instance["DbiResourceId"])
    assert os.path.ismount(root / "volume")  # its storage, placed in the default VPC
    assert (Path("/run/netns") / namespace).exists()
    fresh_onebox.cli("down")
    deadline = time.monotonic() + 30
    while os.path.exists(f"/proc/{pid}"):
        assert time.monotonic() < deadline, "the server outlived onebox down"
        time.sleep(0.1)
    # Down gives the host back: the filesystem is unmounted and the namespace gone; data stays.
    assert not os.path.ismount(root / "volume") and (root / "volume.img").exists()
    assert not (Path("/run/netns") / namespace).exists()
    # The next daemon mounts and plugs it in again and starts its server.
    fresh_onebox.cli("up", "--detach")
    rds = fresh_onebox.client("rds")
    endpoint = wait_status(rds, "brief", timeout=90)["Endpoint"]

    def login() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["mysql", "-h", endpoint["Address"], "-P", str(endpoint["Port"]), "-u", "admin", "-N", "-B"]
            + ["--connect-timeout=2", "-e", "SELECT 7"],
            env={"MYSQL_PWD": PASSWORD, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=30,
        )

    deadline = time.monotonic() + 90
    while login().stdout.strip() != "7":
        assert time.monotonic() < deadline, "the server did not come back after up"
        time.sleep(0.3)
    assert os.path.ismount(root / "volume")
    deadline = time.monotonic() + 30
    while not (Path("/run/netns") / namespace).exists():  # plugged in once the VPC is rebuilt
        assert time.monotonic() < deadline, "the instance's VPC namespace was not rebuilt"
        time.sleep(0.3)
    rds.delete_db_instance(DBInstanceIdentifier="brief", SkipFinalSnapshot=True)
    wait_gone(rds, "brief")
    assert not root.exists() and not (Path("/run/netns") / namespace).exists()
