"""The awsJson 1.0 / 1.1 wire protocol (botocore "json"): CloudWatch Logs, ACM, CloudWatch in json mode.

Requests are `POST /` with `X-Amz-Target: {targetPrefix}.{Operation}` and a JSON body; responses
are JSON with `Content-Type: application/x-amz-json-{jsonVersion}`. Errors carry `__type` and
`message` in the body and `x-amzn-ErrorType` in the headers; awsQueryCompatible services add
`x-amzn-query-error: {Code};{Sender|Receiver}` so clients see the old query error codes.
"""

from __future__ import annotations

import base64
import gc
import json
import struct
import weakref
import zlib
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from botocore.model import OperationModel, ServiceModel, Shape

from onebox.aws.errors import AwsError
from onebox.aws.http import HttpRequest, HttpResponse
from onebox.aws.protocols.jsonshapes import (
    JSON_WIRE,
    WireTypeError,
    decoder_for,
    describe_error,
    encoder_for,
    error_body,
    request_body,
    serialization_error,
    wire_type_error,
)

EVENT_STREAM_CONTENT_TYPE = "application/vnd.amazon.eventstream"

# Compact separators: smaller bodies, and json's C encoder does the rest.
_dumps = json.JSONEncoder(separators=(",", ":")).encode


def _reject_constant(name: str) -> float:
    # json.loads accepts NaN/Infinity literals, which are not JSON; botocore never sends them.
    raise ValueError(f"{name} is not valid JSON")


_decode_json = json.JSONDecoder(parse_constant=_reject_constant).decode


def plain_json(value: Any) -> Any:
    """A JSON-ready copy of an unmodeled value (extra fields of unmodeled errors)."""
    if isinstance(value, Mapping):
        return {str(key): plain_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [plain_json(item) for item in value]
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    return value


def decode_input(operation: OperationModel, value: dict[str, Any]) -> dict[str, Any]:
    """The client-side form of a request's parsed JSON (what `parse` returns), or the error AWS gives."""
    try:
        return decoder_for(operation.input_shape, JSON_WIRE)(value)
    except WireTypeError as exc:
        raise wire_type_error(operation.service_model, exc) from None
    except RecursionError:
        # Recursive shapes (filter unions) nested nearly as deep as the JSON parser allows.
        raise serialization_error("Request body is nested too deeply") from None


class RawJson:
    """An awsJson request for a handler that declared `handler_takes_raw_json`: a hot path that checks
    plain input faster than the generic decoder converts it.

    `parsed()` gives the body's JSON as the parser makes it (timestamps are epoch numbers, unknown
    members and nulls are still there), `decoded()` what `parse` returns; both raise the errors
    `parse` raises for a bad body.
    """

    def __init__(self, protocol: JsonProtocol, operation: OperationModel, request: HttpRequest) -> None:
        self.protocol = protocol
        self.operation = operation
        self.request = request

    @contextmanager
    def parsed(self) -> Iterator[dict[str, Any]]:
        """The parsed body, with the cyclic garbage collector paused until the block ends.

        A 1000-datum PutMetricData body is thousands of containers: collections while it is handled
        would traverse them and promote them to the oldest generation, making full collections of the
        whole daemon frequent (measured: most of the garbage collector's time on this path). Nothing
        in it is cyclic: reference counting frees it when the block ends; the caller keeps no part.
        """
        enabled = gc.isenabled()
        gc.disable()
        try:
            yield self.protocol._parse_body(self.request) or {}
        finally:
            if enabled:
                gc.enable()

    def decoded(self) -> dict[str, Any]:
        return self.protocol.parse(self.operation, self.request)


class JsonProtocol:
    """awsJson 1.0 and 1.1, driven by botocore's service models."""

    name = "json"

    def __init__(self) -> None:
        self._targets: weakref.WeakKeyDictionary[ServiceModel, dict[str, OperationModel]] = (
            weakref.WeakKeyDictionary()
        )

    # -- requests ------------------------------------------------------------------------------

    def find_operation(self, service: ServiceModel, request: HttpRequest) -> OperationModel:
        target = request.headers.get("x-amz-target", "")
        operation = self._target_table(service).get(target)
        if operation is None:
            # AWS's awsJson services answer a missing or unknown target this way.
            raise AwsError(
                "UnknownOperationException", f"Unknown operation {target or '(no X-Amz-Target)'}", 400
            )
        return operation

    def _target_table(self, service: ServiceModel) -> dict[str, OperationModel]:
        table = self._targets.get(service)
        if table is None:
            prefix = service.metadata["targetPrefix"]
            table = {f"{prefix}.{name}": service.operation_model(name) for name in service.operation_names}
            self._targets[service] = table
        return table

    def _parse_body(self, request: HttpRequest) -> dict[str, Any] | None:
        """The body's JSON object (None for an empty body), or the error AWS gives for it."""
        body = request_body(request)
        if not body:
            return None
        try:
            value = _decode_json(body.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise serialization_error(f"Request body is not valid UTF-8: {exc.reason}") from None
        except ValueError as exc:
            raise serialization_error(f"Request body is not valid JSON: {exc}") from None
        except RecursionError:
            raise serialization_error("Request body is nested too deeply") from None
        if type(value) is not dict:
            raise serialization_error("Request body must be a JSON object")
        return value

    def parse(self, operation: OperationModel, request: HttpRequest) -> dict[str, Any]:
        shape = operation.input_shape
        value = self._parse_body(request)
        if value is None:
            # An empty body is the empty input structure (botocore always sends at least "{}").
            return {}
        if shape is None:
            return {}
        return decode_input(operation, value)

    def parse_raw(self, operation: OperationModel, request: HttpRequest) -> RawJson:
        """The request, parsed when its handler asks (see `RawJson`); for handlers that declared they
        take it (`validate.handler_takes_raw_json`)."""
        return RawJson(self, operation, request)

    # -- responses -----------------------------------------------------------------------------

    def serialize(
        self, operation: OperationModel, output: dict[str, Any], request: HttpRequest, request_id: str
    ) -> HttpResponse:
        shape = operation.output_shape
        encoded = encoder_for(shape, JSON_WIRE)(output or {}) if shape is not None else {}
        headers = [("x-amzn-RequestId", request_id)]
        stream_name = shape.event_stream_name if shape is not None else None
        if stream_name:
            events = (output or {}).get(stream_name) or ()
            headers.append(("Content-Type", EVENT_STREAM_CONTENT_TYPE))
            body = event_stream_body(shape.members[stream_name], encoded, events)
            return HttpResponse(200, headers, body)
        headers.append(("Content-Type", content_type(operation.service_model)))
        return HttpResponse(200, headers, _dumps(encoded).encode("utf-8"))

    def serialize_error(
        self,
        service: ServiceModel,
        operation: OperationModel | None,
        error: AwsError,
        request: HttpRequest,
        request_id: str,
    ) -> HttpResponse:
        described = describe_error(service, operation, error)
        body = error_body(described, error, JSON_WIRE, plain_json)
        headers = [
            ("x-amzn-RequestId", request_id),
            ("Content-Type", content_type(service)),
            ("x-amzn-ErrorType", described.type_name),
        ]
        if described.query_error is not None:
            headers.append(("x-amzn-query-error", described.query_error))
        headers.extend(error.headers.items())
        return HttpResponse(described.status, headers, _dumps(body).encode("utf-8"))


def content_type(service: ServiceModel) -> str:
    return f"application/x-amz-json-{service.metadata.get('jsonVersion', '1.0')}"


# ---------------------------------------------------------------------------------------------
# Event streams (CloudWatch Logs StartLiveTail, GetLogObject)
#
# The body is a sequence of binary event-stream messages: first an `initial-response` event with
# the output's other members as JSON, then one event per item the handler yields. Items are
# `{EventMemberName: {...}}` dicts; an AwsError item (or raised by an async iterator) ends the
# stream with an exception message.


def _header_bytes(name: str, value: Any) -> bytes:
    """One typed event-stream header (string, bytes, bool, long, timestamp)."""
    key = name.encode("utf-8")
    prefix = struct.pack("!B", len(key)) + key
    if isinstance(value, bool):
        return prefix + struct.pack("!B", 0 if value else 1)
    if isinstance(value, int):
        return prefix + struct.pack("!Bq", 4, value)
    if isinstance(value, datetime):
        return prefix + struct.pack("!Bq", 8, int(value.timestamp() * 1000))
    if isinstance(value, bytes):
        return prefix + struct.pack("!BH", 6, len(value)) + value
    text = str(value).encode("utf-8")
    return prefix + struct.pack("!BH", 7, len(text)) + text


def event_message(headers: Mapping[str, Any], payload: bytes) -> bytes:
    """One event-stream message: prelude, prelude CRC, headers, payload, message CRC."""
    header_block = b"".join(_header_bytes(name, value) for name, value in headers.items())
    total = 12 + len(header_block) + len(payload) + 4
    prelude = struct.pack("!II", total, len(header_block))
    head = prelude + struct.pack("!I", zlib.crc32(prelude))
    message = head + header_block + payload
    return message + struct.pack("!I", zlib.crc32(message))


def _event_bytes(stream_shape: Shape, item: Mapping[str, Any]) -> bytes:
    name, value = next(iter(item.items()))
    event_shape = stream_shape.members[name]
    headers: dict[str, Any] = {":message-type": "event", ":event-type": name}
    header_names = set()
    payload_member = None
    for member_name, member in event_shape.members.items():
        if member.serialization.get("eventheader"):
            header_names.add(member_name)
            if value.get(member_name) is not None:
                headers[member_name] = value[member_name]
        if member.serialization.get("eventpayload"):
            payload_member = (member_name, member)
    if payload_member is None:
        headers[":content-type"] = "application/json"
        body = {key: item for key, item in value.items() if key not in header_names}
        return event_message(headers, _dumps(encoder_for(event_shape, JSON_WIRE)(body)).encode("utf-8"))
    member_name, member = payload_member
    raw = value.get(member_name)
    if member.type_name == "blob":
        headers[":content-type"] = "application/octet-stream"
        payload = raw or b""
    elif member.type_name == "string":
        headers[":content-type"] = "text/plain"
        payload = (raw or "").encode("utf-8")
    else:
        headers[":content-type"] = "application/json"
        payload = _dumps(encoder_for(member, JSON_WIRE)(raw or {})).encode("utf-8")
    return event_message(headers, payload)


def _exception_bytes(stream_shape: Shape, error: AwsError) -> bytes:
    shape = stream_shape.members.get(error.code)
    if shape is not None and shape.metadata.get("exception"):
        message_key = "Message" if "Message" in shape.members else "message"
        body = {**error.fields, message_key: error.message}
        headers = {
            ":message-type": "exception",
            ":exception-type": error.code,
            ":content-type": "application/json",
        }
        return event_message(headers, _dumps(encoder_for(shape, JSON_WIRE)(body)).encode("utf-8"))
    headers = {":message-type": "error", ":error-code": error.code, ":error-message": error.message}
    return event_message(headers, b"")


def event_stream_body(
    stream_shape: Shape, initial: dict[str, Any], events: Iterable[Any] | AsyncIterator[Any]
) -> bytes | AsyncIterator[bytes]:
    """The whole body for a list of events, or a streamed body for an async iterator."""
    first = event_message(
        {":message-type": "event", ":event-type": "initial-response", ":content-type": "application/json"},
        _dumps(initial).encode("utf-8"),
    )
    if hasattr(events, "__aiter__"):
        return _stream_events(stream_shape, first, events)
    parts = [first]
    for item in events:
        if isinstance(item, AwsError):
            parts.append(_exception_bytes(stream_shape, item))
            break
        parts.append(_event_bytes(stream_shape, item))
    return b"".join(parts)


async def _stream_events(
    stream_shape: Shape, first: bytes, events: AsyncIterator[Any]
) -> AsyncIterator[bytes]:
    yield first
    try:
        async for item in events:
            if isinstance(item, AwsError):
                yield _exception_bytes(stream_shape, item)
                return
            yield _event_bytes(stream_shape, item)
    except AwsError as error:
        yield _exception_bytes(stream_shape, error)
