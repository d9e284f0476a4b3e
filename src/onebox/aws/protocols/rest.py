"""What rest-xml and rest-json share: routing by `http.requestUri`, and the parts of a request and
response that live outside the body (URI labels, query string, headers, status code).

The body codecs (XML, JSON) live in restxml.py and restjson.py; each subclasses `RestProtocol`.
Everything here is driven by botocore's service model and is the server-side inverse of
`botocore.serialize.BaseRestSerializer` and `botocore.parsers.BaseRestParser`.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import cache
from typing import Any
from urllib.parse import unquote, unquote_plus

from botocore.model import OperationModel, ServiceModel, Shape
from botocore.utils import parse_timestamp as botocore_parse_timestamp

from onebox.aws.errors import AwsError, not_implemented, validation_error
from onebox.aws.http import HttpRequest, HttpResponse

# ---------------------------------------------------------------------------------------------
# Timestamps
# ---------------------------------------------------------------------------------------------

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def to_datetime(value: Any) -> datetime:
    """A handler's timestamp (aware or naive-UTC datetime, epoch seconds, or ISO text) as aware UTC."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        return parse_timestamp(value, "iso8601")
    raise TypeError(f"not a timestamp: {value!r}")


def format_timestamp(value: Any, fmt: str) -> str | int | float:
    """A timestamp in one of the model's `timestampFormat`s (iso8601 with milliseconds, as AWS sends)."""
    moment = to_datetime(value)
    fmt = fmt.lower()
    # Built by hand: faster than strftime, and strftime's %a/%b follow the locale; HTTP dates must not.
    clock = f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    if fmt == "iso8601":
        return (
            f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{clock}.{moment.microsecond // 1000:03d}Z"
        )
    if fmt == "rfc822":
        weekday, month = _DAYS[moment.weekday()], _MONTHS[moment.month - 1]
        return f"{weekday}, {moment.day:02d} {month} {moment.year:04d} {clock} GMT"
    if fmt == "unixtimestamp":
        seconds = calendar.timegm(moment.utctimetuple())
        return seconds + moment.microsecond / 1_000_000 if moment.microsecond else seconds
    raise ValueError(f"unknown timestampFormat {fmt}")


def parse_timestamp(value: str | int | float, fmt: str) -> datetime:
    """A timestamp in the expected format, accepting the other AWS formats too (clients differ)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if not isinstance(value, str):
        raise ValueError(f"not a timestamp: {value!r}")
    text = value.strip()
    if fmt.lower() == "rfc822" or (text[:3] in _DAYS and "," in text):
        try:
            moment = parsedate_to_datetime(text)
            return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        except (TypeError, ValueError, IndexError):
            pass
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except (ValueError, OverflowError, OSError):
        pass
    try:
        moment = datetime.fromisoformat(text)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except ValueError:
        pass
    try:
        return botocore_parse_timestamp(text).astimezone(UTC)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValueError(f"not a timestamp: {value!r}") from exc


def timestamp_format(shape: Shape, default: str) -> str:
    return shape.serialization.get("timestampFormat", default)


# ---------------------------------------------------------------------------------------------
# Scalars outside the body (URI labels, query string, headers)
# ---------------------------------------------------------------------------------------------


def float_text(value: float) -> str:
    """How botocore writes a float: JSON-safe names for the IEEE specials."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return str(value)


def scalar_from_text(shape: Shape, text: str, default_ts: str) -> Any:
    """A URI label, query or header value as the member's Python type. Raises ValueError if it is not one."""
    kind = shape.type_name
    if kind == "string":
        if shape.serialization.get("jsonvalue") and shape.serialization.get("location") == "header":
            return json.loads(base64.b64decode(text, validate=True).decode("utf-8"))
        return text
    if kind in ("integer", "long"):
        return int(text.strip())
    if kind in ("float", "double"):
        return float(text.strip())
    if kind == "boolean":
        lowered = text.strip().lower()
        if lowered not in ("true", "false"):
            raise ValueError(f"not a boolean: {text!r}")
        return lowered == "true"
    if kind == "timestamp":
        return parse_timestamp(text, timestamp_format(shape, default_ts))
    if kind == "blob":
        return base64.b64decode(text, validate=True)
    raise ValueError(f"a {kind} cannot be carried outside the body")


def scalar_to_text(shape: Shape, value: Any, default_ts: str) -> str:
    """A value for a URI label, query parameter or header, as botocore would write it."""
    kind = shape.type_name
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "timestamp":
        return str(format_timestamp(value, timestamp_format(shape, default_ts)))
    if kind in ("float", "double"):
        return float_text(float(value))
    if kind == "blob":
        return base64.b64encode(value.encode() if isinstance(value, str) else value).decode()
    if kind == "string" and shape.serialization.get("jsonvalue"):
        return base64.b64encode(json.dumps(value, separators=(",", ":")).encode()).decode()
    return str(value)


def split_header_list(text: str, member: Shape) -> list[str]:
    """Items of a comma-separated header list (RFC 7230), honouring botocore's quoting of strings."""
    items: list[str] = []
    current: list[str] = []
    quoted = False
    escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    items.append("".join(current).strip())
    if member.type_name == "timestamp" and timestamp_format(member, "rfc822").lower() == "rfc822":
        # An HTTP date has a comma of its own ("Wed, 04 Mar 2026 ..."): items come in pairs.
        items = [f"{items[i]}, {items[i + 1]}" for i in range(0, len(items) - 1, 2)]
    return items


def header_list_text(shape: Shape, values: list[Any]) -> str:
    member = shape.member
    parts = []
    for value in values:
        if value is None:
            continue
        if member.type_name == "string":
            text = str(value)
            parts.append('"' + text.replace('"', '\\"') + '"' if ("," in text or '"' in text) else text)
        else:
            parts.append(scalar_to_text(member, value, "rfc822"))
    return ",".join(parts)


# ---------------------------------------------------------------------------------------------
# Routing
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One operation's place in the URI space and what else a request must carry to mean it."""

    operation: OperationModel
    method: str
    template: tuple[str, ...]
    literal_query: tuple[tuple[str, str | None], ...]
    required_query: tuple[str, ...]
    required_headers: tuple[str, ...]
    known_query: frozenset[str]
    # Higher wins: all fixed query keys, required query keys and required headers; then fixed query
    # keys alone; then literal path segments; then not deprecated.
    rank: tuple[int, ...]

    def accepts(self, query: dict[str, list[str]], headers: dict[str, str]) -> bool:
        for key, value in self.literal_query:
            values = query.get(key)
            if values is None or (value is not None and value not in values):
                return False
        return all(key in query for key in self.required_query) and all(
            name in headers for name in self.required_headers
        )


@dataclass
class _Leaf:
    """The routes of one path template, by method; a method's routes are indexed by their first
    fixed query key (S3's `?acl`, `?versioning`, ...) so a request only checks the few that could fit."""

    keyed: dict[str, dict[str, list[Route]]] = field(default_factory=dict)
    plain: dict[str, list[Route]] = field(default_factory=dict)

    def add(self, route: Route) -> None:
        if route.literal_query:
            self.keyed.setdefault(route.method, {}).setdefault(route.literal_query[0][0], []).append(route)
        else:
            self.plain.setdefault(route.method, []).append(route)

    def choose(self, method: str, query: dict[str, list[str]], headers: dict[str, str]) -> Route | None:
        """The most specific route for the method that the request satisfies.

        Ties (operations the wire cannot tell apart, e.g. S3 ListBuckets and ListDirectoryBuckets) go
        to the one whose known query keys cover more of the request, then to the non-deprecated one,
        then to model order. An `x-id` query parameter (sent by SDKs generated from Smithy models,
        e.g. Go v2 in Terraform) names the operation outright.
        """
        keyed = self.keyed.get(method)
        candidates = list(self.plain.get(method, ()))
        if keyed:
            for key in query:
                candidates.extend(keyed.get(key, ()))
        accepted = [route for route in candidates if route.accepts(query, headers)]
        if not accepted:
            return None
        hint = query.get("x-id")
        if hint:
            for route in accepted:
                if route.operation.name == hint[0]:
                    return route
        top = max(route.rank for route in accepted)
        tied = [route for route in accepted if route.rank == top]
        if len(tied) == 1:
            return tied[0]
        return max(tied, key=lambda route: sum(1 for key in query if key in route.known_query))


@dataclass
class _Node:
    """A trie over path segments: literal children first, then a label, then a greedy label."""

    literals: dict[str, _Node] = field(default_factory=dict)
    label: _Node | None = None
    # Greedy label ({Key+}) leaves, keyed by the literal segments that must follow the label.
    greedy: dict[tuple[str, ...], _Leaf] = field(default_factory=dict)
    leaf: _Leaf | None = None


def split_path(path: str) -> list[str]:
    """Segments of a path without the leading '/': '/' -> [], '/a/' -> ['a', '']."""
    return path[1:].split("/") if len(path) > 1 else []


def _is_label(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}")


@cache
def route_of(operation: OperationModel) -> Route:
    """An operation's route, from its `http.requestUri` and the members a request must carry."""
    http = operation.http
    path, _, query = http["requestUri"].partition("?")
    template = tuple(split_path(path))
    literal_query: list[tuple[str, str | None]] = []
    for item in filter(None, query.split("&")):
        key, has_value, value = item.partition("=")
        literal_query.append((key, value if has_value else None))
    required_query: list[str] = []
    required_headers: list[str] = []
    known_query = {key for key, _ in literal_query}
    shape = operation.input_shape
    if shape is not None:
        required = set(shape.required_members)
        for name, member in shape.members.items():
            location = member.serialization.get("location")
            wire = member.serialization.get("name", name)
            if location == "querystring":
                known_query.add(wire)
                if name in required and member.type_name != "map":
                    required_query.append(wire)
            elif location == "header" and name in required:
                required_headers.append(wire.lower())
    literals = sum(1 for segment in template if not _is_label(segment))
    rank = (
        len(literal_query) + len(required_query) + len(required_headers),
        len(literal_query),
        literals,
        0 if operation.deprecated else 1,
    )
    return Route(
        operation=operation,
        method=http.get("method", "POST").upper(),
        template=template,
        literal_query=tuple(literal_query),
        required_query=tuple(required_query),
        required_headers=tuple(required_headers),
        known_query=frozenset(known_query),
        rank=rank,
    )


class RouteTable:
    """All operations of a service, indexed so a request costs a few dict look-ups."""

    def __init__(self, service: ServiceModel) -> None:
        self.root = _Node()
        for name in service.operation_names:
            route = route_of(service.operation_model(name))
            self._insert(route, route.template)
            if route.template and route.template[-1] == "":
                # Some models end a path in '/' (Route 53's rrset/); SDKs built from others do not.
                self._insert(route, route.template[:-1])

    def _insert(self, route: Route, template: tuple[str, ...]) -> None:
        node = self.root
        for index, segment in enumerate(template):
            if segment.endswith("+}"):
                node.greedy.setdefault(template[index + 1 :], _Leaf()).add(route)
                # A greedy label with a literal tail ({Arn+}/policy) is tried before a bare one ({Arn+}).
                node.greedy = dict(sorted(node.greedy.items(), key=lambda item: -len(item[0])))
                return
            if _is_label(segment):
                node.label = node.label or _Node()
                node = node.label
            else:
                node = node.literals.setdefault(segment, _Node())
        node.leaf = node.leaf or _Leaf()
        node.leaf.add(route)

    def leaves(self, path: str) -> Iterator[_Leaf]:
        """Leaves whose path template matches, most literal first; a trailing '/' is optional."""
        segments = split_path(path)
        found = False
        for leaf in self._walk(self.root, segments, 0):
            found = True
            yield leaf
        if not found and segments and segments[-1] == "":
            yield from self._walk(self.root, segments[:-1], 0)

    def _walk(self, node: _Node, segments: list[str], index: int) -> Iterator[_Leaf]:
        if index == len(segments):
            if node.leaf is not None:
                yield node.leaf
            return
        segment = segments[index]
        child = node.literals.get(segment)
        if child is not None:
            yield from self._walk(child, segments, index + 1)
        if node.label is not None and segment:
            yield from self._walk(node.label, segments, index + 1)
        for suffix, leaf in node.greedy.items():
            end = len(segments) - len(suffix)
            if end > index and tuple(segments[end:]) == suffix and "/".join(segments[index:end]):
                yield leaf


@cache
def route_table(service: ServiceModel) -> RouteTable:
    return RouteTable(service)


def _labels_exact(template: tuple[str, ...], segments: list[str]) -> dict[str, str] | None:
    labels: dict[str, str] = {}
    for index, segment in enumerate(template):
        if segment.endswith("+}"):
            suffix = template[index + 1 :]
            end = len(segments) - len(suffix)
            value = "/".join(segments[index:end]) if end > index else ""
            if not value or tuple(segments[end:]) != suffix:
                return None
            labels[segment[1:-2]] = value
            return labels
        if index >= len(segments):
            return None
        if _is_label(segment):
            if not segments[index]:
                return None
            labels[segment[1:-1]] = segments[index]
        elif segment != segments[index]:
            return None
    return labels if len(segments) == len(template) else None


def match_labels(template: tuple[str, ...], segments: list[str]) -> dict[str, str] | None:
    """Raw (percent-encoded) label values of a path, with the same trailing-'/' leniency as routing."""
    labels = _labels_exact(template, segments)
    if labels is None and template and template[-1] == "":
        labels = _labels_exact(template[:-1], segments)
    if labels is None and segments and segments[-1] == "":
        labels = _labels_exact(template, segments[:-1])
    return labels


# ---------------------------------------------------------------------------------------------
# Per-operation plans: which member lives where
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Located:
    """A member carried outside the body: its name in the shape, its wire name and its shape."""

    name: str
    wire: str
    shape: Shape


@dataclass(frozen=True)
class MessagePlan:
    """Where each member of an input or output shape travels."""

    shape: Shape | None
    labels: tuple[Located, ...] = ()
    query: tuple[Located, ...] = ()
    query_map: Located | None = None
    headers: tuple[Located, ...] = ()
    header_maps: tuple[Located, ...] = ()
    status: Located | None = None
    payload: Located | None = None
    # The payload is raw bytes (blob) or text (string) rather than an XML/JSON document.
    raw_payload: bool = False
    body_members: tuple[str, ...] = ()


def _plan(shape: Shape | None) -> MessagePlan:
    if shape is None:
        return MessagePlan(shape=None)
    groups: dict[str, list[Located]] = {"uri": [], "querystring": [], "header": [], "headers": []}
    query_map = status = None
    body: list[str] = []
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        located = Located(name, member.serialization.get("name", name), member)
        if location == "querystring" and member.type_name == "map":
            query_map = located
        elif location == "headers":
            groups["headers"].append(Located(name, located.wire.lower(), member))
        elif location == "header":
            groups["header"].append(located)
        elif location == "statusCode":
            status = located
        elif location in groups:
            groups[location].append(located)
        elif not member.serialization.get("eventstream"):
            body.append(name)
    payload_name = shape.serialization.get("payload")
    payload = None
    if payload_name is not None:
        member = shape.members[payload_name]
        payload = Located(payload_name, member.serialization.get("name", payload_name), member)
    return MessagePlan(
        shape=shape,
        labels=tuple(groups["uri"]),
        query=tuple(groups["querystring"]),
        query_map=query_map,
        headers=tuple(groups["header"]),
        header_maps=tuple(groups["headers"]),
        status=status,
        payload=payload,
        raw_payload=payload is not None and payload.shape.type_name in ("blob", "string"),
        body_members=tuple(body) if payload is None else (),
    )


@cache
def input_plan(operation: OperationModel) -> MessagePlan:
    return _plan(operation.input_shape)


@cache
def output_plan(operation: OperationModel) -> MessagePlan:
    return _plan(operation.output_shape)


@cache
def error_plan(shape: Shape) -> MessagePlan:
    return _plan(shape)


@cache
def error_shapes(service: ServiceModel) -> dict[str, Shape]:
    """Modeled error shapes by wire code and by shape name."""
    shapes: dict[str, Shape] = {}
    for shape in service.error_shapes:
        shapes[shape.name] = shape
        shapes[shape.metadata.get("error", {}).get("code", shape.name)] = shape
    return shapes


def parse_query(query_string: str) -> dict[str, list[str]]:
    """Query parameters by name, all values in order, blank values kept; invalid UTF-8 raises ValueError."""
    params: dict[str, list[str]] = {}
    if not query_string:
        return params
    for item in query_string.split("&"):
        if not item:
            continue
        key, _, value = item.partition("=")
        name = unquote_plus(key, errors="strict")
        params.setdefault(name, []).append(unquote_plus(value, errors="strict"))
    return params


# ---------------------------------------------------------------------------------------------
# The protocol
# ---------------------------------------------------------------------------------------------


class RestProtocol:
    """The REST half of rest-xml and rest-json; subclasses add the body codec and the error format."""

    name = "rest"

    # -- hooks for the body codec ----------------------------------------------------------------

    def parse_body(self, service: ServiceModel, shape: Shape, body: bytes) -> Any:
        """A document body (XML or JSON) read against a shape (a structure, or a payload's shape)."""
        raise NotImplementedError

    def serialize_body(
        self, operation: OperationModel, shape: Shape, value: dict[str, Any], root: str
    ) -> bytes:
        """A structure as a document body (XML or JSON); `root` names the XML root element."""
        raise NotImplementedError

    def content_type(self, service: ServiceModel) -> str:
        raise NotImplementedError

    def request_id_headers(self, service: ServiceModel, request_id: str) -> list[tuple[str, str]]:
        return [("x-amzn-RequestId", request_id)]

    def malformed_body(self, service: ServiceModel, detail: str) -> AwsError:
        raise NotImplementedError

    def no_route(self, service: ServiceModel, request: HttpRequest, path_matched: bool) -> AwsError:
        # What AWS front ends (and Smithy servers) answer for a request that names no operation.
        return AwsError(
            "UnknownOperationException", f"No operation matches {request.method} {request.path}", 404
        )

    def bad_uri(self, service: ServiceModel, detail: str) -> AwsError:
        return validation_error(service.service_name, f"Could not read the request URI: {detail}")

    def body_is_empty(self, body: bytes) -> bool:
        return not body.strip()

    # -- routing ---------------------------------------------------------------------------------

    def find_operation(self, service: ServiceModel, request: HttpRequest) -> OperationModel:
        try:
            query = parse_query(request.query_string)
        except UnicodeDecodeError as exc:
            raise validation_error(service.service_name, "The query string is not valid UTF-8") from exc
        method = request.method.upper()
        path_matched = False
        for leaf in route_table(service).leaves(request.path):
            path_matched = True
            route = leaf.choose(method, query, request.headers)
            if route is not None:
                return route.operation
        raise self.no_route(service, request, path_matched)

    # -- requests --------------------------------------------------------------------------------

    def parse(self, operation: OperationModel, request: HttpRequest) -> dict[str, Any]:
        service = operation.service_model
        plan = input_plan(operation)
        if plan.shape is None:
            return {}
        try:
            return self._parse(operation, plan, request)
        except AwsError:
            raise
        except UnicodeDecodeError as exc:
            raise validation_error(service.service_name, f"Request is not valid UTF-8: {exc}") from exc
        except (ValueError, TypeError, AttributeError, KeyError, RecursionError, binascii.Error) as exc:
            raise validation_error(service.service_name, f"Could not read the request: {exc}") from exc

    def _parse(self, operation: OperationModel, plan: MessagePlan, request: HttpRequest) -> dict[str, Any]:
        service = operation.service_model
        params: dict[str, Any] = {}
        if plan.labels:
            self._parse_labels(operation, plan, request, params)
        if plan.query or plan.query_map:
            self._parse_query(operation, plan, parse_query(request.query_string), params)
        if plan.headers or plan.header_maps:
            self._parse_headers(plan, request.headers, params)
        # aws-chunked framing (SigV4 streaming uploads) is already undone by the gateway (aws/chunked.py).
        body = request.body
        if plan.payload is not None:
            self._parse_payload(service, plan.payload, plan.raw_payload, body, params)
        elif plan.body_members and not self.body_is_empty(body):
            params.update(self.parse_body(service, plan.shape, body))
        return params

    def _parse_labels(
        self, operation: OperationModel, plan: MessagePlan, request: HttpRequest, params: dict[str, Any]
    ) -> None:
        raw = match_labels(route_of(operation).template, split_path(request.path))
        if raw is None:
            raise self.no_route(operation.service_model, request, False)
        for located in plan.labels:
            text = raw.get(located.wire)
            if text is None:
                continue
            try:
                decoded = unquote(text, errors="strict")
            except UnicodeDecodeError as exc:
                raise self.bad_uri(operation.service_model, "the path is not valid UTF-8") from exc
            params[located.name] = scalar_from_text(located.shape, decoded, "iso8601")

    def _parse_query(
        self,
        operation: OperationModel,
        plan: MessagePlan,
        query: dict[str, list[str]],
        params: dict[str, Any],
    ) -> None:
        for located in plan.query:
            values = query.get(located.wire)
            if values is None:
                continue
            if located.shape.type_name == "list":
                member = located.shape.member
                params[located.name] = [scalar_from_text(member, value, "iso8601") for value in values]
            else:
                params[located.name] = scalar_from_text(located.shape, values[0], "iso8601")
        if plan.query_map is not None:
            # A query map takes every parameter no other member or the URI itself claims.
            claimed = {located.wire for located in plan.query}
            claimed.update(key for key, _ in route_of(operation).literal_query)
            value_shape = plan.query_map.shape.value
            collected: dict[str, Any] = {}
            for key, values in query.items():
                if key in claimed:
                    continue
                if value_shape.type_name == "list":
                    collected[key] = [scalar_from_text(value_shape.member, v, "iso8601") for v in values]
                else:
                    collected[key] = scalar_from_text(value_shape, values[0], "iso8601")
            if collected:
                params[plan.query_map.name] = collected

    def _parse_headers(self, plan: MessagePlan, headers: dict[str, str], params: dict[str, Any]) -> None:
        for located in plan.headers:
            text = headers.get(located.wire.lower())
            if text is None:
                continue
            if located.shape.type_name == "list":
                member = located.shape.member
                params[located.name] = [
                    scalar_from_text(member, item, "rfc822") for item in split_header_list(text, member)
                ]
            else:
                params[located.name] = scalar_from_text(located.shape, text, "rfc822")
        for located in plan.header_maps:
            # Header names are case-insensitive; like S3, keys come back lower-cased.
            prefix = located.wire
            collected = {
                name[len(prefix) :]: value for name, value in headers.items() if name.startswith(prefix)
            }
            if collected:
                params[located.name] = collected

    def _parse_payload(
        self, service: ServiceModel, payload: Located, raw: bool, body: bytes, params: dict[str, Any]
    ) -> None:
        if raw:
            # An empty body cannot be told apart from an absent payload; absent wins.
            if body:
                if payload.shape.type_name == "string":
                    try:
                        params[payload.name] = body.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        raise self.malformed_body(service, "The body is not valid UTF-8") from exc
                else:
                    params[payload.name] = bytes(body)
            return
        if not self.body_is_empty(body):
            value = self.parse_body(service, payload.shape, body)
            if value is not None:
                params[payload.name] = value

    # -- responses -------------------------------------------------------------------------------

    def serialize(
        self, operation: OperationModel, output: dict[str, Any], request: HttpRequest, request_id: str
    ) -> HttpResponse:
        service = operation.service_model
        if operation.has_event_stream_output:
            # Event streams (S3 SelectObjectContent, Lambda InvokeWithResponseStream) need their own
            # binary framing, which nothing here writes yet.
            raise not_implemented(service.service_name, operation.name)
        plan = output_plan(operation)
        response = HttpResponse(status=int(operation.http.get("responseCode", 200)))
        self.write_located(plan, output, response)
        self.write_body(operation, plan, output, response)
        response.headers.extend(self.request_id_headers(service, request_id))
        if response.status == 204 and response.body != b"":
            # A few models declare 204 yet have body members; HTTP forbids a 204 body, so say 200.
            response.status = 200
        if request.method.upper() == "HEAD" or response.status == 304:
            response.body = b""
        return response

    def write_located(self, plan: MessagePlan, output: dict[str, Any], response: HttpResponse) -> None:
        """Status, header and header-map members onto the response."""
        if plan.status is not None and output.get(plan.status.name) is not None:
            response.status = int(output[plan.status.name])
        for located in plan.headers:
            value = output.get(located.name)
            if value is None:
                continue
            if located.shape.type_name == "list":
                if value:
                    response.headers.append((located.wire, header_list_text(located.shape, value)))
            else:
                response.headers.append((located.wire, scalar_to_text(located.shape, value, "rfc822")))
        for located in plan.header_maps:
            prefix = located.shape.serialization.get("name", "")
            for key, value in (output.get(located.name) or {}).items():
                response.headers.append((prefix + key, str(value)))

    def write_body(
        self, operation: OperationModel, plan: MessagePlan, output: dict[str, Any], response: HttpResponse
    ) -> None:
        body: Any = b""
        content_type: str | None = None
        if plan.payload is not None:
            value = output.get(plan.payload.name)
            if plan.raw_payload:
                if isinstance(value, str):
                    body, content_type = value.encode("utf-8"), "text/plain; charset=utf-8"
                elif value is not None:
                    body = bytes(value) if isinstance(value, (bytearray, memoryview)) else value
                    content_type = "application/octet-stream"
            elif value is not None:
                body = self.serialize_body(operation, plan.payload.shape, value, plan.payload.wire)
        elif plan.body_members:
            values = {name: output[name] for name in plan.body_members if output.get(name) is not None}
            body = self.serialize_body(operation, plan.shape, values, self.root_name(operation))
        if body != b"":
            if response.header("Content-Type") is None:
                response.headers.append(
                    ("Content-Type", content_type or self.content_type(operation.service_model))
                )
        response.body = body

    def root_name(self, operation: OperationModel) -> str:
        shape = operation.output_shape
        return shape.serialization.get("name", shape.name)

    # -- errors ----------------------------------------------------------------------------------

    def serialize_error(
        self,
        service: ServiceModel,
        operation: OperationModel | None,
        error: AwsError,
        request: HttpRequest,
        request_id: str,
    ) -> HttpResponse:
        raise NotImplementedError

    def error_shape(self, service: ServiceModel, error: AwsError) -> Shape | None:
        return error_shapes(service).get(error.code)
