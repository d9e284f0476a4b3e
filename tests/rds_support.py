"""Helpers the RDS live tests share: waiting on instance status, and stepping the wall clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from botocore.exceptions import ClientError


def wait_status(rds, identifier: str, want: str = "available", timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        instance = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
        if instance["DBInstanceStatus"] == want:
            return instance
        assert time.monotonic() < deadline, f"{identifier} is {instance['DBInstanceStatus']}, not {want}"
        time.sleep(0.2)


def wait_gone(rds, identifier: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            rds.describe_db_instances(DBInstanceIdentifier=identifier)
        except ClientError as error:
            assert error.response["Error"]["Code"] == "DBInstanceNotFound"
            return
        assert time.monotonic() < deadline, f"{identifier} was not deleted"
        time.sleep(0.2)


def next_second() -> datetime:
    """Sleep into the next wall-clock second and return it (the database stamps rows with real time)."""
    now = datetime.now(UTC)
    target = now.replace(microsecond=0) + timedelta(seconds=1)
    time.sleep((target - now).total_seconds() + 0.05)
    return target
