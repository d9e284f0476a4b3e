"""RDS: CreateDBInstance to `available` (the master user logs in), a manual snapshot of a ~1 GB database,
pgbench TPS through the endpoint, and point-in-time restore of that database after a stretch of writes.

Peers measured in the same run, on the same host: initdb + a bare postgres to its first login (what a DB
instance costs beyond the server), `cp -a` of the same data directory (what a snapshot costs beyond a
copy), and pgbench against the server's own address rather than its endpoint name. RDS itself takes
minutes to create an instance (not measured here: no network access).

Sizes: ONEBOX_BENCH_RDS_GB (default 1) and ONEBOX_BENCH_RDS_WRITE_SECONDS (default 60; the issue's figure
is 600, ten minutes of writes).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from bench.peers import onebox

PASSWORD = "bench-password"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
RUNS = 3


def _client(endpoint: str) -> Any:
    return boto3.client(
        "rds",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}),
    )


def _wait(rds: Any, identifier: str, status: str = "available", timeout: float = 3600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        instance = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
        if instance["DBInstanceStatus"] == status:
            return instance
        time.sleep(0.02)
    raise TimeoutError(identifier)


def _create(rds: Any, identifier: str, retention: int = 0) -> dict[str, Any]:
    rds.create_db_instance(
        DBInstanceIdentifier=identifier,
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        AllocatedStorage=20,
        MasterUsername="master",
        MasterUserPassword=PASSWORD,
        DBName="bench",
        BackupRetentionPeriod=retention,
    )
    return _wait(rds, identifier)


def _pg(host: str, *args: str, tool: str = "psql", check: bool = True) -> str:
    env = {**os.environ, "PGPASSWORD": PASSWORD}
    argv = [tool, "-h", host, "-U", "master", *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, check=check).stdout


def _bare_postgres_seconds() -> float:
    """initdb + postgres to the first password login, run the way onebox runs it (same user namespace)."""
    from onebox.host.engines.base import as_db_user

    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        Path(tmp, "pw").write_text(PASSWORD)
        subprocess.run(
            as_db_user(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    f"{tmp}/data",
                    "-U",
                    "master",
                    f"--pwfile={tmp}/pw",
                    "--no-sync",
                ]
                + ["--auth-host=scram-sha-256", "--auth-local=trust"]
            ),
            check=True,
            capture_output=True,
        )
        server = subprocess.Popen(
            as_db_user(
                [str(PG_BIN / "postgres"), "-D", f"{tmp}/data", "-c", "listen_addresses=127.0.0.1"]
                + ["-c", "port=5999", "-c", f"unix_socket_directories={tmp}"]
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while subprocess.run(
                ["psql", "-h", "127.0.0.1", "-p", "5999", "-U", "master", "-d", "postgres", "-c", "SELECT 1"],
                env={**os.environ, "PGPASSWORD": PASSWORD},
                capture_output=True,
            ).returncode:
                time.sleep(0.005)
            return time.monotonic() - started
        finally:
            server.terminate()
            server.wait()


def _tps(host: str) -> float:
    out = _pg(host, "-d", "bench", "-S", "-c", "4", "-j", "2", "-T", "10", tool="pgbench")
    for line in out.splitlines():
        if line.startswith("tps ="):
            return float(line.split()[2])
    raise RuntimeError(out)


def run() -> None:
    gigabytes = float(os.environ.get("ONEBOX_BENCH_RDS_GB", "1"))
    write_seconds = float(os.environ.get("ONEBOX_BENCH_RDS_WRITE_SECONDS", "60"))
    print("RDS (PostgreSQL 15)")
    with onebox() as (endpoint, _):
        rds = _client(endpoint)
        timings = []
        for run_index in range(RUNS):
            started = time.monotonic()
            _create(rds, f"bench-create-{run_index}")
            timings.append(time.monotonic() - started)
            rds.delete_db_instance(DBInstanceIdentifier=f"bench-create-{run_index}", SkipFinalSnapshot=True)
        create = statistics.median(timings)
        bare = statistics.median(_bare_postgres_seconds() for _ in range(RUNS))
        print(
            f"  create to available      {create:6.2f} s   bare initdb+start+login {bare:5.2f} s   ratio {create / bare:4.2f}x"
            "   (goal < 5 s; RDS takes minutes)"
        )

        instance = _create(rds, "bench-data", retention=1)
        host = instance["Endpoint"]["Address"]
        address = subprocess.run(["getent", "hosts", host], capture_output=True, text=True).stdout.split()[0]
        scale = max(int(gigabytes * 68), 1)  # pgbench scale 1 is ~15 MB
        _pg(host, "-d", "bench", "-i", "-q", "-s", str(scale), tool="pgbench")
        _pg(host, "-d", "bench", "-c", "CHECKPOINT")
        size = int(_pg(host, "-d", "bench", "-At", "-c", "SELECT pg_database_size('bench')"))
        # Let the archiver catch up with the load's WAL (~1 GB of segments) first: the plain copy below
        # does not compete with it, so neither does the snapshot.
        _wait_restorable(rds, "bench-data", datetime.now(UTC))

        data_dir = next(Path(endpoint_state(endpoint)).glob("rds/instances/*/volume/data"))
        # Read the data once first, so neither the snapshot nor the copy pays for a cold page cache.
        subprocess.run(f"find {data_dir} -type f -exec cat {{}} + > /dev/null", shell=True, check=True)
        started = time.monotonic()
        rds.create_db_snapshot(DBInstanceIdentifier="bench-data", DBSnapshotIdentifier="bench-snap")
        while (
            rds.describe_db_snapshots(DBSnapshotIdentifier="bench-snap")["DBSnapshots"][0]["Status"]
            != "available"
        ):
            time.sleep(0.02)
        snapshot = time.monotonic() - started
        with tempfile.TemporaryDirectory(dir=data_dir.parent.parent) as tmp:
            started = time.monotonic()
            subprocess.run(["cp", "-a", str(data_dir), f"{tmp}/copy"], check=True)
            copy = time.monotonic() - started
        print(
            f"  snapshot of {size / 1e9:4.2f} GB       {snapshot:6.2f} s   cp -a of the data dir {copy:5.2f} s   "
            f"ratio {snapshot / copy:4.2f}x   (goal <= 1.5x)"
        )

        via_endpoint = _tps(host)
        direct = _tps(address)
        print(
            f"  pgbench -S via endpoint  {via_endpoint:8.0f} tps   same server by address {direct:8.0f} tps   "
            f"ratio {via_endpoint / direct:4.2f}x   (goal >= 0.95x)"
        )

        _pg(host, "-d", "bench", "-c", "CREATE TABLE marks (at timestamptz DEFAULT clock_timestamp())")
        deadline = time.monotonic() + write_seconds
        while time.monotonic() < deadline:
            _pg(
                host,
                "-d",
                "bench",
                "-c",
                "INSERT INTO marks DEFAULT VALUES; "
                "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = (random() * 1000)::int + 1",
            )
        moment = datetime.now(UTC)
        _wait_restorable(rds, "bench-data", moment)
        started = time.monotonic()
        rds.restore_db_instance_to_point_in_time(
            SourceDBInstanceIdentifier="bench-data",
            TargetDBInstanceIdentifier="bench-pitr",
            RestoreTime=moment,
        )
        _wait(rds, "bench-pitr")
        pitr = time.monotonic() - started
        print(
            f"  point-in-time restore    {pitr:6.2f} s   ({size / 1e9:.2f} GB + {write_seconds:.0f} s of writes; "
            f"cp -a alone {copy:.2f} s)"
        )
        _delete_all(rds)


def _wait_restorable(rds: Any, identifier: str, moment: datetime) -> None:
    """Until LatestRestorableTime passes `moment`: the archive holds everything written before it."""
    while True:
        latest = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
        if latest.get("LatestRestorableTime") and latest["LatestRestorableTime"] > moment:
            return
        time.sleep(0.2)


def _delete_all(rds: Any) -> None:
    """Delete what the bench created, so no cgroup or socket directory outlives its temp state dir."""
    for identifier in ("bench-data", "bench-pitr"):
        rds.delete_db_instance(DBInstanceIdentifier=identifier, SkipFinalSnapshot=True)
    for identifier in ("bench-data", "bench-pitr", *(f"bench-create-{i}" for i in range(RUNS))):
        while True:
            try:
                rds.describe_db_instances(DBInstanceIdentifier=identifier)
            except rds.exceptions.DBInstanceNotFoundFault:
                break
            time.sleep(0.1)


def endpoint_state(endpoint: str) -> str:
    """The state directory of the onebox answering at `endpoint` (bench.peers.onebox uses a temp dir)."""
    port = endpoint.rsplit(":", 1)[1]
    for path in Path(tempfile.gettempdir()).glob("*/run/daemon.port"):
        if path.read_text().strip() == port:
            return str(path.parent.parent)
    raise RuntimeError(f"no state directory for {endpoint}")


if __name__ == "__main__":
    run()
