"""Round-trip tests for the `query` and `ec2` wire protocols against botocore's own client code.

Requests: botocore's serializer writes them, our parser must give back the exact input.
Responses and errors: our serializer writes them, botocore's parser must give back the exact output.
Every operation and every modeled error of the query services and EC2 is covered.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

import botocore.session
import pytest
from botocore.awsrequest import AWSResponse, create_request_object, prepare_request_dict
from botocore.exceptions import ClientError
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from onebox.aws.errors import AwsError
from onebox.aws.http import HttpRequest, HttpResponse
from onebox.aws.protocols import get_protocol
from onebox.aws.protocols.query import Ec2Protocol, QueryProtocol
from onebox.aws.specs import service_model
from tests.shapegen import generate

# botocore service name -> the wire protocol it is tested in (CloudWatch defaults to CBOR; its query mode).
SERVICES: dict[str, str] = {
    "sts": "query",
    "elbv2": "query",
    "autoscaling": "query",
    "rds": "query",
    "elasticache": "query",
    "sns": "query",
    "cloudwatch": "query",
    "ec2": "ec2",
}
REQUEST_ID = "3f1c0a4e-1d2b-4c5d-8e9f-0a1b2c3d4e5f"
ENDPOINT = "https://onebox.test"


def protocol_for(protocol_name: str) -> QueryProtocol:
    protocol = get_protocol(protocol_name)
    assert isinstance(protocol, QueryProtocol)
    return protocol


def operation_cases() -> list[Any]:
    return [
        pytest.param(service, name, id=f"{service}-{name}")
        for service in SERVICES
        for name in service_model(service).operation_names
    ]


def error_cases() -> list[Any]:
    return [
        pytest.param(service, shape.name, id=f"{service}-{shape.name}")
        for service in SERVICES
        for shape in service_model(service).error_shapes
    ]


# ------------------------------------------------------------------------------- helpers


def http_request(serialized: dict[str, Any]) -> HttpRequest:
    """The HTTP request botocore would send for a serializer's request dict, as the gateway sees it."""
    prepare_request_dict(serialized, endpoint_url=ENDPOINT)
    prepared = create_request_object(serialized).prepare()
    url = urlsplit(prepared.url)
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    headers = {name.lower(): value for name, value in prepared.headers.items()}
    return HttpRequest(
        method=prepared.method, path=url.path or "/", query_string=url.query, headers=headers, body=body
    )


def botocore_request(protocol_name: str, operation: OperationModel, params: dict[str, Any]) -> HttpRequest:
    serialized = create_serializer(protocol_name).serialize_to_request(params, operation)
    return http_request(serialized)


def form_request(
    body: str | bytes, content_type: str = "application/x-www-form-urlencoded; charset=utf-8"
) -> HttpRequest:
    raw = body.encode("utf-8") if isinstance(body, str) else body
    return HttpRequest(method="POST", path="/", headers={"content-type": content_type}, body=raw)


def parse_response(protocol_name: str, response: HttpResponse, shape: Shape | None) -> dict[str, Any]:
    assert isinstance(response.body, bytes)
    raw = {"status_code": response.status, "headers": dict(response.headers), "body": response.body}
    return create_parser(protocol_name).parse(raw, shape)


_DROP = object()


def wire_view(value: Any, shape: Shape, ec2: bool) -> Any:
    """What of `value` the query/ec2 request encoding can carry (normalization, documented here).

    - An empty structure or map sends no parameters at all, so it cannot come back.
    - An empty list is sent as `Name=` by the query serializer (it comes back as []), but EC2's
      serializer sends nothing for it.
    - A list item that sends nothing leaves a gap in the numbering; the parser returns the items
      that were sent.
    Everything else (strings, numbers, booleans, UTC datetimes, bytes) must come back unchanged.
    """
    kind = shape.type_name
    if kind == "structure":
        members = {}
        for name, member_value in value.items():
            carried = wire_view(member_value, shape.members[name], ec2)
            if carried is not _DROP:
                members[name] = carried
        return members or _DROP
    if kind == "list":
        if not value:
            return _DROP if ec2 else []
        items = [carried for item in value if (carried := wire_view(item, shape.member, ec2)) is not _DROP]
        return items or _DROP
    if kind == "map":
        entries = {
            key: carried
            for key, item in value.items()
            if (carried := wire_view(item, shape.value, ec2)) is not _DROP
        }
        return entries or _DROP
    return value


# ------------------------------------------------------------------- 1. request round trip


@pytest.mark.parametrize(("service_name", "operation_name"), operation_cases())
def test_request_round_trip(service_name: str, operation_name: str) -> None:
    protocol_name = SERVICES[service_name]
    protocol = protocol_for(protocol_name)
    service = service_model(service_name)
    operation = service.operation_model(operation_name)
    for all_members in (True, False):
        params = generate(operation.input_shape, all_members=all_members) if operation.input_shape else {}
        request = botocore_request(protocol_name, operation, params)

        assert protocol.find_operation(service, request) is operation
        parsed = protocol.parse(operation, request)

        expected = wire_view(params, operation.input_shape, protocol.ec2) if operation.input_shape else {}
        assert parsed == ({} if expected is _DROP else expected), f"all_members={all_members}"


# ------------------------------------------------------------------ 2. response round trip


@pytest.mark.parametrize(("service_name", "operation_name"), operation_cases())
def test_response_round_trip(service_name: str, operation_name: str) -> None:
    protocol_name = SERVICES[service_name]
    protocol = protocol_for(protocol_name)
    operation = service_model(service_name).operation_model(operation_name)
    request = form_request(f"Action={operation_name}")
    shape = operation.output_shape
    for all_members in (True, False):
        output = generate(shape, all_members=all_members) if shape is not None else {}
        response = protocol.serialize(operation, output, request, REQUEST_ID)

        assert response.status == 200
        assert response.header("x-amzn-RequestId") == REQUEST_ID
        assert response.header("Content-Type").startswith("text/xml")
        parsed = parse_response(protocol_name, response, shape)
        metadata = parsed.pop("ResponseMetadata")
        assert metadata["RequestId"] == REQUEST_ID
        assert parsed == output, f"all_members={all_members}"


# ----------------------------------------------------------------------------- 3. errors


def _first_operation(service: ServiceModel) -> OperationModel:
    return service.operation_model(service.operation_names[0])


@pytest.mark.parametrize(("service_name", "shape_name"), error_cases())
def test_modeled_error_round_trip(service_name: str, shape_name: str) -> None:
    protocol_name = SERVICES[service_name]
    protocol = protocol_for(protocol_name)
    service = service_model(service_name)
    shape = service.shape_for(shape_name)
    error_meta = shape.metadata.get("error", {})
    code = error_meta.get("code", shape_name)
    fields = generate(shape)
    error = AwsError(code, "It broke: <&> 'quoted' \"double\" é", fields=fields)

    response = protocol.serialize_error(
        service, _first_operation(service), error, form_request(""), REQUEST_ID
    )

    codes = [s.metadata.get("error", {}).get("code", s.name) for s in service.error_shapes]
    if codes.count(code) == 1:
        assert response.status == int(error_meta.get("httpStatusCode", 400))
    assert response.header("x-amzn-RequestId") == REQUEST_ID
    # What a client sees first: the generic error parse with the operation's output shape.
    generic = parse_response(protocol_name, response, _first_operation(service).output_shape)
    assert generic["Error"]["Code"] == code
    assert generic["Error"]["Message"] == error.message
    assert generic["ResponseMetadata"]["RequestId"] == REQUEST_ID
    # Then botocore parses the modeled shape to fill the exception's extra members.
    modeled = parse_response(protocol_name, response, shape)
    expected = {name: value for name, value in fields.items() if name not in ("Code", "Type")}
    if "Message" in expected:
        expected["Message"] = error.message  # the envelope's <Message> is that member on the wire
    assert modeled == expected


@pytest.mark.parametrize("service_name", list(SERVICES))
def test_unmodeled_error(service_name: str) -> None:
    protocol_name = SERVICES[service_name]
    protocol = protocol_for(protocol_name)
    service = service_model(service_name)
    error = AwsError("Throttling", "Rate exceeded", fields={"Detail": "a < b"}, headers={"Retry-After": "1"})

    response = protocol.serialize_error(service, None, error, form_request(""), REQUEST_ID)

    assert response.status == 400
    assert response.header("Retry-After") == "1"
    parsed = parse_response(protocol_name, response, _first_operation(service).output_shape)
    assert parsed["Error"]["Code"] == "Throttling"
    assert parsed["Error"]["Message"] == "Rate exceeded"
    assert parsed["Error"]["Detail"] == "a < b"
    assert parsed["ResponseMetadata"]["RequestId"] == REQUEST_ID
    if protocol_name == "query":
        assert parsed["Error"]["Type"] == "Sender"


@pytest.mark.parametrize("protocol_name", ["query", "ec2"])
def test_server_error_status_and_type(protocol_name: str) -> None:
    service = service_model("sts" if protocol_name == "query" else "ec2")
    error = AwsError("InternalFailure", "boom", 500, sender_fault=False)

    response = protocol_for(protocol_name).serialize_error(service, None, error, form_request(""), REQUEST_ID)

    assert response.status == 500
    parsed = parse_response(protocol_name, response, None)
    assert parsed["Error"]["Code"] == "InternalFailure"
    if protocol_name == "query":
        assert parsed["Error"]["Type"] == "Receiver"


def test_error_envelopes_match_aws() -> None:
    error = AwsError("InvalidAction", "nope")
    query = protocol_for("query").serialize_error(service_model("sts"), None, error, form_request(""), "r1")
    ec2 = protocol_for("ec2").serialize_error(service_model("ec2"), None, error, form_request(""), "r1")
    assert query.body == (
        b'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
        b"<Code>InvalidAction</Code><Message>nope</Message></Error><RequestId>r1</RequestId></ErrorResponse>"
    )
    assert ec2.body == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>InvalidAction</Code>'
        b"<Message>nope</Message></Error></Errors><RequestID>r1</RequestID></Response>"
    )


# -------------------------------------------------------------------- 4. negative tests


def assert_aws_error(call: Callable[[], Any], code: str, status: int = 400, in_message: str = "") -> AwsError:
    with pytest.raises(AwsError) as caught:
        call()
    assert caught.value.code == code
    assert (caught.value.status or 400) == status
    assert in_message in caught.value.message
    return caught.value


@pytest.mark.parametrize(("service_name", "protocol_name"), [("sts", "query"), ("ec2", "ec2")])
def test_missing_action(service_name: str, protocol_name: str) -> None:
    service = service_model(service_name)
    protocol = protocol_for(protocol_name)
    assert_aws_error(lambda: protocol.find_operation(service, form_request("Version=1")), "MissingAction")
    assert_aws_error(lambda: protocol.find_operation(service, form_request("Action=")), "MissingAction")
    empty_get = HttpRequest(method="GET", path="/")
    assert_aws_error(lambda: protocol.find_operation(service, empty_get), "MissingAction")


def test_unknown_action_query() -> None:
    request = form_request("Action=GetCallerIdentityX&Version=2011-06-15")
    assert_aws_error(
        lambda: protocol_for("query").find_operation(service_model("sts"), request),
        "InvalidAction",
        in_message="Could not find operation GetCallerIdentityX for version 2011-06-15",
    )


def test_unknown_action_ec2() -> None:
    request = form_request("Action=DescribeUnicorns&Version=2016-11-15")
    assert_aws_error(
        lambda: protocol_for("ec2").find_operation(service_model("ec2"), request),
        "InvalidAction",
        in_message="The action DescribeUnicorns is not valid for this web service.",
    )


@pytest.mark.parametrize(
    ("service_name", "protocol_name", "body", "code", "path"),
    [
        (
            "sts",
            "query",
            "Action=AssumeRole&RoleArn=a&RoleSessionName=s&DurationSeconds=abc",
            "ValidationError",
            "DurationSeconds",
        ),
        (
            "sts",
            "query",
            "Action=AssumeRole&RoleArn=a&RoleSessionName=s&DurationSeconds=1.5",
            "ValidationError",
            "DurationSeconds",
        ),
        (
            "ec2",
            "ec2",
            "Action=RunInstances&MinCount=1&MaxCount=1&BlockDeviceMapping.1.Ebs.VolumeSize=x",
            "InvalidParameterValue",
            "BlockDeviceMapping.1.Ebs.VolumeSize",
        ),
        ("ec2", "ec2", "Action=DescribeInstances&DryRun=maybe", "InvalidParameterValue", "DryRun"),
        (
            "ec2",
            "ec2",
            "Action=ImportKeyPair&KeyName=k&PublicKeyMaterial=not*base64",
            "InvalidParameterValue",
            "PublicKeyMaterial",
        ),
        (
            "cloudwatch",
            "query",
            "Action=GetMetricStatistics&StartTime=yesterday",
            "InvalidParameterValue",
            "StartTime",
        ),
        (
            "cloudwatch",
            "query",
            "Action=PutMetricData&Namespace=n&MetricData.member.1.MetricName=m&MetricData.member.1.Value=high",
            "InvalidParameterValue",
            "MetricData.member.1.Value",
        ),
        (
            "autoscaling",
            "query",
            "Action=CreateAutoScalingGroup&AutoScalingGroupName=g&MinSize=1&MaxSize=2&Tags.member.1.PropagateAtLaunch=yes",
            "ValidationError",
            "Tags.member.1.PropagateAtLaunch",
        ),
        (
            "sns",
            "query",
            "Action=Publish&Message=m&MessageAttributes.entry.1.Name=a&MessageAttributes.entry.1.Value.DataType=Binary&MessageAttributes.entry.1.Value.BinaryValue=%%%",
            "InvalidParameter",
            "MessageAttributes.entry.1.Value.BinaryValue",
        ),
    ],
)
def test_malformed_values(service_name: str, protocol_name: str, body: str, code: str, path: str) -> None:
    service = service_model(service_name)
    protocol = protocol_for(protocol_name)
    request = form_request(body)
    operation = protocol.find_operation(service, request)
    error = assert_aws_error(lambda: protocol.parse(operation, request), code, in_message=path)
    assert error.message.startswith("Invalid value")


@pytest.mark.parametrize(
    "body", [b"Action=GetCallerIdentity&Version=2011-06-15&X=%FF%FE", b"Action=GetCallerIdentity\xff"]
)
def test_invalid_utf8_body(body: bytes) -> None:
    service = service_model("sts")
    protocol = protocol_for("query")
    operation = service.operation_model("GetCallerIdentity")
    request = form_request(body)
    assert_aws_error(lambda: protocol.find_operation(service, request), "ValidationError", in_message="UTF-8")
    assert_aws_error(lambda: protocol.parse(operation, request), "ValidationError", in_message="UTF-8")


def test_unknown_parameters_and_mismatched_shapes_are_ignored() -> None:
    operation = service_model("ec2").operation_model("DescribeInstances")
    # InstanceId is a list: a bare value cannot be one; Filter.1 is a structure: a bare value neither.
    request = form_request(
        "Action=DescribeInstances&Bogus=1&InstanceId=i-1&Filter.1=x&Filter.2.Name=n&MaxResults=5"
    )
    assert protocol_for("ec2").parse(operation, request) == {"Filters": [{"Name": "n"}], "MaxResults": 5}


# ------------------------------------------------------------------ request edge cases


def test_get_with_query_string() -> None:
    service = service_model("sts")
    request = HttpRequest(
        method="GET", path="/", query_string="Action=GetSessionToken&Version=2011-06-15&DurationSeconds=900"
    )
    operation = protocol_for("query").find_operation(service, request)
    assert operation.name == "GetSessionToken"
    assert protocol_for("query").parse(operation, request) == {"DurationSeconds": 900}


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "Application/X-WWW-Form-Urlencoded;charset=UTF-8", ""],
)
def test_form_content_types(content_type: str) -> None:
    request = form_request("Action=GetSessionToken&DurationSeconds=900", content_type)
    operation = protocol_for("query").find_operation(service_model("sts"), request)
    assert protocol_for("query").parse(operation, request) == {"DurationSeconds": 900}


def test_non_form_body_is_not_parameters() -> None:
    request = form_request('{"Action": "GetSessionToken"}', "application/json")
    assert_aws_error(
        lambda: protocol_for("query").find_operation(service_model("sts"), request), "MissingAction"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-04T05:06:07Z", datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)),
        ("2026-03-04T05:06:07.250Z", datetime(2026, 3, 4, 5, 6, 7, 250000, tzinfo=UTC)),
        ("2026-03-04T05:06:07.123456Z", datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)),
        ("2026-03-04T07:06:07+02:00", datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)),
        ("2026-03-04T05:06:07", datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)),
        ("1772600767", datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)),
        ("1772600767.5", datetime(2026, 3, 4, 5, 6, 7, 500000, tzinfo=UTC)),
    ],
)
def test_timestamp_inputs(text: str, expected: datetime) -> None:
    operation = service_model("cloudwatch").operation_model("GetMetricStatistics")
    request = form_request(f"Action=GetMetricStatistics&StartTime={text.replace('+', '%2B')}")
    parsed = protocol_for("query").parse(operation, request)
    assert parsed["StartTime"] == expected
    assert parsed["StartTime"].utcoffset() == timedelta(0)


def test_booleans_are_case_insensitive() -> None:
    operation = service_model("ec2").operation_model("DescribeInstances")
    assert protocol_for("ec2").parse(operation, form_request("Action=DescribeInstances&DryRun=True")) == {
        "DryRun": True
    }
    assert protocol_for("ec2").parse(operation, form_request("Action=DescribeInstances&DryRun=FALSE")) == {
        "DryRun": False
    }


def test_special_characters_in_request_strings() -> None:
    operation = service_model("sns").operation_model("Publish")
    params = {"Message": "a+b c&d=e%f\u00e9\U0001f600\r\n<x>", "Subject": " lead and trail "}
    request = botocore_request("query", operation, params)
    assert protocol_for("query").parse(operation, request) == params


def test_query_empty_list_is_sent_and_parsed() -> None:
    operation = service_model("elbv2").operation_model("DescribeLoadBalancers")
    request = botocore_request("query", operation, {"Names": []})
    assert request.body.endswith(b"Names=")
    assert protocol_for("query").parse(operation, request) == {"Names": []}


# ----------------------------------------------------------------- response edge cases


def test_response_envelopes_match_aws() -> None:
    sts = service_model("sts").operation_model("GetCallerIdentity")
    response = protocol_for("query").serialize(sts, {"Account": "123456789012"}, form_request(""), "r1")
    assert response.body == (
        b'<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        b"<GetCallerIdentityResult><Account>123456789012</Account></GetCallerIdentityResult>"
        b"<ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
    )
    assert response.header("Content-Type") == "text/xml"

    ec2 = service_model("ec2").operation_model("DescribeKeyPairs")
    response = protocol_for("ec2").serialize(ec2, {"KeyPairs": [{"KeyName": "k"}]}, form_request(""), "r2")
    assert response.body == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<DescribeKeyPairsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r2</requestId>'
        b"<keySet><item><keyName>k</keyName></item></keySet></DescribeKeyPairsResponse>"
    )
    assert response.header("x-amzn-RequestId") == "r2"


def test_response_without_output_shape() -> None:
    operation = service_model("sns").operation_model("DeleteTopic")
    assert operation.output_shape is None
    response = protocol_for("query").serialize(operation, {}, form_request(""), "r1")
    assert response.body == (
        b'<DeleteTopicResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
        b"<ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></DeleteTopicResponse>"
    )


def test_response_escaping_round_trip() -> None:
    operation = service_model("sts").operation_model("GetCallerIdentity")
    output = {
        "UserId": "<a href='x'>&amp;</a> \"q\" \u00e9\U0001f600",
        "Account": "line1\r\nline2\rline3\n",
        "Arn": "  spaced\t",
    }
    response = protocol_for("query").serialize(operation, output, form_request(""), "<&id>")
    parsed = parse_response("query", response, operation.output_shape)
    assert parsed.pop("ResponseMetadata")["RequestId"] == "<&id>"
    assert parsed == output


def test_response_timestamps_and_numbers() -> None:
    operation = service_model("cloudwatch").operation_model("GetMetricStatistics")
    berlin = timezone(timedelta(hours=1))
    output = {
        "Label": "l",
        "Datapoints": [
            {"Timestamp": datetime(2026, 3, 4, 5, 6, 7, 123999), "Sum": float("inf"), "Average": 1},
            {
                "Timestamp": datetime(2026, 3, 4, 6, 6, 7, tzinfo=berlin),
                "Sum": float("-inf"),
                "Maximum": 1e300,
            },
            {"Timestamp": 1772600767, "Sum": float("nan")},
        ],
    }
    response = protocol_for("query").serialize(operation, output, form_request(""), "r")
    assert b"<Timestamp>2026-03-04T05:06:07.123Z</Timestamp>" in response.body
    datapoints = parse_response("query", response, operation.output_shape)["Datapoints"]
    assert [point["Timestamp"] for point in datapoints] == [
        datetime(2026, 3, 4, 5, 6, 7, 123000, tzinfo=UTC),
        datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC),
        datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC),
    ]
    assert datapoints[0]["Sum"] == float("inf") and datapoints[0]["Average"] == 1.0
    assert datapoints[1]["Sum"] == float("-inf") and datapoints[1]["Maximum"] == 1e300
    assert math.isnan(datapoints[2]["Sum"])


def test_none_members_are_left_out() -> None:
    operation = service_model("sts").operation_model("GetCallerIdentity")
    response = protocol_for("query").serialize(
        operation, {"Account": None, "Arn": "a"}, form_request(""), "r"
    )
    assert b"Account" not in response.body


# ------------------------------------------- synthetic model: traits the real models lack


def synthetic_service(protocol_name: str) -> ServiceModel:
    """A model with flattened lists and maps, renamed members, keys and values, and nested lists."""
    strings = {"type": "list", "member": {"shape": "String"}}
    shapes = {
        "String": {"type": "string"},
        "Integer": {"type": "integer"},
        "Long": {"type": "long"},
        "Double": {"type": "double"},
        "Boolean": {"type": "boolean"},
        "Timestamp": {"type": "timestamp"},
        "Blob": {"type": "blob"},
        "Strings": strings,
        "NamedStrings": {"type": "list", "member": {"shape": "String", "locationName": "Thing"}},
        "FlatStrings": {**strings, "flattened": True},
        "FlatNamedStrings": {
            "type": "list",
            "member": {"shape": "String", "locationName": "Item"},
            "flattened": True,
        },
        "NestedLists": {"type": "list", "member": {"shape": "Strings"}},
        "Items": {"type": "list", "member": {"shape": "Inner"}},
        "Map": {"type": "map", "key": {"shape": "String"}, "value": {"shape": "Inner"}},
        "RenamedMap": {
            "type": "map",
            "key": {"shape": "String", "locationName": "Name"},
            "value": {"shape": "Integer", "locationName": "Val"},
        },
        "FlatMap": {
            "type": "map",
            "key": {"shape": "String"},
            "value": {"shape": "String"},
            "flattened": True,
        },
        "Inner": {
            "type": "structure",
            "members": {
                "S": {"shape": "String"},
                "I": {"shape": "Integer"},
                "L": {"shape": "Long"},
                "D": {"shape": "Double"},
                "B": {"shape": "Boolean"},
                "T": {"shape": "Timestamp"},
                "Bin": {"shape": "Blob"},
                "Self": {"shape": "Inner"},
            },
        },
        "Payload": {
            "type": "structure",
            "members": {
                "Plain": {"shape": "Strings"},
                "Named": {"shape": "NamedStrings"},
                "Flat": {"shape": "FlatStrings"},
                "FlatNamed": {"shape": "FlatNamedStrings"},
                "Nested": {"shape": "NestedLists"},
                "Items": {"shape": "Items"},
                "Renamed": {"shape": "String", "locationName": "alias"},
                "Map": {"shape": "Map"},
                "RenamedMap": {"shape": "RenamedMap"},
                "FlatMap": {"shape": "FlatMap"},
                "Inner": {"shape": "Inner"},
            },
        },
    }
    metadata = {
        "apiVersion": "2020-01-01",
        "endpointPrefix": "synthetic",
        "protocol": protocol_name,
        "protocols": [protocol_name],
        "serviceId": "Synthetic",
        "signatureVersion": "v4",
        "xmlNamespace": "https://synthetic.test/doc/2020-01-01/",
    }
    output = (
        {"shape": "Payload"} if protocol_name == "ec2" else {"shape": "Payload", "resultWrapper": "OpResult"}
    )
    operation = {
        "name": "Op",
        "http": {"method": "POST", "requestUri": "/"},
        "input": {"shape": "Payload"},
        "output": output,
    }
    model = {"metadata": metadata, "operations": {"Op": operation}, "shapes": shapes}
    return ServiceModel(model, service_name=f"synthetic-{protocol_name}")


SYNTHETIC_VALUE: dict[str, Any] = {
    "Plain": ["a", "b"],
    "Named": ["c"],
    "Flat": ["d", "e"],
    "FlatNamed": ["f", "g", "h"],
    "Nested": [["i", "j"], ["k"]],
    "Items": [{"S": "x", "Self": {"I": 1, "Self": {"B": False}}}, {"D": 0.1, "L": 2**40}],
    "Renamed": "r",
    "Map": {"k.1": {"S": "dotted key"}, "k2": {"T": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)}},
    "RenamedMap": {"one": 1, "two": 2},
    "FlatMap": {"a": "1", "b": "2"},
    "Inner": {
        "S": "s",
        "I": -3,
        "L": 9,
        "D": 2.5,
        "B": True,
        "T": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "Bin": b"\x00\xff",
    },
}


@pytest.mark.parametrize("protocol_name", ["query", "ec2"])
def test_synthetic_request_round_trip(protocol_name: str) -> None:
    service = synthetic_service(protocol_name)
    operation = service.operation_model("Op")
    request = botocore_request(protocol_name, operation, SYNTHETIC_VALUE)
    assert protocol_for(protocol_name).find_operation(service, request) is operation
    assert protocol_for(protocol_name).parse(operation, request) == SYNTHETIC_VALUE


def test_synthetic_query_wire_names() -> None:
    operation = synthetic_service("query").operation_model("Op")
    body = botocore_request("query", operation, SYNTHETIC_VALUE).body.decode()
    for fragment in (
        "Named.Thing.1=c",
        "Flat.2=e",
        "Item.3=h",
        "alias=r",
        "RenamedMap.entry.2.Name=two",
        "FlatMap.1.key=a",
    ):
        assert fragment in body


@pytest.mark.parametrize("protocol_name", ["query", "ec2"])
def test_synthetic_response_round_trip(protocol_name: str) -> None:
    operation = synthetic_service(protocol_name).operation_model("Op")
    response = protocol_for(protocol_name).serialize(operation, SYNTHETIC_VALUE, form_request(""), REQUEST_ID)
    parsed = parse_response(protocol_name, response, operation.output_shape)
    assert parsed.pop("ResponseMetadata")["RequestId"] == REQUEST_ID
    assert parsed == SYNTHETIC_VALUE


def test_query_flattened_empty_list_under_its_own_name() -> None:
    # The query serializer sends an empty flattened list as `FlatNamed=`, items as `Item.N`.
    operation = synthetic_service("query").operation_model("Op")
    request = botocore_request("query", operation, {"FlatNamed": []})
    assert protocol_for("query").parse(operation, request) == {"FlatNamed": []}


# ----------------------------------------------------- through a real botocore client


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def client_with_handler(service_name: str, handle: Callable[[str, dict[str, Any]], dict[str, Any]]) -> Any:
    """A botocore client whose HTTP layer is our protocol plus `handle(operation_name, params)`."""
    session = botocore.session.get_session()
    client = session.create_client(
        service_name,
        region_name="us-east-1",
        endpoint_url=ENDPOINT,
        aws_access_key_id="AKID",
        aws_secret_access_key="secret",
    )
    service = client.meta.service_model
    protocol = protocol_for(service.protocol)

    def send(request: Any, **_: Any) -> AWSResponse:
        url = urlsplit(request.url)
        body = request.body.encode() if isinstance(request.body, str) else request.body or b""
        headers = {
            name.lower(): value.decode() if isinstance(value, bytes) else value
            for name, value in request.headers.items()
        }
        http = HttpRequest(
            method=request.method, path=url.path, query_string=url.query, headers=headers, body=body
        )
        try:
            operation = protocol.find_operation(service, http)
            response = protocol.serialize(
                operation, handle(operation.name, protocol.parse(operation, http)), http, REQUEST_ID
            )
        except AwsError as error:
            response = protocol.serialize_error(service, None, error, http, REQUEST_ID)
        assert isinstance(response.body, bytes)
        return AWSResponse(request.url, response.status, dict(response.headers), _Raw(response.body))

    client.meta.events.register(f"before-send.{service_name}", send)
    return client


def test_client_sts_success() -> None:
    def handle(operation: str, params: dict[str, Any]) -> dict[str, Any]:
        assert (operation, params) == ("GetCallerIdentity", {})
        return {"UserId": "AIDA", "Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/me"}

    result = client_with_handler("sts", handle).get_caller_identity()
    assert result["Account"] == "123456789012"
    assert result["ResponseMetadata"]["RequestId"] == REQUEST_ID


def test_client_sns_modeled_exception() -> None:
    def handle(operation: str, params: dict[str, Any]) -> dict[str, Any]:
        assert params == {
            "Name": "t",
            "Attributes": {"DisplayName": "d"},
            "Tags": [{"Key": "k", "Value": "v"}],
        }
        raise AwsError("AuthorizationError", "not allowed")

    client = client_with_handler("sns", handle)
    with pytest.raises(client.exceptions.AuthorizationErrorException) as caught:
        client.create_topic(Name="t", Attributes={"DisplayName": "d"}, Tags=[{"Key": "k", "Value": "v"}])
    assert caught.value.response["Error"]["Message"] == "not allowed"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_client_ec2_success_and_error() -> None:
    def handle(operation: str, params: dict[str, Any]) -> dict[str, Any]:
        if operation == "TerminateInstances":
            raise AwsError("InvalidInstanceID.NotFound", "The instance ID 'i-0' does not exist")
        assert params == {"Filters": [{"Name": "instance-state-name", "Values": ["running", "pending"]}]}
        return {
            "Reservations": [
                {
                    "ReservationId": "r-1",
                    "Instances": [{"InstanceId": "i-1", "State": {"Code": 16, "Name": "running"}}],
                }
            ]
        }

    client = client_with_handler("ec2", handle)
    result = client.describe_instances(
        Filters=[{"Name": "instance-state-name", "Values": ["running", "pending"]}]
    )
    assert result["Reservations"][0]["Instances"][0]["State"] == {"Code": 16, "Name": "running"}
    with pytest.raises(ClientError) as caught:
        client.terminate_instances(InstanceIds=["i-0"])
    assert caught.value.response["Error"]["Code"] == "InvalidInstanceID.NotFound"
    assert caught.value.response["ResponseMetadata"]["RequestId"] == REQUEST_ID


def test_registry_names() -> None:
    assert isinstance(get_protocol("query"), QueryProtocol) and get_protocol("query").name == "query"
    assert isinstance(get_protocol("ec2"), Ec2Protocol) and get_protocol("ec2").name == "ec2"


def test_decoded_form_is_not_reused_after_the_body_changes() -> None:
    # The gateway may replace the body (aws-chunked decoding) between routing and parsing.
    service = service_model("sts")
    request = form_request("Action=GetSessionToken&DurationSeconds=900")
    operation = protocol_for("query").find_operation(service, request)
    request.body = b"Action=GetSessionToken&DurationSeconds=1200"
    assert protocol_for("query").parse(operation, request) == {"DurationSeconds": 1200}
