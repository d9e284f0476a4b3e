"""The AWS `query` and `ec2` wire protocols, driven by botocore's service models.

Requests are form-urlencoded parameters (`Action=...&Foo.member.1.Bar=...`); responses and
errors are XML. Both directions are the exact inverse of botocore's `QuerySerializer` /
`EC2Serializer` and `QueryParser` / `EC2QueryParser`.

Speed: each shape gets one reader and one writer closure, built on first use and cached by
shape identity (botocore caches shapes on the operation model, so the cache stays bounded).
Member tables are built lazily inside those closures because recursive shapes get a new
Shape object at every level. XML is written by appending strings to one list.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import formatdate
from functools import cache
from typing import Any
from urllib.parse import unquote_plus

from botocore.model import OperationModel, ServiceModel, Shape

from onebox.aws.errors import AwsError, validation_error
from onebox.aws.http import HttpRequest, HttpResponse
from onebox.aws.protocols.base import error_status

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
MISSING_ACTION_MESSAGE = "The request is missing an action or a required parameter."

# A reader turns one node of the parameter tree (a str leaf or a dict of children) into a value.
Reader = Callable[[Any], Any]
# A writer appends one value as XML to `out`, wrapped in the given opening and closing tags.
Writer = Callable[[Any, list[str], str, str], None]


class _Missing:
    """Marks a parameter node that cannot hold the member's type (ignored, like AWS does)."""


_MISSING = _Missing()


class _BadValue(Exception):
    """A malformed scalar; `path` collects the wire key segments innermost first."""

    def __init__(self, value: str, expected: str) -> None:
        super().__init__(value)
        self.value = value
        self.expected = expected
        self.path: list[str] = []


# --------------------------------------------------------------------------- request side


def _decode_params(service_name: str, request: HttpRequest) -> dict[str, str]:
    """All form parameters: the query string, then a form body (body wins on repeats)."""
    params: dict[str, str] = {}
    try:
        if request.query_string:
            _decode_form(request.query_string, params)
        if request.body and request.method != "GET" and _is_form(request):
            _decode_form(request.body.decode("utf-8"), params)
    except UnicodeDecodeError as exc:
        raise validation_error(service_name, "The request is not valid UTF-8.") from exc
    return params


def _decode_form(text: str, into: dict[str, str]) -> None:
    """Form-urlencoded pairs into `into`, blank values kept; a lean `parse_qsl` (the hot path)."""
    for pair in text.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        if "%" in name or "+" in name:
            name = unquote_plus(name, errors="strict")
        if "%" in value or "+" in value:
            value = unquote_plus(value, errors="strict")
        into[name] = value


def _is_form(request: HttpRequest) -> bool:
    # Clients always send the form type; a missing type is accepted as form for curl-style callers.
    content_type = request.headers.get("content-type", "")
    return not content_type or content_type.split(";", 1)[0].strip().lower() == FORM_CONTENT_TYPE


def _param_tree(params: dict[str, str]) -> dict[str, Any]:
    """`{"A.member.1.B": "x"}` -> `{"A": {"member": {"1": {"B": "x"}}}}`.

    A leaf never replaces children: `A=` (an empty list) next to `A.member.1=x` keeps the items.
    """
    root: dict[str, Any] = {}
    for key, value in params.items():
        node = root
        *parents, last = key.split(".")
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        if not isinstance(node.get(last), dict):
            node[last] = value
    return root


def _capitalized_name(shape: Shape, default: str) -> str:
    """EC2's input name: queryName, else the locationName capitalized, else the default."""
    serialization = shape.serialization
    if "queryName" in serialization:
        return serialization["queryName"]
    if "name" in serialization:
        name = serialization["name"]
        return name[0].upper() + name[1:]
    return default


def _input_keys(ref: Shape, member_name: str, ec2: bool) -> tuple[str, str | None]:
    """The parameter-name segment botocore's serializer uses for a structure member, plus a fallback.

    A query flattened list whose member is named sends its items under the member's name but an
    empty list (`Foo=`) under the list's own name, so that one has two keys.
    """
    if ec2:
        return _capitalized_name(ref, member_name), None
    own_name = ref.serialization.get("name", member_name)
    if ref.type_name == "list" and ref.serialization.get("flattened"):
        item_name = ref.member.serialization.get("name")
        if item_name and item_name != own_name:
            return item_name, own_name
    return own_name, None


@cache
def _reader(shape: Shape, ec2: bool) -> Reader:
    kind = shape.type_name
    if kind == "structure":
        return _structure_reader(shape, ec2)
    if kind == "list":
        return _list_reader(shape, ec2)
    if kind == "map":
        return _map_reader(shape, ec2)
    return _SCALAR_READERS.get(kind, _read_string)


def _structure_reader(shape: Shape, ec2: bool) -> Reader:
    plan: tuple[tuple[str, str, str | None, Reader], ...] | None = None

    def read(node: Any) -> Any:
        nonlocal plan
        if not isinstance(node, dict):
            return _MISSING
        if plan is None:
            plan = tuple(
                (name, *_input_keys(ref, name, ec2), _reader(ref, ec2)) for name, ref in shape.members.items()
            )
        result: dict[str, Any] = {}
        for name, key, fallback_key, reader in plan:
            child = node.get(key)
            if child is None:
                if fallback_key is None or fallback_key not in node:
                    continue
                key = fallback_key
                child = node[key]
            try:
                value = reader(child)
            except _BadValue as exc:
                exc.path.append(key)
                raise
            if value is not _MISSING:
                result[name] = value
        return result

    return read


def _indexed(node: dict[str, Any]) -> list[tuple[int, Any]]:
    """Children named 1, 2, ... in numeric order; other names are ignored."""
    return sorted((int(key), child) for key, child in node.items() if key.isascii() and key.isdigit())


def _list_reader(shape: Shape, ec2: bool) -> Reader:
    member = shape.member
    # EC2 lists are always flattened (`Foo.1`); query lists are `Foo.member.1` unless flattened.
    item_key = (
        None if ec2 or shape.serialization.get("flattened") else member.serialization.get("name", "member")
    )

    def read(node: Any) -> Any:
        if isinstance(node, str):
            # `Foo=` is how the query serializer sends an empty list.
            return [] if node == "" else _MISSING
        items = node if item_key is None else node.get(item_key)
        if not isinstance(items, dict):
            return _MISSING
        reader = _reader(member, ec2)
        result = []
        for index, child in _indexed(items):
            try:
                value = reader(child)
            except _BadValue as exc:
                exc.path.append(str(index) if item_key is None else f"{item_key}.{index}")
                raise
            if value is not _MISSING:
                result.append(value)
        return result

    return read


def _map_reader(shape: Shape, ec2: bool) -> Reader:
    flattened = bool(shape.serialization.get("flattened"))
    name_of = _capitalized_name if ec2 else (lambda ref, default: ref.serialization.get("name", default))
    key_name = name_of(shape.key, "key")
    value_name = name_of(shape.value, "value")

    def read(node: Any) -> Any:
        if isinstance(node, str):
            return {} if node == "" else _MISSING
        entries = node if flattened else node.get("entry")
        if not isinstance(entries, dict):
            return _MISSING
        key_reader = _reader(shape.key, ec2)
        value_reader = _reader(shape.value, ec2)
        result: dict[Any, Any] = {}
        for index, entry in _indexed(entries):
            if (
                not isinstance(entry, dict)
                or not isinstance(entry.get(key_name), str)
                or value_name not in entry
            ):
                continue
            prefix = str(index) if flattened else f"entry.{index}"
            try:
                key = key_reader(entry[key_name])
            except _BadValue as exc:
                exc.path.append(f"{prefix}.{key_name}")
                raise
            try:
                value = value_reader(entry[value_name])
            except _BadValue as exc:
                exc.path.append(f"{prefix}.{value_name}")
                raise
            if value is not _MISSING:
                result[key] = value
        return result

    return read


def _read_string(node: Any) -> Any:
    return node if isinstance(node, str) else _MISSING


_INTEGER = re.compile(r"[+-]?[0-9]+\Z")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")


def _read_integer(node: Any) -> Any:
    if not isinstance(node, str):
        return _MISSING
    if not _INTEGER.match(node):
        raise _BadValue(node, "an integer")
    return int(node)


def _read_float(node: Any) -> Any:
    if not isinstance(node, str):
        return _MISSING
    try:
        return float(node)
    except ValueError:
        raise _BadValue(node, "a number") from None


def _read_boolean(node: Any) -> Any:
    if not isinstance(node, str):
        return _MISSING
    lowered = node.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    raise _BadValue(node, "true or false")


def _read_timestamp(node: Any) -> Any:
    if not isinstance(node, str):
        return _MISSING
    try:
        return parse_timestamp(node)
    except (ValueError, OverflowError, OSError):
        raise _BadValue(node, "an ISO 8601 timestamp or epoch seconds") from None


def parse_timestamp(text: str) -> datetime:
    """ISO 8601 (as botocore sends it, with or without fraction and offset) or epoch seconds, in UTC."""
    if _NUMBER.match(text):
        return datetime.fromtimestamp(float(text), UTC)
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _read_blob(node: Any) -> Any:
    if not isinstance(node, str):
        return _MISSING
    try:
        return base64.b64decode(node, validate=True)
    except (binascii.Error, ValueError):
        raise _BadValue(node, "base64") from None


_SCALAR_READERS: dict[str, Reader] = {
    "string": _read_string,
    "character": _read_string,
    "integer": _read_integer,
    "long": _read_integer,
    "byte": _read_integer,
    "short": _read_integer,
    "float": _read_float,
    "double": _read_float,
    "boolean": _read_boolean,
    "timestamp": _read_timestamp,
    "blob": _read_blob,
}


# -------------------------------------------------------------------------- response side


def xml_escape(text: str) -> str:
    """Escape text content; CR becomes a character reference so XML parsers keep it."""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if "\r" in text:
        text = text.replace("\r", "&#13;")
    return text


def _tags(name: str) -> tuple[str, str]:
    return f"<{name}>", f"</{name}>"


@cache
def _writer(shape: Shape, ec2: bool) -> Writer:
    kind = shape.type_name
    if kind == "structure":
        return _structure_writer(shape, ec2)
    if kind == "list":
        return _list_writer(shape, ec2)
    if kind == "map":
        return _map_writer(shape, ec2)
    if kind == "timestamp":
        return _timestamp_writer(shape.serialization.get("timestampFormat", "iso8601"))
    return _scalar_writer(_FORMATTERS.get(kind, _format_string))


def _output_tag(ref: Shape, member_name: str) -> str:
    """The element name botocore's XML parser looks for (see `_member_key_name`)."""
    if ref.type_name == "list" and ref.serialization.get("flattened"):
        item_name = ref.member.serialization.get("name")
        if item_name:
            return item_name
    return ref.serialization.get("name", member_name)


def _structure_writer(shape: Shape, ec2: bool) -> Writer:
    plan: tuple[tuple[str, str, str, Writer], ...] | None = None

    def write(value: Any, out: list[str], open_tag: str, close_tag: str) -> None:
        nonlocal plan
        if plan is None:
            plan = tuple(
                (name, *_tags(_output_tag(ref, name)), _writer(ref, ec2))
                for name, ref in shape.members.items()
            )
        out.append(open_tag)
        for name, member_open, member_close, writer in plan:
            member_value = value.get(name)
            if member_value is not None:
                writer(member_value, out, member_open, member_close)
        out.append(close_tag)

    return write


def _list_writer(shape: Shape, ec2: bool) -> Writer:
    member = shape.member
    flattened = bool(shape.serialization.get("flattened"))
    item_open, item_close = _tags(member.serialization.get("name", "item" if ec2 else "member"))

    def write(value: Any, out: list[str], open_tag: str, close_tag: str) -> None:
        writer = _writer(member, ec2)
        if flattened:
            # Each item is an element named like the list itself; an empty list cannot be written.
            for item in value:
                if item is not None:
                    writer(item, out, open_tag, close_tag)
            return
        out.append(open_tag)
        for item in value:
            if item is not None:
                writer(item, out, item_open, item_close)
        out.append(close_tag)

    return write


def _map_writer(shape: Shape, ec2: bool) -> Writer:
    flattened = bool(shape.serialization.get("flattened"))
    key_open, key_close = _tags(shape.key.serialization.get("name", "key"))
    value_open, value_close = _tags(shape.value.serialization.get("name", "value"))

    def write(value: Any, out: list[str], open_tag: str, close_tag: str) -> None:
        key_writer = _writer(shape.key, ec2)
        value_writer = _writer(shape.value, ec2)
        if not flattened:
            out.append(open_tag)
        for key, item in value.items():
            if item is None:
                continue
            out.append(open_tag if flattened else "<entry>")
            key_writer(key, out, key_open, key_close)
            value_writer(item, out, value_open, value_close)
            out.append(close_tag if flattened else "</entry>")
        if not flattened:
            out.append(close_tag)

    return write


def _scalar_writer(format_value: Callable[[Any], str]) -> Writer:
    def write(value: Any, out: list[str], open_tag: str, close_tag: str) -> None:
        out.append(open_tag)
        out.append(format_value(value))
        out.append(close_tag)

    return write


def _timestamp_writer(timestamp_format: str) -> Writer:
    def write(value: Any, out: list[str], open_tag: str, close_tag: str) -> None:
        out.append(open_tag)
        out.append(format_timestamp(value, timestamp_format))
        out.append(close_tag)

    return write


def _format_string(value: Any) -> str:
    return xml_escape(value if isinstance(value, str) else str(value))


def _format_integer(value: Any) -> str:
    return str(int(value))


def _format_float(value: Any) -> str:
    number = float(value)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    return repr(number)


def _format_boolean(value: Any) -> str:
    return "true" if value else "false"


def _format_blob(value: Any) -> str:
    data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    return base64.b64encode(data).decode("ascii")


_FORMATTERS: dict[str, Callable[[Any], str]] = {
    "string": _format_string,
    "character": _format_string,
    "integer": _format_integer,
    "long": _format_integer,
    "byte": _format_integer,
    "short": _format_integer,
    "float": _format_float,
    "double": _format_float,
    "boolean": _format_boolean,
    "blob": _format_blob,
}


def format_timestamp(value: Any, timestamp_format: str = "iso8601") -> str:
    """A timestamp the way AWS's XML protocols send it: ISO 8601 UTC with milliseconds by default."""
    if isinstance(value, str):
        return xml_escape(value)
    if isinstance(value, datetime):
        moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    else:
        moment = datetime.fromtimestamp(float(value), UTC)
    if timestamp_format == "unixTimestamp":
        return repr(round(moment.timestamp(), 3)).removesuffix(".0")
    if timestamp_format == "rfc822":
        return formatdate(moment.timestamp(), usegmt=True)
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}.{moment.microsecond // 1000:03d}Z"
    )


@cache
def _operations(service: ServiceModel) -> dict[str, OperationModel]:
    return {name: service.operation_model(name) for name in service.operation_names}


@cache
def _error_shapes(service: ServiceModel) -> dict[str, Shape]:
    """Modeled error shapes by wire code and by shape name (first declared wins, as in error_status)."""
    shapes: dict[str, Shape] = {}
    for shape in service.error_shapes:
        shapes.setdefault(shape.metadata.get("error", {}).get("code", shape.name), shape)
        shapes.setdefault(shape.name, shape)
    return shapes


def _namespace(service: ServiceModel) -> str:
    namespace = service.metadata.get("xmlNamespace", "")
    return namespace.get("uri", "") if isinstance(namespace, dict) else namespace


# Error elements the envelope writes itself; error fields with these names are not repeated.
_ENVELOPE_FIELDS = frozenset({"Type", "Code", "Message"})


def _error_details(service: ServiceModel, error: AwsError, ec2: bool) -> str:
    """Extra `<Error>` children: modeled members typed by the error shape, others as text."""
    if not error.fields:
        return ""
    shape = _error_shapes(service).get(error.code)
    members = shape.members if shape is not None else {}
    out: list[str] = []
    for name, value in error.fields.items():
        if value is None or name in _ENVELOPE_FIELDS:
            continue
        ref = members.get(name)
        if ref is not None:
            _writer(ref, ec2)(value, out, *_tags(_output_tag(ref, name)))
        else:
            out.append(f"<{name}>{_format_string(value)}</{name}>")
    return "".join(out)


# ------------------------------------------------------------------------------ protocols


class QueryProtocol:
    """The `query` protocol (STS, ELBv2, Auto Scaling, RDS, ElastiCache, SNS, CloudWatch query mode)."""

    name = "query"
    ec2 = False
    content_type = "text/xml"

    def __init__(self) -> None:
        # The gateway calls find_operation and then parse on the same request; remembering the
        # last decoded request (by identity of the request and its fields) saves decoding twice.
        self._last_decoded: tuple[HttpRequest, str, bytes, dict[str, str]] | None = None

    def _params(self, service_name: str, request: HttpRequest) -> dict[str, str]:
        """The request's form parameters (read-only: the dict may be shared with the previous call)."""
        last = self._last_decoded
        if (
            last is not None
            and last[0] is request
            and last[1] is request.query_string
            and last[2] is request.body
        ):
            return last[3]
        params = _decode_params(service_name, request)
        self._last_decoded = (request, request.query_string, request.body, params)
        return params

    def find_operation(self, service: ServiceModel, request: HttpRequest) -> OperationModel:
        params = self._params(service.service_name, request)
        action = params.get("Action")
        if not action:
            raise AwsError("MissingAction", MISSING_ACTION_MESSAGE, 400)
        operation = _operations(service).get(action)
        if operation is None:
            raise AwsError("InvalidAction", self._invalid_action_message(service, action, params), 400)
        return operation

    def _invalid_action_message(self, service: ServiceModel, action: str, params: dict[str, str]) -> str:
        return f"Could not find operation {action} for version {params.get('Version', service.api_version)}"

    def parse(self, operation: OperationModel, request: HttpRequest) -> dict[str, Any]:
        service_name = operation.service_model.service_name
        params = self._params(service_name, request)
        shape = operation.input_shape
        if shape is None:
            return {}
        try:
            parsed = _reader(shape, self.ec2)(_param_tree(params))
        except _BadValue as exc:
            path = ".".join(reversed(exc.path))
            shown = exc.value if len(exc.value) <= 64 else exc.value[:64] + "..."
            raise validation_error(
                service_name, f"Invalid value '{shown}' for parameter {path}: expected {exc.expected}."
            ) from None
        return parsed if isinstance(parsed, dict) else {}

    def serialize(
        self, operation: OperationModel, output: dict[str, Any], request: HttpRequest, request_id: str
    ) -> HttpResponse:
        out = [self._response_head(operation, request_id)]
        shape = operation.output_shape
        if shape is not None:
            wrapper = shape.serialization.get("resultWrapper")
            open_tag, close_tag = _tags(wrapper) if wrapper else ("", "")
            _writer(shape, self.ec2)(output or {}, out, open_tag, close_tag)
        out.append(self._response_tail(operation, request_id))
        return self._xml_response(200, "".join(out), request_id)

    def _response_head(self, operation: OperationModel, request_id: str) -> str:
        return f'<{operation.name}Response xmlns="{_namespace(operation.service_model)}">'

    def _response_tail(self, operation: OperationModel, request_id: str) -> str:
        return (
            f"<ResponseMetadata><RequestId>{xml_escape(request_id)}</RequestId></ResponseMetadata>"
            f"</{operation.name}Response>"
        )

    def serialize_error(
        self,
        service: ServiceModel,
        operation: OperationModel | None,
        error: AwsError,
        request: HttpRequest,
        request_id: str,
    ) -> HttpResponse:
        status = error_status(service, error)
        body = self._error_body(service, error, status, request_id)
        response = self._xml_response(status, body, request_id)
        for name, value in error.headers.items():
            response.set_header(name, value)
        return response

    def _error_body(self, service: ServiceModel, error: AwsError, status: int, request_id: str) -> str:
        fault = "Sender" if error.sender_fault and status < 500 else "Receiver"
        return (
            f'<ErrorResponse xmlns="{_namespace(service)}"><Error><Type>{fault}</Type>'
            f"<Code>{xml_escape(error.code)}</Code>{_message(error)}{_error_details(service, error, self.ec2)}"
            f"</Error><RequestId>{xml_escape(request_id)}</RequestId></ErrorResponse>"
        )

    def _xml_response(self, status: int, body: str, request_id: str) -> HttpResponse:
        headers = [("Content-Type", self.content_type), ("x-amzn-RequestId", request_id)]
        return HttpResponse(status=status, headers=headers, body=body.encode("utf-8"))


class Ec2Protocol(QueryProtocol):
    """The `ec2` protocol: query-style requests, `<requestId>`-first responses, `<Response><Errors>` errors."""

    name = "ec2"
    ec2 = True
    content_type = "text/xml;charset=UTF-8"

    def _invalid_action_message(self, service: ServiceModel, action: str, params: dict[str, str]) -> str:
        return f"The action {action} is not valid for this web service."

    def _response_head(self, operation: OperationModel, request_id: str) -> str:
        return (
            f'{XML_DECLARATION}<{operation.name}Response xmlns="{_ec2_namespace(operation.service_model)}">'
            f"<requestId>{xml_escape(request_id)}</requestId>"
        )

    def _response_tail(self, operation: OperationModel, request_id: str) -> str:
        return f"</{operation.name}Response>"

    def _error_body(self, service: ServiceModel, error: AwsError, status: int, request_id: str) -> str:
        return (
            f"{XML_DECLARATION}<Response><Errors><Error><Code>{xml_escape(error.code)}</Code>"
            f"{_message(error)}{_error_details(service, error, self.ec2)}</Error></Errors>"
            f"<RequestID>{xml_escape(request_id)}</RequestID></Response>"
        )


def _ec2_namespace(service: ServiceModel) -> str:
    # EC2 answers with the versioned namespace and a trailing slash, unlike the model's xmlNamespace.
    return f"http://ec2.amazonaws.com/doc/{service.api_version}/"


def _message(error: AwsError) -> str:
    # An empty <Message/> would parse as None in botocore; leaving it out gives clients their default.
    return f"<Message>{xml_escape(error.message)}</Message>" if error.message else ""
