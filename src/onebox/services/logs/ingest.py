"""PutLogEvents with AWS's batch rules, and the internal path other services log through."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.runtime import Runtime
from onebox.services.logs import metric_filters
from onebox.services.logs.model import (
    DAY_MS,
    LOG_GROUP,
    events,
    get_group,
    group_arn,
    invalid,
    now_ms,
    retention_cutoff,
    stream_not_found,
)
from onebox.services.logs.streams import sequence_token
from onebox.store import AlreadyExists

api = ServiceApi("logs")

MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD = 26  # AWS counts 26 bytes per event on top of its UTF-8 message
MAX_AGE_MS = 14 * DAY_MS
MAX_FUTURE_MS = 2 * 3_600_000
MAX_SPAN_MS = DAY_MS


@api.operation("PutLogEvents")
def put_log_events(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    runtime = ctx.runtime
    group = get_group(runtime, ctx.account_id, ctx.region, params["logGroupName"])
    stream_name = params["logStreamName"]
    store = events(runtime)
    if store.get_stream(ctx.account_id, ctx.region, group.id, stream_name) is None:
        raise stream_not_found()
    batch = [(int(event["timestamp"]), event["message"]) for event in params["logEvents"]]
    size = sum(len(message.encode("utf-8")) + EVENT_OVERHEAD for _, message in batch)
    if size > MAX_BATCH_BYTES:
        raise invalid(f"Upload too large: {size} bytes exceeds limit of {MAX_BATCH_BYTES}")
    timestamps = [timestamp for timestamp, _ in batch]
    if any(later < earlier for earlier, later in zip(timestamps, timestamps[1:], strict=False)):
        raise invalid("Log events in a single PutLogEvents request must be in chronological order.")
    if timestamps[-1] - timestamps[0] > MAX_SPAN_MS:
        raise invalid(
            "The batch of log events in a single PutLogEvents request cannot span more than 24 hours."
        )
    now = now_ms(runtime)
    rejected: dict[str, int] = {}
    too_old = [i for i, ts in enumerate(timestamps) if ts < now - MAX_AGE_MS]
    cutoff = retention_cutoff(group, now)
    expired = [i for i, ts in enumerate(timestamps) if cutoff is not None and ts < cutoff]
    too_new = [i for i, ts in enumerate(timestamps) if ts > now + MAX_FUTURE_MS]
    if too_old:
        rejected["tooOldLogEventEndIndex"] = too_old[-1]
    if expired:
        rejected["expiredLogEventEndIndex"] = expired[-1]
    if too_new:
        rejected["tooNewLogEventStartIndex"] = too_new[0]
    skip = set(too_old) | set(expired) | set(too_new)
    accepted = [event for i, event in enumerate(batch) if i not in skip]
    sequence = store.append(ctx.account_id, ctx.region, group.id, stream_name, accepted, now)
    metric_filters.apply(runtime, ctx.account_id, ctx.region, group.id, accepted)
    result: dict[str, Any] = {"nextSequenceToken": sequence_token(sequence)}
    if rejected:
        result["rejectedLogEventsInfo"] = rejected
    return result


def put_internal_events(
    runtime: Runtime,
    account: str,
    region: str,
    group_name: str,
    stream_name: str,
    batch: Sequence[tuple[int, str]],
    cursor: tuple[str, str] | None = None,
) -> None:
    """Log (timestamp ms, message) events from onebox itself (SNS delivery status, agents), creating
    the group and stream if needed, as AWS's services do for their own log groups. `cursor` is
    stored with the events in one transaction (see `EventStore.append`)."""
    try:
        runtime.store.create(
            LOG_GROUP,
            account,
            region,
            group_name,
            arn=group_arn(region, account, group_name),
            name=group_name,
            spec={"logGroupClass": "STANDARD", "retentionInDays": None},
        )
    except AlreadyExists:
        pass
    store = events(runtime)
    now = now_ms(runtime)
    store.create_stream(account, region, group_name, stream_name, now)
    ordered = sorted(batch, key=lambda event: event[0])  # stable: same-millisecond lines keep their order
    store.append(account, region, group_name, stream_name, ordered, now, cursor)
    metric_filters.apply(runtime, account, region, group_name, ordered)
