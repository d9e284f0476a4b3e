"""Round trips of the Smithy RPC v2 CBOR protocol against botocore's serializer and parser.

Every CloudWatch operation (CBOR is its default protocol in current botocore) goes through the
same request, response and error round trips as the JSON tests. One normalization: botocore writes
`float` shapes as 4-byte CBOR floats, so expected `float` values are rounded to single precision
(CloudWatch models only doubles today, so this is a no-op kept for future models).
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cbor2
import pytest
from botocore.model import Shape
from botocore.serialize import create_serializer

from onebox.aws.errors import AwsError, validation_error
from onebox.aws.http import HttpRequest
from onebox.aws.protocols import get_protocol
from onebox.aws.specs import service_model
from tests.shapegen import generate
from tests.unit.test_protocol_json import (
    REQUEST_ID,
    big_metric_data,
    botocore_parse,
    dummy_request,
    error_cases,
    error_round_trip,
    fake_aws,
    make_client,
    operation_cases,
    request_round_trip,
    response_round_trip,
    session_with_protocol,
    unmodeled_error_round_trip,
    wrong_value,
)

PROTOCOL = "smithy-rpc-v2-cbor"
SERVICES = ("cloudwatch",)
PATH = "/service/GraniteServiceVersion20100801/operation/"


def float32(shape: Shape, value: Any) -> Any:
    """`value` as it survives botocore's single-precision encoding of `float` shapes."""
    kind = shape.type_name
    if kind == "float":
        return struct.unpack(">f", struct.pack(">f", value))[0]
    if kind == "structure" and not shape.is_document_type:
        return {key: float32(shape.members[key], item) for key, item in value.items()}
    if kind == "list":
        return [float32(shape.member, item) for item in value]
    if kind == "map":
        return {key: float32(shape.value, item) for key, item in value.items()}
    return value


def no_normalization(shape: Shape, value: Any) -> Any:
    return value


def request_for(operation: str, body: bytes, path: str | None = None) -> HttpRequest:
    headers = {
        "smithy-protocol": "rpc-v2-cbor",
        "content-type": "application/cbor",
        "accept": "application/cbor",
    }
    return HttpRequest("POST", path or PATH + operation, headers=headers, body=body)


def parse_error(operation: str, body: bytes) -> AwsError:
    op = service_model("cloudwatch").operation_model(operation)
    with pytest.raises(AwsError) as raised:
        get_protocol(PROTOCOL).parse(op, request_for(operation, body))
    return raised.value


# ---------------------------------------------------------------------------------------------
# Round trips over every operation


@pytest.mark.parametrize(("service", "operation", "all_members"), operation_cases(SERVICES))
def test_request_round_trip(service: str, operation: str, all_members: bool) -> None:
    request_round_trip(PROTOCOL, service, operation, all_members)


@pytest.mark.parametrize(("service", "operation", "all_members"), operation_cases(SERVICES))
def test_response_round_trip(service: str, operation: str, all_members: bool) -> None:
    # Our encoder writes doubles for every float, so responses need no normalization.
    response_round_trip(PROTOCOL, service, operation, all_members, no_normalization)


@pytest.mark.parametrize(("service", "operation", "all_members"), operation_cases(SERVICES))
def test_request_with_float32_normalization(service: str, operation: str, all_members: bool) -> None:
    """The documented normalization, applied: still equal (guards a model adding `float` shapes)."""
    op = service_model(service).operation_model(operation)
    if op.input_shape is None:
        return
    params = generate(op.input_shape, all_members=all_members)
    serialized = create_serializer(PROTOCOL).serialize_to_request(params, op)
    request = request_for(operation, serialized["body"])
    assert get_protocol(PROTOCOL).parse(op, request) == float32(op.input_shape, params)


@pytest.mark.parametrize(("service", "shape_name"), error_cases(SERVICES))
@pytest.mark.parametrize("by_query_code", [False, True], ids=["by-name", "by-code"])
def test_modeled_error_round_trip(service: str, shape_name: str, by_query_code: bool) -> None:
    response = error_round_trip(PROTOCOL, service, shape_name, by_query_code)
    assert response["ResponseMetadata"]["HTTPHeaders"]["smithy-protocol"] == "rpc-v2-cbor"


@pytest.mark.parametrize("sender_fault", [True, False], ids=["sender", "receiver"])
def test_unmodeled_error_round_trip(sender_fault: bool) -> None:
    unmodeled_error_round_trip(PROTOCOL, "cloudwatch", sender_fault)


def test_error_body_is_cbor_with_type_and_message() -> None:
    model = service_model("cloudwatch")
    operation = model.operation_model("GetDashboard")
    error = AwsError("ResourceNotFound", "no such dashboard")
    response = get_protocol(PROTOCOL).serialize_error(model, operation, error, dummy_request(), REQUEST_ID)
    assert cbor2.loads(response.body) == {"__type": "DashboardNotFoundError", "message": "no such dashboard"}
    assert response.header("Content-Type") == "application/cbor"
    assert response.header("x-amzn-query-error") == "ResourceNotFound;Sender"
    assert response.status == 404


def test_response_headers_and_timestamp_tag() -> None:
    model = service_model("cloudwatch")
    op = model.operation_model("DescribeAlarmHistory")
    moment = datetime(2026, 1, 2, 3, 4, 5, 500000, tzinfo=UTC)
    output = {"AlarmHistoryItems": [{"AlarmName": "a", "Timestamp": moment, "HistoryData": None}]}
    response = get_protocol(PROTOCOL).serialize(op, output, dummy_request(), REQUEST_ID)
    assert response.header("Content-Type") == "application/cbor"
    assert response.header("smithy-protocol") == "rpc-v2-cbor"
    assert cbor2.loads(response.body) == {"AlarmHistoryItems": [{"AlarmName": "a", "Timestamp": moment}]}
    # Tag 1 (0xc1) around a double holding epoch seconds, as botocore's parser expects.
    assert b"\xc1\xfb" + struct.pack(">d", 1767323045.5) in response.body


def test_operation_without_output_has_empty_body() -> None:
    op = service_model("cloudwatch").operation_model("DeleteAlarms")
    assert op.output_shape is None
    response = get_protocol(PROTOCOL).serialize(op, {}, dummy_request(), REQUEST_ID)
    assert (response.status, response.body) == (200, b"")
    assert botocore_parse(PROTOCOL, response, None)["ResponseMetadata"]["HTTPStatusCode"] == 200


# ---------------------------------------------------------------------------------------------
# Routing


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(PATH + "ListDashboards", id="botocore-path"),
        pytest.param("/prefix/v1" + PATH + "ListDashboards", id="with-prefix"),
        pytest.param(
            "/service/com.amazonaws.cloudwatch.GraniteServiceVersion20100801/operation/ListDashboards",
            id="namespaced",
        ),
    ],
)
def test_find_operation(path: str) -> None:
    request = request_for("ListDashboards", b"", path)
    assert (
        get_protocol(PROTOCOL).find_operation(service_model("cloudwatch"), request).name == "ListDashboards"
    )


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        pytest.param(PATH + "NoSuchOperation", None, id="unknown-operation"),
        pytest.param("/service/Logs_20140328/operation/ListDashboards", None, id="other-service"),
        pytest.param(PATH + "ListDashboards/extra", None, id="suffix"),
        pytest.param("/", None, id="root"),
        pytest.param(PATH + "listDashboards", None, id="wrong-case"),
        pytest.param(PATH + "ListDashboards", {}, id="missing-smithy-protocol"),
        pytest.param(PATH + "ListDashboards", {"smithy-protocol": "rpc-v2-json"}, id="other-wire-format"),
    ],
)
def test_unknown_operation(path: str, headers: dict[str, str] | None) -> None:
    request = request_for("x", b"", path)
    if headers is not None:
        request.headers = headers
    with pytest.raises(AwsError) as raised:
        get_protocol(PROTOCOL).find_operation(service_model("cloudwatch"), request)
    assert (raised.value.code, raised.value.status) == ("UnknownOperationException", 404)
    # And the client can read it.
    model = service_model("cloudwatch")
    response = get_protocol(PROTOCOL).serialize_error(model, None, raised.value, request, REQUEST_ID)
    assert botocore_parse(PROTOCOL, response, None)["Error"]["Code"] == "UnknownOperationException"


# ---------------------------------------------------------------------------------------------
# Bad requests


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"\xa1\x69Namespace", id="truncated"),
        pytest.param(b"\xa1\x69Namespace\x61", id="truncated-value"),
        pytest.param(b"\xa1\x69Namespace\x63\xff\xfe\xfd", id="invalid-utf8-value"),
        pytest.param(b"\xa1\x63\xff\xfe\xfd\x01", id="invalid-utf8-key"),
        pytest.param(b"\xff", id="lone-break"),
        pytest.param(b"\x1c", id="reserved-additional-info"),
        pytest.param(b"\xa0\x00", id="trailing-bytes"),
        pytest.param(b"\x81" * 1000 + b"\xa0", id="deep-nesting"),
        pytest.param(b"\x80", id="array-top-level"),
        pytest.param(b"\xf6", id="null-top-level"),
        pytest.param(b"\x5b\xff\xff\xff\xff\xff\xff\xff\xff", id="huge-declared-length"),
        pytest.param(b"\xc1\x61a", id="tag1-on-text"),
        pytest.param(b'{"Namespace": "n"}', id="json-body"),
    ],
)
def test_malformed_body_is_serialization_exception(body: bytes) -> None:
    error = parse_error("ListMetrics", body)
    assert (error.code, error.status) == ("SerializationException", 400)


@pytest.mark.parametrize(
    ("operation", "value", "where"),
    [
        pytest.param("ListMetrics", {"Namespace": 5}, "Namespace", id="number-for-string"),
        pytest.param("ListMetrics", {"Namespace": b"n"}, "Namespace", id="bytes-for-string"),
        pytest.param("GetMetricData", {"MaxDatapoints": "5"}, "MaxDatapoints", id="string-for-integer"),
        pytest.param(
            "GetMetricData", {"StartTime": "2026-01-01T00:00:00Z"}, "StartTime", id="text-timestamp"
        ),
        pytest.param("PutMetricData", {"MetricData": [{"Value": "1"}]}, "MetricData[0].Value", id="nested"),
        pytest.param("PutDashboard", {"DashboardBody": ["x"]}, "DashboardBody", id="array-for-string"),
        pytest.param("ListMetrics", {"Dimensions": {"Name": "x"}}, "Dimensions", id="map-for-list"),
        pytest.param("DescribeAlarms", {"AlarmNames": [1]}, "AlarmNames[0]", id="list-member"),
        pytest.param(
            "PutMetricData",
            {"EntityMetricData": [{"Entity": {"KeyAttributes": {1: "v"}}}]},
            "KeyAttributes",
            id="map-key",
        ),
    ],
)
def test_wrong_type_is_serialization_exception(operation: str, value: dict[str, Any], where: str) -> None:
    error = parse_error(operation, cbor2.dumps(value))
    assert (error.code, error.status) == ("SerializationException", 400)
    assert where in error.message


def test_integer_overflow_is_validation_error() -> None:
    error = parse_error("GetMetricData", cbor2.dumps({"MaxDatapoints": 2**40}))
    expected = validation_error("cloudwatch", "")
    assert (error.code, error.status) == (expected.code, expected.status)


def test_decoding_details() -> None:
    """Indefinite lengths, untagged epoch numbers, null and undefined members, unknown members."""
    op = service_model("cloudwatch").operation_model("GetMetricData")
    body = cbor2.dumps(
        {"StartTime": 1767323045, "EndTime": datetime(2026, 1, 2, tzinfo=UTC), "NextToken": None, "New": 1},
        datetime_as_timestamp=True,
        indefinite_containers=True,
    )
    body = body[:-1] + b"\x66ScanBy\xf7\xff"  # add an `undefined` member before the break
    parsed = get_protocol(PROTOCOL).parse(op, request_for("GetMetricData", body))
    assert parsed == {
        "StartTime": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "EndTime": datetime(2026, 1, 2, tzinfo=UTC),
    }


def test_empty_body_is_empty_input() -> None:
    op = service_model("cloudwatch").operation_model("ListDashboards")
    assert get_protocol(PROTOCOL).parse(op, request_for("ListDashboards", b"")) == {}


@pytest.mark.parametrize(("service", "operation", "all_members"), operation_cases(SERVICES)[::2])
def test_every_member_rejects_a_wrong_type(service: str, operation: str, all_members: bool) -> None:
    op = service_model(service).operation_model(operation)
    if op.input_shape is None:
        return
    valid = cbor2.loads(
        create_serializer(PROTOCOL).serialize_to_request(generate(op.input_shape), op)["body"]
    )
    for name, member in op.input_shape.members.items():
        body = cbor2.dumps({**valid, name: wrong_value(member)})
        with pytest.raises(AwsError) as raised:
            get_protocol(PROTOCOL).parse(op, request_for(operation, body))
        assert (raised.value.code, raised.value.status) == ("SerializationException", 400), name


# ---------------------------------------------------------------------------------------------
# End to end through a botocore client (CloudWatch's default protocol is CBOR)


def test_client_cloudwatch_cbor(tmp_path: Path) -> None:
    # botocore's client prefers json when a model lists both, so force CBOR like SDKs that pick it.
    client = make_client("cloudwatch", session_with_protocol("cloudwatch", PROTOCOL, tmp_path))
    assert client.meta.service_model.resolved_protocol == PROTOCOL
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    def handler(operation: str, params: dict[str, Any]) -> dict[str, Any]:
        if operation == "GetDashboard":
            raise AwsError("ResourceNotFound", "Dashboard does not exist")
        if operation == "DeleteAlarms":
            return {}
        return {
            "MetricDataResults": [
                {"Id": "q", "Timestamps": [params["StartTime"]], "Values": [1.5], "StatusCode": "Complete"}
            ]
        }

    received = fake_aws(client, get_protocol(PROTOCOL), handler)
    result = client.get_metric_data(
        MetricDataQueries=[{"Id": "q", "Expression": "SELECT 1"}], StartTime=moment, EndTime=moment
    )
    assert received.params[-1]["StartTime"] == moment
    assert result["MetricDataResults"][0]["Timestamps"] == [moment]
    assert result["MetricDataResults"][0]["Values"] == [1.5]
    assert result["ResponseMetadata"]["RequestId"] == REQUEST_ID

    client.delete_alarms(AlarmNames=["a"])
    assert received.params[-1] == {"AlarmNames": ["a"]}

    with pytest.raises(client.exceptions.from_code("ResourceNotFound")) as raised:
        client.get_dashboard(DashboardName="missing")
    assert raised.value.response["Error"]["Code"] == "ResourceNotFound"
    assert raised.value.response["Error"]["QueryErrorCode"] == "DashboardNotFoundError"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_client_gzipped_put_metric_data(tmp_path: Path) -> None:
    client = make_client("cloudwatch", session_with_protocol("cloudwatch", PROTOCOL, tmp_path))
    received = fake_aws(client, get_protocol(PROTOCOL), lambda operation, params: {})
    data = big_metric_data(300)
    client.put_metric_data(Namespace="App", MetricData=data)
    assert received.requests[-1].header("content-encoding") == "gzip"
    assert received.params[-1] == {"Namespace": "App", "MetricData": data}
