"""Round trips of the awsJson protocol against botocore's own serializer and parsers.

Every operation of logs, acm and cloudwatch (forced into json mode) goes through:
requests (botocore serializes, onebox parses), responses (onebox serializes, botocore parses) and
every modeled error. Nothing is normalized: JSON carries every value shapegen produces exactly
(timestamps at full precision, blobs as base64, floats as JSON numbers).

The helpers here are shared with test_protocol_cbor.py.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.loaders import Loader
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from onebox.aws.errors import AwsError, validation_error
from onebox.aws.http import HttpRequest, HttpResponse
from onebox.aws.protocols import get_protocol
from onebox.aws.protocols.base import WireProtocol
from onebox.aws.protocols.jsonshapes import MAX_DECOMPRESSED_BYTES
from onebox.aws.specs import service_model
from tests.shapegen import generate

PROTOCOL = "json"
SERVICES = ("logs", "acm", "cloudwatch")
REQUEST_ID = "a1b2c3d4-0000-4000-8000-000000000001"

# ---------------------------------------------------------------------------------------------
# Shared helpers


def operation_cases(services: tuple[str, ...]) -> list[Any]:
    """(service, operation, all_members) for every operation, each with a readable test id."""
    cases = []
    for service in services:
        for name in service_model(service).operation_names:
            for all_members in (True, False):
                variant = "all" if all_members else "required"
                cases.append(pytest.param(service, name, all_members, id=f"{service}-{name}-{variant}"))
    return cases


def error_cases(services: tuple[str, ...]) -> list[Any]:
    return [
        pytest.param(service, shape.name, id=f"{service}-{shape.name}")
        for service in services
        for shape in service_model(service).error_shapes
    ]


def http_request(serialized: dict[str, Any]) -> HttpRequest:
    """An HttpRequest from botocore's serialize_to_request output, headers lower-cased as received."""
    query = serialized["query_string"]
    if isinstance(query, dict):
        query = "&".join(f"{key}={value}" for key, value in query.items())
    body = serialized["body"]
    if isinstance(body, str):
        body = body.encode("utf-8")
    return HttpRequest(
        method=serialized["method"],
        path=serialized["url_path"],
        query_string=query,
        headers={key.lower(): value for key, value in serialized["headers"].items()},
        body=body,
    )


def response_dict(response: HttpResponse) -> dict[str, Any]:
    """What botocore's parsers take; its HTTP layer hands them case-insensitive headers."""
    assert isinstance(response.body, bytes)
    headers = {key.lower(): value for key, value in response.headers}
    return {"status_code": response.status, "headers": headers, "body": response.body}


def botocore_parse(protocol: str, response: HttpResponse, shape: Shape | None) -> dict[str, Any]:
    return create_parser(protocol).parse(response_dict(response), shape)


def request_round_trip(protocol: str, service: str, operation: str, all_members: bool) -> None:
    model = service_model(service)
    op = model.operation_model(operation)
    params = generate(op.input_shape, all_members=all_members) if op.input_shape else {}
    request = http_request(create_serializer(protocol).serialize_to_request(params, op))
    wire = get_protocol(protocol)
    found = wire.find_operation(model, request)
    assert found.name == operation
    assert wire.parse(found, request) == params


def response_round_trip(
    protocol: str, service: str, operation: str, all_members: bool, normalize: Callable[[Shape, Any], Any]
) -> None:
    model = service_model(service)
    op = model.operation_model(operation)
    shape = op.output_shape
    output = generate(shape, all_members=all_members) if shape else {}
    response = get_protocol(protocol).serialize(op, output, dummy_request(), REQUEST_ID)
    assert response.status == 200
    assert response.header("x-amzn-RequestId") == REQUEST_ID
    parsed = botocore_parse(protocol, response, shape)
    metadata = parsed.pop("ResponseMetadata")
    if shape is not None:
        assert metadata["RequestId"] == REQUEST_ID
    assert parsed == (normalize(shape, output) if shape else {})


def error_round_trip(protocol: str, service: str, shape_name: str, by_query_code: bool) -> dict[str, Any]:
    """Serialize an error naming a modeled shape and check what botocore reports."""
    model = service_model(service)
    shape = next(s for s in model.error_shapes if s.name == shape_name)
    operation = next((op for op in all_operations(model) if shape_name in names(op.error_shapes)), None)
    message_key = "Message" if "Message" in shape.members else "message"
    fields = {k: v for k, v in generate(shape).items() if k != message_key}
    code = shape.error_code if by_query_code else shape.name
    error = AwsError(code, "it went wrong", fields=fields)
    response = get_protocol(protocol).serialize_error(model, operation, error, dummy_request(), REQUEST_ID)

    status = int(shape.metadata.get("error", {}).get("httpStatusCode", 400))
    assert response.status == status
    output_shape = operation.output_shape if operation else None
    parsed = botocore_parse(protocol, response, output_shape)
    assert parsed["Error"]["Code"] == shape.error_code
    assert parsed["Error"]["Message"] == "it went wrong"
    assert parsed["ResponseMetadata"]["RequestId"] == REQUEST_ID
    assert parsed["ResponseMetadata"]["HTTPStatusCode"] == status
    if model.is_query_compatible:
        # botocore keeps the wire `__type` here and takes Code from x-amzn-query-error.
        assert parsed["Error"]["Type"] == "Sender" if status < 500 else "Receiver"
        assert parsed["Error"]["QueryErrorCode"] in (shape.name, *same_code_shapes(model, shape))
    # The client's second pass (botocore endpoint._add_modeled_error_fields) reads modeled members.
    modeled = create_parser(protocol).parse(
        response_dict(response), model.shape_for_error_code(shape.error_code)
    )
    expected = dict(fields)
    if message_key in shape.members:
        expected[message_key] = "it went wrong"
    assert modeled == expected
    return parsed


def unmodeled_error_round_trip(protocol: str, service: str, sender_fault: bool) -> None:
    model = service_model(service)
    status = 400 if sender_fault else 503
    error = AwsError("OneboxOddity", "odd", status, sender_fault=sender_fault, fields={"Detail": "x"})
    response = get_protocol(protocol).serialize_error(model, None, error, dummy_request(), REQUEST_ID)
    assert response.status == status
    parsed = botocore_parse(protocol, response, None)
    assert parsed["Error"]["Code"] == "OneboxOddity"
    assert parsed["Error"]["Message"] == "odd"
    assert parsed["ResponseMetadata"]["RequestId"] == REQUEST_ID
    if model.is_query_compatible:
        assert parsed["Error"]["Type"] == ("Sender" if sender_fault else "Receiver")
        assert (
            response.header("x-amzn-query-error")
            == f"OneboxOddity;{'Sender' if sender_fault else 'Receiver'}"
        )


def all_operations(model: ServiceModel) -> Iterator[OperationModel]:
    return (model.operation_model(name) for name in model.operation_names)


def names(shapes: list[Shape]) -> list[str]:
    return [shape.name for shape in shapes]


def same_code_shapes(model: ServiceModel, shape: Shape) -> list[str]:
    """Shapes sharing a query code (CloudWatch has two `ResourceNotFound`s)."""
    return [s.name for s in model.error_shapes if s.error_code == shape.error_code]


def dummy_request() -> HttpRequest:
    return HttpRequest("POST", "/")


def no_normalization(shape: Shape, value: Any) -> Any:
    return value


def wrong_value(shape: Shape) -> Any:
    """A value of the wrong wire type for a shape (valid for no JSON or CBOR shape of that type)."""
    kind = shape.type_name
    if kind in ("structure", "map"):
        return [1]
    if kind == "list":
        return {"not": "a list"}
    if kind == "string":
        return 12345
    if kind == "boolean":
        return "true"
    if kind == "timestamp":
        return [2026]
    return {"not": "a scalar"}


class _RawBody:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **kwargs: Any) -> Iterator[bytes]:
        yield self._body


Handler = Callable[[str, dict[str, Any]], dict[str, Any]]


@dataclass
class Received:
    """What reached the fake service: the raw requests and the inputs parsed from them."""

    requests: list[HttpRequest] = field(default_factory=list)
    params: list[dict[str, Any]] = field(default_factory=list)


def fake_aws(client: Any, protocol: WireProtocol, handler: Handler) -> Received:
    """Answer a botocore client's requests in-process with `protocol` and `handler`."""
    model = client.meta.service_model
    received = Received()

    def before_send(request: Any, **kwargs: Any) -> AWSResponse:
        url = urlsplit(request.url)
        body = request.body or b""
        http = HttpRequest(
            method=request.method,
            path=url.path,
            query_string=url.query,
            headers={key.lower(): text(value) for key, value in request.headers.items()},
            body=body.encode("utf-8") if isinstance(body, str) else body,
        )
        received.requests.append(http)
        operation = None
        try:
            operation = protocol.find_operation(model, http)
            params = protocol.parse(operation, http)
            received.params.append(params)
            response = protocol.serialize(operation, handler(operation.name, params), http, REQUEST_ID)
        except AwsError as error:
            response = protocol.serialize_error(model, operation, error, http, REQUEST_ID)
        headers = {key.lower(): value for key, value in response.headers}
        return AWSResponse(request.url, response.status, headers, _RawBody(response.body))

    client.meta.events.register("before-send", before_send)
    return received


def text(value: str | bytes) -> str:
    # botocore keeps some prepared header values as bytes; a server sees text.
    return value.decode("latin-1") if isinstance(value, bytes) else value


def session_with_protocol(service: str, protocol: str, root: Path) -> Any:
    """A botocore session whose model of `service` lists only `protocol` (copied under `root`)."""
    data = Loader().load_service_model(service, "service-2")
    data["metadata"]["protocols"] = [protocol]
    data["metadata"]["protocol"] = protocol
    directory = root / service / data["metadata"]["apiVersion"]
    directory.mkdir(parents=True)
    (directory / "service-2.json").write_text(json.dumps(data))
    session = botocore.session.get_session()
    session.get_component("data_loader").search_paths.insert(0, str(root))
    return session


def make_client(service: str, session: Any = None) -> Any:
    session = session or botocore.session.get_session()
    return session.create_client(
        service,
        region_name="us-east-1",
        endpoint_url="http://onebox.test:4566",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=Config(retries={"total_max_attempts": 1}),
    )


# ---------------------------------------------------------------------------------------------
# Round trips over every operation


@pytest.mark.parametrize(("service", "operation", "all_members"), operation_cases(SERVICES))
def test_request_round_trip(service: str, operation: str, all_members: bool) -> None:
    request_round_trip(PROTOCOL, service, operation, all_members)


@pytest.mark.parametrize(("service", "operation", "all_members"), operation_cases(SERVICES))
def test_response_round_trip(service: str, operation: str, all_members: bool) -> None:
    op = service_model(service).operation_model(operation)
    if op.output_shape is not None and op.output_shape.event_stream_name:
        event_stream_round_trip(op, all_members)
    else:
        response_round_trip(PROTOCOL, service, operation, all_members, no_normalization)


@pytest.mark.parametrize(("service", "shape_name"), error_cases(SERVICES))
@pytest.mark.parametrize("by_query_code", [False, True], ids=["by-name", "by-code"])
def test_modeled_error_round_trip(service: str, shape_name: str, by_query_code: bool) -> None:
    response = error_round_trip(PROTOCOL, service, shape_name, by_query_code)
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"]


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("sender_fault", [True, False], ids=["sender", "receiver"])
def test_unmodeled_error_round_trip(service: str, sender_fault: bool) -> None:
    unmodeled_error_round_trip(PROTOCOL, service, sender_fault)


def test_query_compatible_error_codes_differ_from_shape_names() -> None:
    """CloudWatch: the wire `__type` is the shape, the client sees the query code from the header."""
    model = service_model("cloudwatch")
    operation = model.operation_model("GetDashboard")
    error = AwsError("ResourceNotFound", "Dashboard x does not exist")
    response = get_protocol(PROTOCOL).serialize_error(model, operation, error, dummy_request(), REQUEST_ID)
    assert json.loads(response.body)["__type"] == "DashboardNotFoundError"
    assert response.header("x-amzn-query-error") == "ResourceNotFound;Sender"
    assert response.status == 404
    parsed = botocore_parse(PROTOCOL, response, operation.output_shape)
    assert parsed["Error"] == {
        "Code": "ResourceNotFound",
        "Message": "Dashboard x does not exist",
        "QueryErrorCode": "DashboardNotFoundError",
        "Type": "Sender",
    }


def test_error_message_key_follows_model_casing() -> None:
    """ACM's AccessDeniedException models `Message`; most shapes model `message`."""
    model = service_model("acm")
    protocol = get_protocol(PROTOCOL)
    body = json.loads(
        protocol.serialize_error(
            model, None, AwsError("AccessDeniedException", "no"), dummy_request(), "r"
        ).body
    )
    assert body == {"__type": "AccessDeniedException", "Message": "no"}
    body = json.loads(
        protocol.serialize_error(
            model, None, AwsError("InvalidArnException", "bad"), dummy_request(), "r"
        ).body
    )
    assert body == {"__type": "InvalidArnException", "message": "bad"}


def test_response_headers() -> None:
    model = service_model("logs")
    protocol = get_protocol(PROTOCOL)
    response = protocol.serialize(model.operation_model("DeleteLogGroup"), {}, dummy_request(), REQUEST_ID)
    assert response.header("Content-Type") == "application/x-amz-json-1.1"
    assert response.body == b"{}"
    cloudwatch = service_model("cloudwatch")
    response = protocol.serialize(
        cloudwatch.operation_model("ListDashboards"), {}, dummy_request(), REQUEST_ID
    )
    assert response.header("Content-Type") == "application/x-amz-json-1.0"


def test_output_drops_none_and_unmodeled_members() -> None:
    operation = service_model("logs").operation_model("DescribeLogGroups")
    output = {"logGroups": [{"logGroupName": "a", "retentionInDays": None, "internal": 1}], "nextToken": None}
    response = get_protocol(PROTOCOL).serialize(operation, output, dummy_request(), REQUEST_ID)
    assert json.loads(response.body) == {"logGroups": [{"logGroupName": "a"}]}


def test_timestamps_go_out_as_epoch_seconds() -> None:
    from datetime import UTC, datetime

    operation = service_model("acm").operation_model("DescribeCertificate")
    whole = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    fraction = datetime(2026, 1, 2, 3, 4, 5, 250000, tzinfo=UTC)
    output = {
        "Certificate": {"CreatedAt": whole, "IssuedAt": fraction, "NotAfter": whole.replace(tzinfo=None)}
    }
    body = json.loads(get_protocol(PROTOCOL).serialize(operation, output, dummy_request(), "r").body)
    assert body["Certificate"] == {"CreatedAt": 1767323045, "IssuedAt": 1767323045.25, "NotAfter": 1767323045}


# ---------------------------------------------------------------------------------------------
# Event streams (CloudWatch Logs)


class _StreamBody:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self) -> Iterator[bytes]:
        # Uneven chunks: the client's buffer must reassemble messages across reads.
        for start in range(0, len(self._body), 7):
            yield self._body[start : start + 7]


def event_stream_round_trip(op: OperationModel, all_members: bool) -> None:
    """An initial response plus one event of every kind the stream models, read back by botocore."""
    shape = op.output_shape
    stream_name = shape.event_stream_name
    stream_shape = shape.members[stream_name]
    events = [
        {name: generate(member, all_members=all_members)}
        for name, member in stream_shape.members.items()
        if not member.metadata.get("exception")
    ]
    output = {**generate(shape, all_members=all_members), stream_name: events}
    response = get_protocol(PROTOCOL).serialize(op, output, dummy_request(), REQUEST_ID)
    assert response.header("Content-Type") == "application/vnd.amazon.eventstream"
    assert isinstance(response.body, bytes)
    parsed = create_parser(PROTOCOL).parse(
        {
            "status_code": 200,
            "headers": {key.lower(): value for key, value in response.headers},
            "body": _StreamBody(response.body),
            "context": {"operation_name": op.name},
        },
        shape,
    )
    stream = parsed.pop(stream_name)
    parsed.pop("ResponseMetadata", None)
    assert parsed == {key: value for key, value in output.items() if key != stream_name}
    assert list(stream) == events


def test_event_stream_ends_with_modeled_exception() -> None:
    from botocore.exceptions import EventStreamError

    op = service_model("logs").operation_model("StartLiveTail")
    events = [{"sessionStart": {"sessionId": "s1"}}, AwsError("SessionTimeoutException", "timed out")]
    response = get_protocol(PROTOCOL).serialize(op, {"responseStream": events}, dummy_request(), REQUEST_ID)
    parsed = create_parser(PROTOCOL).parse(
        {
            "status_code": 200,
            "headers": {},
            "body": _StreamBody(response.body),
            "context": {"operation_name": "x"},
        },
        op.output_shape,
    )
    stream = iter(parsed["responseStream"])
    assert next(stream) == {"sessionStart": {"sessionId": "s1"}}
    with pytest.raises(EventStreamError) as raised:
        next(stream)
    assert raised.value.response["Error"] == {"Code": "SessionTimeoutException", "Message": "timed out"}


def test_event_stream_from_async_iterator() -> None:
    import asyncio

    op = service_model("logs").operation_model("StartLiveTail")

    async def events() -> Any:
        yield {"sessionStart": {"sessionId": "s1"}}
        raise AwsError("SessionStreamingException", "lost")

    response = get_protocol(PROTOCOL).serialize(op, {"responseStream": events()}, dummy_request(), REQUEST_ID)

    async def collect() -> bytes:
        return b"".join([chunk async for chunk in response.body])  # type: ignore[union-attr]

    body = asyncio.run(collect())
    parsed = create_parser(PROTOCOL).parse(
        {"status_code": 200, "headers": {}, "body": _StreamBody(body), "context": {"operation_name": "x"}},
        op.output_shape,
    )
    stream = iter(parsed["responseStream"])
    assert next(stream) == {"sessionStart": {"sessionId": "s1"}}
    with pytest.raises(ClientError, match="SessionStreamingException"):
        next(stream)


# ---------------------------------------------------------------------------------------------
# Bad requests


def logs_request(
    operation: str, body: bytes, target: str | None = None
) -> tuple[OperationModel, HttpRequest]:
    model = service_model("logs")
    headers = {
        "x-amz-target": target or f"Logs_20140328.{operation}",
        "content-type": "application/x-amz-json-1.1",
    }
    return model.operation_model(operation), HttpRequest("POST", "/", headers=headers, body=body)


def parse_error(service: str, operation: str, body: bytes) -> AwsError:
    op = service_model(service).operation_model(operation)
    request = HttpRequest("POST", "/", body=body)
    with pytest.raises(AwsError) as raised:
        get_protocol(PROTOCOL).parse(op, request)
    return raised.value


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"logGroupName": ', id="truncated"),
        pytest.param(b"{'logGroupName': 'a'}", id="single-quotes"),
        pytest.param(b'{"logGroupName": "a"} x', id="trailing-garbage"),
        pytest.param(b'{"logGroupName": NaN}', id="nan-literal"),
        pytest.param(b"[" * 100_000, id="deep-nesting"),
        pytest.param(b"   ", id="whitespace-only"),
        pytest.param(b'[{"logGroupName": "a"}]', id="array-top-level"),
        pytest.param(b"null", id="null-top-level"),
        pytest.param(b'"logGroupName"', id="string-top-level"),
        pytest.param(b'{"logGroupName": "\xff\xfe"}', id="invalid-utf8"),
        pytest.param(b'{"logGroupName": "a"}\xc3', id="truncated-utf8"),
        pytest.param('{"logGroupName": "a"}'.encode("utf-16"), id="utf16"),
    ],
)
def test_malformed_body_is_serialization_exception(body: bytes) -> None:
    error = parse_error("logs", "CreateLogGroup", body)
    assert (error.code, error.status) == ("SerializationException", 400)


@pytest.mark.parametrize(
    ("service", "operation", "body", "where"),
    [
        pytest.param(
            "logs", "CreateLogGroup", b'{"logGroupName": 5}', "logGroupName", id="number-for-string"
        ),
        pytest.param("logs", "DescribeLogGroups", b'{"limit": "5"}', "limit", id="string-for-integer"),
        pytest.param("logs", "DescribeLogGroups", b'{"limit": true}', "limit", id="boolean-for-integer"),
        pytest.param(
            "logs", "CreateLogGroup", b'{"logGroupName": "a", "tags": {"k": 1}}', "tags['k']", id="map-value"
        ),
        pytest.param(
            "logs", "CreateLogGroup", b'{"logGroupName": "a", "tags": []}', "tags", id="array-for-map"
        ),
        pytest.param(
            "logs",
            "GetLogEvents",
            b'{"logStreamName": "s", "startFromHead": 1}',
            "startFromHead",
            id="int-for-bool",
        ),
        pytest.param(
            "logs",
            "PutLogEvents",
            b'{"logEvents": [{"timestamp": 1, "message": 2}]}',
            "logEvents[0].message",
            id="nested",
        ),
        pytest.param(
            "logs",
            "DescribeLogGroups",
            b'{"logGroupIdentifiers": "x"}',
            "logGroupIdentifiers",
            id="string-for-list",
        ),
        pytest.param(
            "acm", "ImportCertificate", b'{"Certificate": "not base64!"}', "Certificate", id="bad-base64"
        ),
        pytest.param("acm", "ImportCertificate", b'{"Certificate": 12}', "Certificate", id="number-for-blob"),
        pytest.param(
            "cloudwatch", "GetMetricData", b'{"StartTime": "soon"}', "StartTime", id="bad-timestamp-text"
        ),
        pytest.param(
            "cloudwatch", "GetMetricData", b'{"StartTime": {}}', "StartTime", id="object-for-timestamp"
        ),
        pytest.param(
            "cloudwatch",
            "PutMetricData",
            b'{"MetricData": [{"Value": "x"}]}',
            "MetricData[0].Value",
            id="string-for-double",
        ),
        pytest.param(
            "acm",
            "ListCertificates",
            b'{"Includes": {"keyTypes": ["RSA_2048"]}, "SortBy": 1}',
            "SortBy",
            id="after-valid-members",
        ),
    ],
)
def test_wrong_type_is_serialization_exception(service: str, operation: str, body: bytes, where: str) -> None:
    error = parse_error(service, operation, body)
    assert (error.code, error.status) == ("SerializationException", 400)
    assert where in error.message


@pytest.mark.parametrize(
    ("service", "operation", "body"),
    [
        pytest.param("logs", "DescribeLogGroups", b'{"limit": 2147483648}', id="int32-overflow"),
        pytest.param("logs", "DescribeLogGroups", b'{"limit": 1.5}', id="fractional-integer"),
        pytest.param(
            "logs",
            "GetLogEvents",
            b'{"logStreamName": "s", "startTime": 9223372036854775808}',
            id="int64-overflow",
        ),
        pytest.param("cloudwatch", "GetMetricData", b'{"StartTime": 1e300}', id="timestamp-out-of-range"),
        pytest.param(
            "cloudwatch",
            "PutMetricData",
            b'{"MetricData": [{"Value": 1' + b"0" * 400 + b"}]}",
            id="double-overflow",
        ),
        pytest.param("acm", "ListCertificates", b'{"MaxItems": 99999999999}', id="acm-overflow"),
    ],
)
def test_value_outside_modeled_type_is_validation_error(service: str, operation: str, body: bytes) -> None:
    """Well-formed JSON the modeled type cannot hold: the service's own validation error."""
    error = parse_error(service, operation, body)
    expected = validation_error(service, "")
    assert (error.code, error.status) == (expected.code, expected.status)


def test_union_needs_exactly_one_member() -> None:
    body = b'{"FilterStatement": {"Filter": {"CertificateArn": "a", "AcmCertificateMetadataFilter": {"Status": "ISSUED"}}}}'
    error = parse_error("acm", "SearchCertificates", body)
    assert (error.code, error.status) == ("SerializationException", 400)
    assert "exactly one member" in error.message


def test_lenient_inputs() -> None:
    """Unknown members are ignored, null means absent, 3.0 is an integer, NaN arrives as a string."""
    op = service_model("logs").operation_model("DescribeLogGroups")
    body = b'{"limit": 3.0, "nextToken": null, "somethingNew": {"x": 1}}'
    assert get_protocol(PROTOCOL).parse(op, HttpRequest("POST", "/", body=body)) == {"limit": 3}
    op = service_model("cloudwatch").operation_model("PutMetricData")
    body = b'{"Namespace": "n", "MetricData": [{"MetricName": "m", "Value": "NaN", "Timestamp": "2026-01-02T03:04:05Z"}]}'
    parsed = get_protocol(PROTOCOL).parse(op, HttpRequest("POST", "/", body=body))
    value = parsed["MetricData"][0]["Value"]
    assert value != value
    assert parsed["MetricData"][0]["Timestamp"].isoformat() == "2026-01-02T03:04:05+00:00"


def test_fractional_epoch_timestamp() -> None:
    op = service_model("cloudwatch").operation_model("GetMetricData")
    parsed = get_protocol(PROTOCOL).parse(
        op, HttpRequest("POST", "/", body=b'{"StartTime": 1767323045.123456}')
    )
    assert parsed["StartTime"].isoformat() == "2026-01-02T03:04:05.123456+00:00"


def test_empty_body_is_empty_input() -> None:
    op, request = logs_request("DescribeLogGroups", b"")
    assert get_protocol(PROTOCOL).parse(op, request) == {}


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("Logs_20140328.NoSuchThing", id="unknown-operation"),
        pytest.param("CertificateManager.ListCertificates", id="other-service-prefix"),
        pytest.param("Logs_20140328", id="no-operation"),
        pytest.param("", id="missing"),
        pytest.param("logs_20140328.CreateLogGroup", id="wrong-case"),
    ],
)
def test_unknown_target(target: str) -> None:
    headers = {"x-amz-target": target} if target else {}
    request = HttpRequest("POST", "/", headers=headers, body=b"{}")
    with pytest.raises(AwsError) as raised:
        get_protocol(PROTOCOL).find_operation(service_model("logs"), request)
    assert (raised.value.code, raised.value.status) == ("UnknownOperationException", 400)


@pytest.mark.parametrize(("service", "operation", "all_members"), operation_cases(SERVICES)[::2])
def test_every_member_rejects_a_wrong_type(service: str, operation: str, all_members: bool) -> None:
    """A wrong-typed value in any top-level member is a 400, never an unhandled exception."""
    op = service_model(service).operation_model(operation)
    if op.input_shape is None:
        return
    valid = generate(op.input_shape)
    serialized = json.loads(create_serializer(PROTOCOL).serialize_to_request(valid, op)["body"])
    for name, member in op.input_shape.members.items():
        if member.type_name == "structure" and member.is_document_type:
            continue
        body = json.dumps({**serialized, name: wrong_value(member)}).encode()
        with pytest.raises(AwsError) as raised:
            get_protocol(PROTOCOL).parse(op, HttpRequest("POST", "/", body=body))
        assert raised.value.code == "SerializationException", name
        assert raised.value.status == 400


def test_bad_request_error_reaches_botocore() -> None:
    """The 400 for a malformed body, as a client sees it."""
    model = service_model("cloudwatch")
    error = parse_error("cloudwatch", "ListDashboards", b"{")
    response = get_protocol(PROTOCOL).serialize_error(model, None, error, dummy_request(), REQUEST_ID)
    parsed = botocore_parse(PROTOCOL, response, None)
    assert parsed["Error"]["Code"] == "SerializationException"
    assert response.status == 400


# ---------------------------------------------------------------------------------------------
# End to end through botocore clients


def test_client_logs_round_trip_and_modeled_exception() -> None:
    client = make_client("logs")

    def handler(operation: str, params: dict[str, Any]) -> dict[str, Any]:
        if operation == "DeleteLogGroup":
            raise AwsError("ResourceNotFoundException", "The specified log group does not exist.")
        return {"logGroups": [{"logGroupName": params["logGroupNamePrefix"] + "-1", "storedBytes": 7}]}

    received = fake_aws(client, get_protocol(PROTOCOL), handler)
    result = client.describe_log_groups(logGroupNamePrefix="app", limit=5)
    assert received.params[-1] == {"logGroupNamePrefix": "app", "limit": 5}
    assert result["logGroups"] == [{"logGroupName": "app-1", "storedBytes": 7}]
    assert result["ResponseMetadata"]["RequestId"] == REQUEST_ID
    with pytest.raises(client.exceptions.ResourceNotFoundException) as raised:
        client.delete_log_group(logGroupName="nope")
    assert raised.value.response["Error"]["Message"] == "The specified log group does not exist."
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_client_cloudwatch_json_query_compatible_errors() -> None:
    client = make_client("cloudwatch")
    # botocore lists cbor first in the model, but its client prefers json (utils.PRIORITY_ORDERED_
    # SUPPORTED_PROTOCOLS), so this is what boto3 and the AWS CLI speak to CloudWatch today.
    assert client.meta.service_model.resolved_protocol == "json"

    def handler(operation: str, params: dict[str, Any]) -> dict[str, Any]:
        if operation == "GetDashboard":
            raise AwsError("ResourceNotFound", "Dashboard does not exist")
        if operation == "PutMetricAlarm":
            raise AwsError("LimitExceeded", "The maximum number of alarms has been reached")
        return {
            "DashboardEntries": [{"DashboardName": params.get("DashboardNamePrefix", "") + "x", "Size": 3}]
        }

    received = fake_aws(client, get_protocol(PROTOCOL), handler)
    result = client.list_dashboards(DashboardNamePrefix="d")
    assert received.params[-1] == {"DashboardNamePrefix": "d"}
    assert result["DashboardEntries"] == [{"DashboardName": "dx", "Size": 3}]

    with pytest.raises(ClientError) as raised:
        client.get_dashboard(DashboardName="missing")
    assert isinstance(raised.value, client.exceptions.from_code("ResourceNotFound"))
    assert raised.value.response["Error"]["Code"] == "ResourceNotFound"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404

    with pytest.raises(client.exceptions.LimitExceededFault) as limited:
        client.put_metric_alarm(
            AlarmName="a", EvaluationPeriods=1, ComparisonOperator="GreaterThanThreshold", Threshold=1.0
        )
    assert limited.value.response["Error"]["Code"] == "LimitExceeded"
    assert limited.value.response["Error"]["Message"] == "The maximum number of alarms has been reached"


def big_metric_data(count: int) -> list[dict[str, Any]]:
    from datetime import UTC, datetime

    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    return [
        {
            "MetricName": f"m{i}",
            "Value": i * 0.5,
            "Timestamp": moment,
            "Dimensions": [{"Name": "n", "Value": "v"}],
        }
        for i in range(count)
    ]


def test_client_gzipped_put_metric_data() -> None:
    """botocore gzips PutMetricData bodies from 10 KiB (requestcompression trait)."""
    client = make_client("cloudwatch")
    received = fake_aws(client, get_protocol(PROTOCOL), lambda operation, params: {})
    data = big_metric_data(300)
    client.put_metric_data(Namespace="App", MetricData=data)
    assert received.requests[-1].header("content-encoding") == "gzip"
    assert received.params[-1] == {"Namespace": "App", "MetricData": data}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"{not gzip", id="not-gzip"),
        pytest.param(gzip.compress(b'{"Namespace": "n"}')[:-9], id="truncated"),
        pytest.param(gzip.compress(b" " * (MAX_DECOMPRESSED_BYTES + 1)), id="too-large"),
    ],
)
def test_bad_gzip_body(body: bytes) -> None:
    op = service_model("cloudwatch").operation_model("PutMetricData")
    request = HttpRequest("POST", "/", headers={"content-encoding": "gzip"}, body=body)
    with pytest.raises(AwsError) as raised:
        get_protocol(PROTOCOL).parse(op, request)
    assert (raised.value.code, raised.value.status) == ("SerializationException", 400)


@pytest.mark.parametrize("depth", [900, 5000])
def test_deeply_nested_recursive_shape(depth: int) -> None:
    """ACM's filter statements nest (Not/And/Or); deep nesting either parses or is a clean 400."""
    op = service_model("acm").operation_model("SearchCertificates")
    inner = '{"Filter": {"CertificateArn": "a"}}'
    body = ('{"FilterStatement": ' + '{"Not": ' * depth + inner + "}" * depth + "}").encode()
    try:
        parsed = get_protocol(PROTOCOL).parse(op, HttpRequest("POST", "/", body=body))
    except AwsError as error:
        assert (error.code, error.status) == ("SerializationException", 400)
    else:
        assert "Not" in parsed["FilterStatement"]
