"""The `rest-json` protocol (Lambda and friends): REST routing plus JSON bodies.

Bodies are read with the inverse of `botocore.serialize.RestJSONSerializer` and written so that
`botocore.parsers.RestJSONParser` reads them back. Errors carry their code in `x-amzn-ErrorType`
and `{"message": ...}` plus any modeled fields in the body, as Lambda answers.
"""

from __future__ import annotations

import base64
import json
from functools import cache
from typing import Any

from botocore.model import OperationModel, ServiceModel, Shape

from onebox.aws.errors import AwsError
from onebox.aws.http import HttpRequest, HttpResponse
from onebox.aws.protocols.base import error_status
from onebox.aws.protocols.rest import (
    RestProtocol,
    error_plan,
    float_text,
    format_timestamp,
    parse_timestamp,
    timestamp_format,
)

# How each service names a body that is not JSON; SerializationException is the rest-json norm.
_MALFORMED = {
    "lambda": ("InvalidRequestContentException", "Could not parse request body into json"),
}


@cache
def _json_members(shape: Shape) -> tuple[tuple[str, str, Shape], ...]:
    """Body members of a structure: (member name, JSON key, shape)."""
    return tuple(
        (name, member.serialization.get("name", name), member)
        for name, member in shape.members.items()
        if not member.serialization.get("location") and not member.serialization.get("eventstream")
    )


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


def read_value(shape: Shape, value: Any) -> Any:
    kind = shape.type_name
    if value is None:
        return None
    if kind == "structure":
        if shape.is_document_type:
            return value
        if not isinstance(value, dict):
            raise ValueError(f"{shape.name} must be a JSON object")
        result = {}
        for name, key, member in _json_members(shape):
            item = value.get(key)
            if item is not None:
                result[name] = read_value(member, item)
        return result
    if kind == "list":
        if not isinstance(value, list):
            raise ValueError(f"{shape.name} must be a JSON array")
        return [read_value(shape.member, item) for item in value]
    if kind == "map":
        if not isinstance(value, dict):
            raise ValueError(f"{shape.name} must be a JSON object")
        return {key: read_value(shape.value, item) for key, item in value.items()}
    if kind == "timestamp":
        return parse_timestamp(value, timestamp_format(shape, "unixTimestamp"))
    if kind == "blob":
        if not isinstance(value, str):
            raise ValueError(f"{shape.name} must be base64 text")
        return base64.b64decode(value, validate=True)
    if kind in ("float", "double") and isinstance(value, (str, int)) and not isinstance(value, bool):
        return float(value)
    return value


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def write_value(shape: Shape, value: Any) -> Any:
    kind = shape.type_name
    if kind == "structure":
        if shape.is_document_type:
            return value
        result = {}
        for name, key, member in _json_members(shape):
            item = value.get(name)
            if item is not None:
                result[key] = write_value(member, item)
        return result
    if kind == "list":
        return [write_value(shape.member, item) for item in value]
    if kind == "map":
        return {key: write_value(shape.value, item) for key, item in value.items()}
    if kind == "timestamp":
        return format_timestamp(value, timestamp_format(shape, "unixTimestamp"))
    if kind == "blob":
        return base64.b64encode(value.encode() if isinstance(value, str) else value).decode()
    if kind in ("float", "double"):
        text = float_text(float(value))
        return text if text in ("NaN", "Infinity", "-Infinity") else float(value)
    return value


def dumps(value: Any) -> bytes:
    # default=str: an unmodeled error field of an odd type still becomes text, never a 500.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")


# ---------------------------------------------------------------------------------------------
# The protocol
# ---------------------------------------------------------------------------------------------


class RestJsonProtocol(RestProtocol):
    name = "rest-json"

    def content_type(self, service: ServiceModel) -> str:
        return "application/json"

    def malformed_body(self, service: ServiceModel, detail: str) -> AwsError:
        code, message = _MALFORMED.get(
            service.service_name, ("SerializationException", "Malformed JSON body")
        )
        return AwsError(code, f"{message}: {detail}", 400)

    def parse_body(self, service: ServiceModel, shape: Shape, body: bytes) -> Any:
        try:
            document = json.loads(body)
        except ValueError as exc:  # includes JSONDecodeError and UnicodeDecodeError
            raise self.malformed_body(service, str(exc)) from exc
        if shape.type_name == "structure" and not shape.is_document_type and not isinstance(document, dict):
            raise self.malformed_body(service, "the body must be a JSON object")
        try:
            return read_value(shape, document)
        except (ValueError, TypeError, RecursionError) as exc:
            raise self.malformed_body(service, str(exc)) from exc

    def serialize_body(self, operation: OperationModel, shape: Shape, value: Any, root: str) -> bytes:
        return dumps(write_value(shape, value))

    def serialize_error(
        self,
        service: ServiceModel,
        operation: OperationModel | None,
        error: AwsError,
        request: HttpRequest,
        request_id: str,
    ) -> HttpResponse:
        response = HttpResponse(status=error_status(service, error))
        shape = self.error_shape(service, error)
        body: dict[str, Any] = {}
        message_key = "message"
        if shape is not None:
            self.write_located(error_plan(shape), error.fields, response)
            body = write_value(shape, error.fields)
            members = {key for _, key, _ in _json_members(shape)}
            message_key = "Message" if "Message" in members and "message" not in members else "message"
            if "Type" in members and "Type" not in body:
                # Lambda says who is at fault in a `Type` member.
                body["Type"] = "User" if error.sender_fault else "Service"
        else:
            body = {key: value for key, value in error.fields.items() if value is not None}
        body[message_key] = error.message
        response.headers.append(("x-amzn-ErrorType", error.code))
        response.headers.extend(self.request_id_headers(service, request_id))
        response.headers.extend(error.headers.items())
        if request.method.upper() != "HEAD":
            response.headers.append(("Content-Type", "application/json"))
            response.body = dumps(body)
        return response
