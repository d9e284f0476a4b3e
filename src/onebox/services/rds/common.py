"""Shared by the RDS handlers and controllers: record kinds, where files live, validation, events."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from onebox.aws.errors import AwsError
from onebox.runtime import Runtime
from onebox.store import Record
from onebox.store.ids import arn, new_id
from onebox.store.tags import TagRules

INSTANCE = "rds:db-instance"
SNAPSHOT = "rds:db-snapshot"
PARAMETER_GROUP = "rds:db-parameter-group"
SUBNET_GROUP = "rds:db-subnet-group"
EVENT = "rds:event"
AUTOMATED_BACKUP = "rds:automated-backup"

RDS_TAG_RULES = TagRules(code="InvalidParameterValue", limit_code="TagQuotaPerResourceExceeded")

_IDENTIFIER = re.compile(r"^[A-Za-z](?!.*--)[A-Za-z0-9-]{0,62}(?<!-)$")


def check_identifier(value: str, parameter: str = "DBInstanceIdentifier") -> str:
    """RDS identifiers: 1-63 letters, digits or hyphens, first a letter, no '--', no trailing '-';
    stored lower-case (RDS identifiers are case-insensitive)."""
    if not _IDENTIFIER.match(value):
        raise AwsError(
            "InvalidParameterValue",
            f"The parameter {parameter} is not a valid identifier. Identifiers must begin with a letter; "
            "must contain only ASCII letters, digits, and hyphens; and must not end with a hyphen or "
            "contain two consecutive hyphens.",
        )
    return value.lower()


def rds_arn(ctx_region: str, account: str, kind: str, name: str) -> str:
    return arn("rds", ctx_region, account, f"{kind}:{name}")


def endpoint_host(identifier: str, account: str, region: str) -> str:
    """`<id>.<12 characters fixed per account and region>.<region>.rds.localhost`, like AWS's
    `<id>.<hash>.<region>.rds.amazonaws.com`."""
    digest = hashlib.sha256(f"{account}/{region}".encode()).hexdigest()
    token = "c" + "".join(c for c in digest if c.isalnum())[:11]
    return f"{identifier}.{token}.{region}.rds.localhost"


def new_resource_id() -> str:
    return "db-" + new_id("x", 26).split("-", 1)[1].upper()


def rds_dir(runtime: Runtime) -> Path:
    return runtime.config.state_dir / "rds"


def instance_dir(runtime: Runtime, resource_id: str) -> Path:
    return rds_dir(runtime) / "instances" / resource_id


def archive_dir(runtime: Runtime, resource_id: str) -> Path:
    return rds_dir(runtime) / "archive" / resource_id


def backup_dir(runtime: Runtime, resource_id: str) -> Path:
    return rds_dir(runtime) / "backups" / resource_id


def snapshot_dir(runtime: Runtime, record: Record) -> Path:
    return rds_dir(runtime) / "snapshots" / record.account / record.region / record.id


def iso(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def add_event(
    runtime: Runtime, account: str, region: str, source_type: str, source_id: str, message: str, category: str
) -> None:
    """One DescribeEvents entry (kept 14 days, as AWS does)."""
    event_id = new_id("evt", 20)
    runtime.store.create(
        EVENT,
        account,
        region,
        event_id,
        arn=rds_arn(region, account, "event", event_id),
        spec={
            "SourceIdentifier": source_id,
            "SourceType": source_type,
            "Message": message,
            "EventCategories": [category],
            "Date": runtime.clock.time(),
            "SourceArn": rds_arn(region, account, _ARN_KIND.get(source_type, "db"), source_id),
        },
    )


_ARN_KIND = {
    "db-instance": "db",
    "db-snapshot": "snapshot",
    "db-parameter-group": "pg",
    "db-subnet-group": "subgrp",
}


def check_window(value: str, parameter: str) -> tuple[int, int]:
    """'hh24:mi-hh24:mi' (UTC) -> (start minute of day, end minute of day)."""
    match = re.fullmatch(r"(\d\d):(\d\d)-(\d\d):(\d\d)", value)
    if not match:
        raise AwsError(
            "InvalidParameterValue", f"The parameter {parameter} must be in the format hh24:mi-hh24:mi."
        )
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise AwsError(
            "InvalidParameterValue", f"The parameter {parameter} must be in the format hh24:mi-hh24:mi."
        )
    start, end = h1 * 60 + m1, h2 * 60 + m2
    length = (end - start) % 1440
    if length < 30:
        raise AwsError("InvalidParameterValue", "The backup window must be at least 30 minutes.")
    return start, end


def in_window(now: datetime, window: str) -> datetime | None:
    """The start of the occurrence of daily `window` (UTC) that contains `now`, or None."""
    start, end = check_window(window, "PreferredBackupWindow")
    length = (end - start) % 1440
    offset = (now.hour * 60 + now.minute - start) % 1440
    if offset >= length:
        return None
    return now.replace(second=0, microsecond=0) - timedelta(minutes=offset)


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def in_weekly_window(now: datetime, window: str) -> bool:
    """Whether `now` is inside a 'ddd:hh24:mi-ddd:hh24:mi' (UTC) maintenance window."""
    match = re.fullmatch(r"([a-z]{3}):(\d\d):(\d\d)-([a-z]{3}):(\d\d):(\d\d)", window.lower())
    if not match or match.group(1) not in _DAYS or match.group(4) not in _DAYS:
        return False
    week = 7 * 1440
    start = _DAYS.index(match.group(1)) * 1440 + int(match.group(2)) * 60 + int(match.group(3))
    end = _DAYS.index(match.group(4)) * 1440 + int(match.group(5)) * 60 + int(match.group(6))
    minute = now.weekday() * 1440 + now.hour * 60 + now.minute
    return (minute - start) % week < (end - start) % week


def backup_due(now: datetime, window: str, last_backup: datetime | None) -> bool:
    """An automated backup is due when `now` is inside the backup window and none was taken since the
    window opened."""
    opened = in_window(now, window)
    return opened is not None and (last_backup is None or last_backup < opened)


def require(params: dict[str, Any], name: str) -> Any:
    value = params.get(name)
    if value in (None, ""):
        raise AwsError(
            "InvalidParameterValue", f"The parameter {name} must be provided and must not be blank."
        )
    return value
