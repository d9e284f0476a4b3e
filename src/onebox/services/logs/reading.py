"""GetLogEvents (forward and backward tokens) and FilterLogEvents (patterns across streams)."""

from __future__ import annotations

import re
from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.services.logs.events import Event
from onebox.services.logs.filter_pattern import compile_pattern
from onebox.services.logs.model import (
    events,
    get_group,
    group_name,
    invalid,
    now_ms,
    retention_cutoff,
    stream_not_found,
)

api = ServiceApi("logs")

MAX_EVENTS = 10_000
MAX_RESPONSE_BYTES = 1_048_576
_TOKEN = re.compile(r"^([fb])/(\d{20})(\d{20})$")


def encode_position(direction: str, timestamp: int, event_id: int) -> str:
    return f"{direction}/{max(timestamp, 0):020d}{event_id:020d}"


def decode_position(token: str) -> tuple[str, tuple[int, int]]:
    found = _TOKEN.match(token)
    if found is None:
        raise invalid("The specified nextToken is invalid.")
    return found.group(1), (int(found.group(2)), int(found.group(3)))


@api.operation("GetLogEvents")
def get_log_events(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    runtime = ctx.runtime
    group = get_group(runtime, ctx.account_id, ctx.region, group_name(params))
    stream = params["logStreamName"]
    store = events(runtime)
    if store.get_stream(ctx.account_id, ctx.region, group.id, stream) is None:
        raise stream_not_found()
    limit = params.get("limit") or MAX_EVENTS
    start = params.get("startTime")
    end = params.get("endTime")
    cutoff = retention_cutoff(group, now_ms(runtime))
    if cutoff is not None:
        start = max(start or 0, cutoff)  # expired events are gone even before the sweeper runs
    token = params.get("nextToken")
    common = {"streams": [stream], "start": start, "end": end, "limit": limit}
    if token:
        direction, position = decode_position(token)
    else:
        direction, position = ("f" if params.get("startFromHead") else "b"), None
    if direction == "f":
        found = store.read(ctx.account_id, ctx.region, group.id, after=position, **common)
    else:
        found = list(
            reversed(
                store.read(ctx.account_id, ctx.region, group.id, before=position, descending=True, **common)
            )
        )
    found = _within_size(found, keep_last=direction == "b")
    if found:
        forward = encode_position("f", found[-1].timestamp, found[-1].id)
        backward = encode_position("b", found[0].timestamp, found[0].id)
    elif token:
        # Nothing further this way: hand the same token back, which tells clients they reached the end.
        forward = token if direction == "f" else encode_position("f", *position)  # type: ignore[misc]
        backward = token if direction == "b" else encode_position("b", *position)  # type: ignore[misc]
    else:
        forward = encode_position("f", 0, 0)
        backward = encode_position("b", 0, 0)
    return {
        "events": [
            {"timestamp": e.timestamp, "message": e.message, "ingestionTime": e.ingestion} for e in found
        ],
        "nextForwardToken": forward,
        "nextBackwardToken": backward,
    }


@api.operation("FilterLogEvents")
def filter_log_events(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    runtime = ctx.runtime
    group = get_group(runtime, ctx.account_id, ctx.region, group_name(params))
    names = params.get("logStreamNames")
    prefix = params.get("logStreamNamePrefix")
    if names and prefix:
        raise invalid("logStreamNames and logStreamNamePrefix are mutually exclusive parameters.")
    store = events(runtime)
    streams = None
    if names is not None:
        streams = names
    elif prefix:
        streams = [s.name for s in store.streams(ctx.account_id, ctx.region, group.id, prefix)]
    pattern = compile_pattern(params.get("filterPattern"))
    limit = params.get("limit") or MAX_EVENTS
    start = params.get("startTime")
    cutoff = retention_cutoff(group, now_ms(runtime))
    if cutoff is not None:
        start = max(start or 0, cutoff)
    after = None
    if params.get("nextToken"):
        direction, after = decode_position(params["nextToken"])
        if direction != "f":
            raise invalid("The specified nextToken is invalid.")
    matched: list[Event] = []
    size = 0
    more = False
    # Scan in chunks so a selective pattern over a big group does not load it all at once.
    while True:
        chunk = store.read(
            ctx.account_id,
            ctx.region,
            group.id,
            streams=streams,
            start=start,
            end=params.get("endTime"),
            after=after,
            limit=2_000,
        )
        for event in chunk:
            after = (event.timestamp, event.id)
            if pattern.matches(event.message):
                if len(matched) == limit or size + len(event.message) > MAX_RESPONSE_BYTES:
                    more = True
                    break
                matched.append(event)
                size += len(event.message)
        if more or len(chunk) < 2_000:
            break
    result: dict[str, Any] = {
        "events": [
            {
                "logStreamName": e.stream,
                "timestamp": e.timestamp,
                "message": e.message,
                "ingestionTime": e.ingestion,
                "eventId": f"{e.timestamp:020d}{e.id:020d}",
            }
            for e in matched
        ],
        "searchedLogStreams": [],
    }
    if more and matched:
        result["nextToken"] = encode_position("f", matched[-1].timestamp, matched[-1].id)
    return result


def _within_size(found: list[Event], *, keep_last: bool) -> list[Event]:
    """Trim to AWS's 1 MB response limit, keeping the end nearest the reading direction's start."""
    ordered = list(reversed(found)) if keep_last else found
    kept: list[Event] = []
    size = 0
    for event in ordered:
        size += len(event.message.encode("utf-8")) + 26
        if size > MAX_RESPONSE_BYTES and kept:
            break
        kept.append(event)
    return list(reversed(kept)) if keep_last else kept
