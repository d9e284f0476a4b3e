"""How log groups and metric filters are stored and found; shared validation and errors."""

from __future__ import annotations

import re
from typing import Any

from onebox.aws.errors import AwsError
from onebox.runtime import Runtime
from onebox.services.logs.events import EventStore, event_store
from onebox.store import Record
from onebox.store.ids import parse_arn

LOG_GROUP = "logs:log-group"
METRIC_FILTER = "logs:metric-filter"

GROUP_NAME = re.compile(r"^[\.\-_/#A-Za-z0-9]{1,512}$")
RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip
DAY_MS = 86_400_000


def invalid(message: str) -> AwsError:
    return AwsError("InvalidParameterException", message, 400)


def group_not_found() -> AwsError:
    return AwsError("ResourceNotFoundException", "The specified log group does not exist.", 400)


def stream_not_found() -> AwsError:
    return AwsError("ResourceNotFoundException", "The specified log stream does not exist.", 400)


def now_ms(runtime: Runtime) -> int:
    return int(runtime.clock.time() * 1000)


def group_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:logs:{region}:{account}:log-group:{name}"


def events(runtime: Runtime) -> EventStore:
    return event_store(runtime.config.state_dir)


def group_name(params: dict[str, Any]) -> str:
    """logGroupName, or the name inside logGroupIdentifier (a name or an ARN)."""
    name = params.get("logGroupName")
    identifier = params.get("logGroupIdentifier")
    if name and identifier:
        raise invalid("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
    if identifier:
        if identifier.startswith("arn:"):
            resource = parse_arn(identifier.removesuffix(":*")).resource
            return resource.removeprefix("log-group:")
        return identifier
    if not name:
        raise invalid("Should provide either name or ARN of a log group.")
    return name


def get_group(runtime: Runtime, account: str, region: str, name: str) -> Record:
    record = runtime.store.get(LOG_GROUP, account, region, name)
    if record is None:
        raise group_not_found()
    return record


def retention_cutoff(group: Record, now: int) -> int | None:
    """Events older than this (ms) have expired under the group's retention policy."""
    days = group.spec.get("retentionInDays")
    return now - int(days) * DAY_MS if days else None
