"""Log streams: create, delete, describe (prefix or last-event order, pagination)."""

from __future__ import annotations

from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.services.logs.events import Stream
from onebox.services.logs.model import events, get_group, group_name, invalid, now_ms, stream_not_found

api = ServiceApi("logs")

MAX_PAGE = 50


@api.operation("CreateLogStream")
def create_log_stream(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["logStreamName"]
    if ":" in name or "*" in name:
        raise invalid(
            f"1 validation error detected: Value '{name}' at 'logStreamName' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: [^:*]*"
        )
    group = get_group(ctx.runtime, ctx.account_id, ctx.region, params["logGroupName"])
    if not events(ctx.runtime).create_stream(ctx.account_id, ctx.region, group.id, name, now_ms(ctx.runtime)):
        raise AwsError("ResourceAlreadyExistsException", "The specified log stream already exists")
    return {}


@api.operation("DeleteLogStream")
def delete_log_stream(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    group = get_group(ctx.runtime, ctx.account_id, ctx.region, params["logGroupName"])
    if not events(ctx.runtime).delete_stream(ctx.account_id, ctx.region, group.id, params["logStreamName"]):
        raise stream_not_found()
    return {}


@api.operation("DescribeLogStreams")
def describe_log_streams(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    group = get_group(ctx.runtime, ctx.account_id, ctx.region, group_name(params))
    prefix = params.get("logStreamNamePrefix") or ""
    order = params.get("orderBy") or "LogStreamName"
    if prefix and order == "LastEventTime":
        raise invalid("Cannot order by LastEventTime with a logStreamNamePrefix.")
    descending = bool(params.get("descending"))
    streams = events(ctx.runtime).streams(ctx.account_id, ctx.region, group.id, prefix)

    def key(stream: Stream) -> tuple[Any, ...]:
        if order == "LastEventTime":
            # Descending order is expressed by negating, so the paginator's ascending walk serves both.
            last = stream.last_event if stream.last_event is not None else -1
            return (-last if descending else last, stream.name)
        return (stream.name,) if not descending else tuple(-ord(c) for c in stream.name) + (1_114_112,)

    page, token = ctx.runtime.store.paginator.paginate(
        streams,
        params.get("limit") or MAX_PAGE,
        params.get("nextToken"),
        key=key,  # type: ignore[arg-type]
        scope=f"logs:DescribeLogStreams:{group.arn}:{prefix}:{order}:{descending}",
        code="InvalidParameterException",
        message="The specified nextToken is invalid.",
    )
    result: dict[str, Any] = {"logStreams": [_stream_view(group.arn, stream) for stream in page]}
    if token:
        result["nextToken"] = token
    return result


def _stream_view(group_arn: str, stream: Stream) -> dict[str, Any]:
    view: dict[str, Any] = {
        "logStreamName": stream.name,
        "creationTime": stream.created,
        "arn": f"{group_arn}:log-stream:{stream.name}",
        "storedBytes": 0,  # deprecated by AWS: always 0
        "uploadSequenceToken": sequence_token(stream.sequence),
    }
    if stream.first_event is not None:
        view["firstEventTimestamp"] = stream.first_event
        view["lastEventTimestamp"] = stream.last_event
    if stream.last_ingestion is not None:
        view["lastIngestionTime"] = stream.last_ingestion
    return view


def sequence_token(sequence: int) -> str:
    """A token shaped like AWS's (56 digits). PutLogEvents ignores tokens now, as AWS does."""
    return f"{sequence:056d}"
