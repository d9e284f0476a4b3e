"""AllocatedStorage is a real filesystem of that size: the database cannot grow beyond it, the instance
shows `storage-full` when it fills, and ModifyDBInstance AllocatedStorage grows it."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from tests.rds_support import wait_gone, wait_status

PASSWORD = "s3cret-pass"
GIB = 1024**3


def psql(endpoint: dict, statement: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["psql", "-h", endpoint["Address"], "-p", str(endpoint["Port"]), "-U", "master", "-d", "postgres"]
        + ["-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", statement],
        env={"PGPASSWORD": PASSWORD, "PATH": "/usr/bin:/bin", "PGCONNECT_TIMEOUT": "5"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_storage_is_a_filesystem_of_allocated_size_that_fills_and_grows(onebox) -> None:
    rds = onebox.client("rds")
    rds.create_db_instance(
        DBInstanceIdentifier="pg-storage",
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        AllocatedStorage=20,
        MasterUsername="master",
        MasterUserPassword=PASSWORD,
        BackupRetentionPeriod=0,
    )
    try:
        instance = wait_status(rds, "pg-storage")
        endpoint = instance["Endpoint"]
        volume = Path(onebox.state_dir) / "rds" / "instances" / instance["DbiResourceId"] / "volume"
        mount = subprocess.run(
            ["findmnt", "-n", "-o", "SOURCE,FSTYPE", str(volume)], capture_output=True, text=True
        )
        assert mount.stdout.split()[0].startswith("/dev/loop") and mount.stdout.split()[1] == "ext4"
        stat = os.statvfs(volume)
        # The filesystem is AllocatedStorage (20 GiB less ext4's own ~2.5 %), in a sparse image.
        assert 19.4 * GIB < stat.f_blocks * stat.f_frsize <= 20 * GIB
        image = volume.parent / "volume.img"
        assert image.stat().st_size == 20 * GIB and image.stat().st_blocks * 512 < 1 * GIB

        # Fill it from the side (fallocate takes space without writing, so the image stays sparse),
        # leaving 24 MiB for the database, then write more than that through the endpoint.
        free = os.statvfs(volume).f_bavail * os.statvfs(volume).f_frsize
        subprocess.run(["fallocate", "-l", str(free - 24 * 1024**2), str(volume / "ballast")], check=True)
        assert psql(endpoint, "CREATE TABLE t (v text)").returncode == 0
        filled = psql(
            endpoint, "INSERT INTO t SELECT md5(g::text) || repeat('x', 900) FROM generate_series(1, 60000) g"
        )
        assert filled.returncode != 0 and "No space left on device" in filled.stderr
        wait_status(rds, "pg-storage", "storage-full", timeout=30)

        # Growing the allocation (AWS's way out of storage-full) gives the database room again.
        rds.modify_db_instance(DBInstanceIdentifier="pg-storage", AllocatedStorage=21, ApplyImmediately=True)
        grown = wait_status(rds, "pg-storage", timeout=60)
        assert grown["AllocatedStorage"] == 21
        stat = os.statvfs(volume)
        assert stat.f_blocks * stat.f_frsize > 20.3 * GIB
        result = psql(
            endpoint, "INSERT INTO t SELECT 'fits now' FROM generate_series(1, 1000); SELECT count(*) FROM t"
        )
        assert result.returncode == 0 and result.stdout.strip().endswith("1000"), result.stderr
    finally:
        rds.delete_db_instance(DBInstanceIdentifier="pg-storage", SkipFinalSnapshot=True)
    wait_gone(rds, "pg-storage")
    deadline = time.monotonic() + 10
    while os.path.ismount(volume):
        assert time.monotonic() < deadline, "the instance's filesystem stayed mounted"
        time.sleep(0.2)
