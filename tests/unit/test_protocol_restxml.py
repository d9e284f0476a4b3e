"""rest-xml round trips against botocore itself, for every operation of S3, Route 53 and CloudFront.

Requests are written by botocore's client serializer and read by ours; responses and errors are
written by ours and read by botocore's client parser. Where the wire cannot carry a difference,
the expected value is normalized, and each normalization says why (see `expected_request` and
`expected_response`). The helpers here are shared with test_protocol_restjson.py.
"""

from __future__ import annotations

import copy
import io
from typing import Any
from urllib.parse import urlsplit

import botocore.session
import pytest
from botocore.awsrequest import AWSResponse, HeadersDict, create_request_object, prepare_request_dict
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.parsers import create_parser
from botocore.response import StreamingBody
from botocore.serialize import create_serializer

from onebox.aws.errors import AwsError
from onebox.aws.http import HttpRequest, HttpResponse
from onebox.aws.protocols import get_protocol
from onebox.aws.protocols.rest import split_header_list
from onebox.aws.specs import service_model
from tests.shapegen import generate

XML_SERVICES = ("s3", "route53", "cloudfront")
REQUEST_ID = "4442587FB7D0A2F9"

# Operations the wire cannot tell apart: a deprecated operation and its successor share method,
# URI and required members, so the router answers with the successor (what S3 itself executes).
# ListDirectoryBuckets differs from ListBuckets only by optional query keys (or `x-id`).
WIRE_ALIASES = {
    ("s3", "GetBucketLifecycle", "all"): "GetBucketLifecycleConfiguration",
    ("s3", "GetBucketLifecycle", "required"): "GetBucketLifecycleConfiguration",
    ("s3", "PutBucketLifecycle", "all"): "PutBucketLifecycleConfiguration",
    ("s3", "PutBucketLifecycle", "required"): "PutBucketLifecycleConfiguration",
    ("s3", "GetBucketNotification", "all"): "GetBucketNotificationConfiguration",
    ("s3", "GetBucketNotification", "required"): "GetBucketNotificationConfiguration",
    ("s3", "PutBucketNotification", "all"): "PutBucketNotificationConfiguration",
    ("s3", "PutBucketNotification", "required"): "PutBucketNotificationConfiguration",
    ("s3", "ListDirectoryBuckets", "required"): "ListBuckets",
}


# ---------------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------------


def operation_cases(services: tuple[str, ...]) -> list[Any]:
    return [
        pytest.param(service, name, variant, id=f"{service}-{name}-{variant}")
        for service in services
        for name in service_model(service).operation_names
        for variant in ("all", "required")
    ]


def error_cases(services: tuple[str, ...]) -> list[Any]:
    return [
        pytest.param(service, shape.name, id=f"{service}-{shape.name}")
        for service in services
        for shape in service_model(service).error_shapes
    ]


def generate_input(operation: OperationModel, variant: str) -> dict[str, Any]:
    shape = operation.input_shape
    return generate(shape, all_members=variant == "all") if shape is not None else {}


def generate_output(operation: OperationModel, variant: str) -> dict[str, Any]:
    shape = operation.output_shape
    return generate(shape, all_members=variant == "all") if shape is not None else {}


def botocore_request(operation: OperationModel, params: dict[str, Any]) -> HttpRequest:
    """What a botocore client puts on the wire for `params`, as the gateway hands it to us."""
    protocol = operation.service_model.metadata["protocol"]
    serialized = create_serializer(protocol, include_validation=False).serialize_to_request(
        copy.deepcopy(params), operation
    )
    prepare_request_dict(serialized, endpoint_url="http://localhost:4566")
    prepared = create_request_object(serialized).prepare()
    url = urlsplit(prepared.url)
    body = prepared.body or b""
    if hasattr(body, "read"):
        body = body.read()
    if isinstance(body, str):
        body = body.encode("utf-8")
    headers = {name.lower(): value for name, value in prepared.headers.items()}
    return HttpRequest(
        method=prepared.method, path=url.path, query_string=url.query, headers=headers, body=body
    )


def botocore_parse(operation: OperationModel, response: HttpResponse) -> dict[str, Any]:
    """What a botocore client makes of our response (endpoint.convert_to_response_dict + parser)."""
    headers = HeadersDict()
    for name, value in response.headers:
        headers[name] = value
    assert isinstance(response.body, bytes)
    response_dict: dict[str, Any] = {
        "status_code": response.status,
        "headers": headers,
        "body": response.body,
        "context": {"operation_name": operation.name},
    }
    if response.status < 300 and operation.has_streaming_output:
        response_dict["body"] = StreamingBody(io.BytesIO(response.body), len(response.body))
    parser = create_parser(operation.service_model.metadata["protocol"])
    parsed = parser.parse(response_dict, operation.output_shape)
    if response.status >= 300:
        # botocore's endpoint adds the modeled error members the same way.
        error_shape = operation.service_model.shape_for_error_code(parsed["Error"].get("Code"))
        if error_shape is not None:
            parsed.update(parser.parse(response_dict, error_shape))
    for name, value in list(parsed.items()):
        if isinstance(value, StreamingBody):
            parsed[name] = value.read()
    return parsed


def _element_name(name: str, member: Shape) -> str:
    if member.type_name == "list" and member.serialization.get("flattened"):
        return member.member.serialization.get("name", member.serialization.get("name", name))
    return member.serialization.get("name", name)


def _strip_unwireable(shape: Shape, value: Any, xml: bool) -> Any:
    """A value without what a body cannot carry. In XML an empty flattened list or map has no element
    at all, and two members written under one element name (only S3's deprecated notification
    shapes: `Event` and the flattened `Events`) cannot be told apart, so neither is compared."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict) and not shape.is_document_type:
        body = [
            (name, member)
            for name, member in shape.members.items()
            if not member.serialization.get("location")
        ]
        names = [_element_name(name, member) for name, member in body]
        clashing = {name for (name, _), element in zip(body, names, strict=True) if names.count(element) > 1}
        result = {}
        for name, item in value.items():
            member = shape.members[name]
            if xml and name in clashing:
                continue
            flattened = member.serialization.get("flattened") and member.type_name in ("list", "map")
            if xml and flattened and not item and not member.serialization.get("location"):
                continue
            result[name] = _strip_unwireable(member, item, xml)
        return result
    if kind == "list" and isinstance(value, list):
        return [_strip_unwireable(shape.member, item, xml) for item in value]
    if kind == "map" and isinstance(value, dict):
        return {key: _strip_unwireable(shape.value, item, xml) for key, item in value.items()}
    return value


def expected_request(
    operation: OperationModel, params: dict[str, Any], request: HttpRequest
) -> dict[str, Any]:
    """The input a server can recover from the wire."""
    shape = operation.input_shape
    if shape is None:
        return {}
    xml = operation.service_model.metadata["protocol"] == "rest-xml"
    expected = _strip_unwireable(shape, params, xml)
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        if name in expected and location == "headers":
            # Header names are case-insensitive on the wire; S3 hands metadata keys back lower-cased.
            expected[name] = {key.lower(): value for key, value in expected[name].items()}
        if name in expected and location in ("querystring", "header") and expected[name] == []:
            # botocore sends nothing for an empty list in the query string or a header.
            del expected[name]
        wire = member.serialization.get("name", "").lower()
        if location == "header" and wire in ("content-length", "content-type") and name not in expected:
            # The client adds Content-Length (and Content-Type for a JSON body) on its own; S3 and
            # others model these headers as members, so the server sees them.
            if wire in request.headers:
                text = request.headers[wire]
                expected[name] = int(text) if member.type_name in ("integer", "long") else text
    payload = shape.serialization.get("payload")
    kind = shape.members[payload].type_name if payload else None
    if payload in expected and kind in ("blob", "string") and not expected[payload]:
        # An empty raw body and an absent payload are the same bytes.
        del expected[payload]
    if payload and payload not in expected and kind == "structure" and request.body.strip() == b"{}":
        # rest-json: botocore sends `{}` for an absent structure payload; that reads as an empty one.
        expected[payload] = {}
    return expected


def expected_response(operation: OperationModel, output: dict[str, Any], status: int) -> dict[str, Any]:
    """The output botocore's parser reports for what we wrote."""
    shape = operation.output_shape
    if shape is None:
        return {}
    xml = operation.service_model.metadata["protocol"] == "rest-xml"
    expected = _strip_unwireable(shape, output, xml)
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        if location == "statusCode":
            # The status line always has a code; botocore always reports it.
            expected.setdefault(name, status)
        elif location == "headers":
            # botocore always reports a header map, empty when no header had the prefix.
            expected.setdefault(name, {})
        elif location == "header" and expected.get(name) == []:
            # An empty list has no header.
            del expected[name]
    payload = shape.serialization.get("payload")
    if payload is not None and payload not in expected:
        # botocore reads an absent payload as an empty one of its type.
        kind = shape.members[payload].type_name
        expected[payload] = {"structure": {}, "blob": b"", "string": ""}.get(kind)
    return expected


def assert_request_round_trip(service: str, name: str, variant: str) -> None:
    model = service_model(service)
    operation = model.operation_model(name)
    protocol = get_protocol(model.metadata["protocol"])
    params = generate_input(operation, variant)
    request = botocore_request(operation, params)

    found = protocol.find_operation(model, request)
    assert found.name == WIRE_ALIASES.get((service, name, variant), name)

    parsed = protocol.parse(operation, request)
    xml = model.metadata["protocol"] == "rest-xml"
    if operation.input_shape is not None:
        parsed = _strip_unwireable(operation.input_shape, parsed, xml)
    assert parsed == expected_request(operation, params, request)


def assert_response_round_trip(service: str, name: str, variant: str) -> None:
    model = service_model(service)
    operation = model.operation_model(name)
    if operation.has_event_stream_output:
        with pytest.raises(AwsError) as caught:
            get_protocol(model.metadata["protocol"]).serialize(
                operation, {}, HttpRequest("POST", "/"), REQUEST_ID
            )
        assert caught.value.status == 501
        return
    protocol = get_protocol(model.metadata["protocol"])
    output = generate_output(operation, variant)
    request = HttpRequest(method=operation.http["method"], path="/")
    response = protocol.serialize(operation, output, request, REQUEST_ID)

    parsed = botocore_parse(operation, response)
    metadata = parsed.pop("ResponseMetadata")
    assert metadata["RequestId"] == REQUEST_ID
    assert metadata["HTTPStatusCode"] == response.status
    if service == "s3" and name == "GetBucketLocation":
        # botocore reads this one with a handler: the root element's text is the region.
        from xml.etree import ElementTree

        assert ElementTree.fromstring(response.body).text == output.get("LocationConstraint")
        return
    if operation.output_shape is not None:
        parsed = _strip_unwireable(operation.output_shape, parsed, model.metadata["protocol"] == "rest-xml")
    assert parsed == expected_response(operation, output, response.status)


def error_for_shape(model: ServiceModel, shape_name: str) -> tuple[AwsError, dict[str, Any]]:
    """An AwsError carrying every modeled member of the error shape except the message."""
    shape = model.shape_for(shape_name)
    code = shape.metadata.get("error", {}).get("code", shape_name)
    fields = {key: value for key, value in generate(shape).items() if key.lower() != "message"}
    return AwsError(code, f'{code} happened: <&> "quoted"', fields=fields), fields


def expected_status(model: ServiceModel, shape_name: str) -> int:
    error = model.shape_for(shape_name).metadata.get("error", {})
    return int(error.get("httpStatusCode", 400))


class _Raw:
    """Just enough of a urllib3 response for botocore to read a body from."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def stream(self, amt: int = 65536, decode_content: bool = False) -> Any:
        while chunk := self._data.read(amt):
            yield chunk

    def read(self, amt: int | None = None, decode_content: bool = False) -> bytes:
        return self._data.read(amt)


def fake_client(service: str, handlers: dict[str, Any]) -> Any:
    """A real botocore client whose HTTP layer is our protocol plus canned handlers, so the whole
    client pipeline (S3 customizations, checksums, error factories) runs against our wire format.
    A handler gets the parsed input and returns the output dict or raises AwsError."""
    session = botocore.session.get_session()
    client = session.create_client(
        service,
        region_name="us-east-1",
        endpoint_url="http://localhost:4566",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    model = service_model(service)
    protocol = get_protocol(model.metadata["protocol"])

    def send(request: Any, **_: Any) -> AWSResponse:
        url = urlsplit(request.url)
        body = request.body or b""
        if hasattr(body, "read"):
            body = body.read()
        headers = {name.lower(): value for name, value in request.headers.items()}
        headers = {
            name: value.decode() if isinstance(value, bytes) else value for name, value in headers.items()
        }
        http = HttpRequest(request.method, url.path, url.query, headers, body)
        operation = None
        try:
            operation = protocol.find_operation(model, http)
            output = handlers[operation.name](protocol.parse(operation, http))
            response = protocol.serialize(operation, output, http, REQUEST_ID)
        except AwsError as error:
            response = protocol.serialize_error(model, operation, error, http, REQUEST_ID)
        return AWSResponse(request.url, response.status, dict(response.headers), _Raw(response.body))

    client.meta.events.register("before-send", send)
    return client


# ---------------------------------------------------------------------------------------------
# Every operation, both directions
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("service", "name", "variant"), operation_cases(XML_SERVICES))
def test_request_round_trip(service: str, name: str, variant: str) -> None:
    assert_request_round_trip(service, name, variant)


@pytest.mark.parametrize(("service", "name", "variant"), operation_cases(XML_SERVICES))
def test_response_round_trip(service: str, name: str, variant: str) -> None:
    assert_response_round_trip(service, name, variant)


# S3 Control exercises what the three services above do not: greedy labels followed by literal
# segments (/mrap/instances/{name+}/policy).
@pytest.mark.parametrize(("service", "name", "variant"), operation_cases(("s3control",)))
def test_other_rest_xml_service_round_trip(service: str, name: str, variant: str) -> None:
    assert_request_round_trip(service, name, variant)
    assert_response_round_trip(service, name, variant)


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


def _any_operation(model: ServiceModel) -> OperationModel:
    return model.operation_model(model.operation_names[0])


@pytest.mark.parametrize(("service", "shape_name"), error_cases(XML_SERVICES))
def test_modeled_error_round_trip(service: str, shape_name: str) -> None:
    model = service_model(service)
    protocol = get_protocol("rest-xml")
    error, fields = error_for_shape(model, shape_name)
    response = protocol.serialize_error(model, None, error, HttpRequest("GET", "/"), REQUEST_ID)

    assert response.status == expected_status(model, shape_name)
    parsed = botocore_parse(_any_operation(model), response)
    assert parsed["Error"]["Code"] == error.code
    assert parsed["Error"]["Message"] == error.message
    assert parsed["ResponseMetadata"]["RequestId"] == REQUEST_ID
    assert parsed["ResponseMetadata"]["HTTPStatusCode"] == response.status
    modeled = {key: parsed[key] for key in model.shape_for(shape_name).members if key in parsed}
    if "Message" in modeled:
        # The standard <Message> element doubles as a modeled `Message` member.
        assert modeled.pop("Message") == error.message
    assert modeled == fields
    if service != "s3":
        assert parsed["Error"]["Type"] == "Sender"


def test_s3_error_document_shape() -> None:
    model = service_model("s3")
    error = AwsError("NoSuchKey", "The specified key does not exist.", fields={"Key": "a/b.txt"})
    response = get_protocol("rest-xml").serialize_error(
        model, None, error, HttpRequest("GET", "/b/a"), "RID1"
    )
    assert response.status == 404
    assert response.body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code>')
    assert b"<Key>a/b.txt</Key><RequestId>RID1</RequestId><HostId>" in response.body
    assert response.header("x-amz-request-id") == "RID1"
    assert response.header("x-amz-id-2")
    assert response.header("Content-Type") == "application/xml"


@pytest.mark.parametrize("service", XML_SERVICES)
def test_unmodeled_error(service: str) -> None:
    model = service_model(service)
    error = AwsError("SlowDown", "Reduce your request rate.", 503, sender_fault=False, fields={"Extra": "x"})
    response = get_protocol("rest-xml").serialize_error(
        model, None, error, HttpRequest("GET", "/"), REQUEST_ID
    )
    assert response.status == 503
    parsed = botocore_parse(_any_operation(model), response)
    assert parsed["Error"]["Code"] == "SlowDown"
    assert parsed["Error"]["Message"] == "Reduce your request rate."
    assert parsed["Error"]["Extra"] == "x"
    assert parsed["ResponseMetadata"]["RequestId"] == REQUEST_ID
    if service != "s3":
        assert parsed["Error"]["Type"] == "Receiver"
        assert response.body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse xmlns="http')


def test_error_headers_are_sent() -> None:
    model = service_model("s3")
    error = AwsError("AccessDenied", "Access Denied", headers={"x-amz-bucket-region": "eu-west-1"})
    response = get_protocol("rest-xml").serialize_error(
        model, None, error, HttpRequest("GET", "/"), REQUEST_ID
    )
    assert response.status == 403
    assert response.header("x-amz-bucket-region") == "eu-west-1"


def test_head_error_has_no_body() -> None:
    model = service_model("s3")
    operation = model.operation_model("HeadObject")
    error = AwsError("NoSuchKey", "The specified key does not exist.")
    response = get_protocol("rest-xml").serialize_error(
        model, operation, error, HttpRequest("HEAD", "/b/k"), "R"
    )
    assert response.status == 404
    assert response.body == b""
    parsed = botocore_parse(operation, response)
    assert parsed["Error"]["Code"] == "404"
    assert parsed["ResponseMetadata"]["RequestId"] == "R"


# ---------------------------------------------------------------------------------------------
# Routing
# ---------------------------------------------------------------------------------------------


def _s3_route(method: str, path: str, query: str = "", headers: dict[str, str] | None = None) -> str:
    request = HttpRequest(method, path, query, headers or {})
    return get_protocol("rest-xml").find_operation(service_model("s3"), request).name


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "expected"),
    [
        ("GET", "/", "", {}, "ListBuckets"),
        ("GET", "/", "x-id=ListDirectoryBuckets", {}, "ListDirectoryBuckets"),
        ("GET", "/", "max-directory-buckets=5", {}, "ListDirectoryBuckets"),
        ("GET", "/bucket", "", {}, "ListObjects"),
        ("GET", "/bucket/", "", {}, "ListObjects"),
        ("GET", "/bucket", "list-type=2&prefix=a", {}, "ListObjectsV2"),
        ("GET", "/bucket", "list-type=1", {}, "ListObjects"),
        ("GET", "/bucket", "versioning", {}, "GetBucketVersioning"),
        ("PUT", "/bucket", "versioning", {}, "PutBucketVersioning"),
        ("PUT", "/bucket", "", {}, "CreateBucket"),
        ("HEAD", "/bucket", "", {}, "HeadBucket"),
        ("GET", "/bucket", "uploads", {}, "ListMultipartUploads"),
        ("GET", "/bucket", "analytics", {}, "ListBucketAnalyticsConfigurations"),
        ("GET", "/bucket", "analytics&id=a", {}, "GetBucketAnalyticsConfiguration"),
        ("GET", "/bucket/key", "", {}, "GetObject"),
        ("GET", "/bucket/dir/", "", {}, "GetObject"),
        ("GET", "/bucket/key", "uploadId=u1", {}, "ListParts"),
        ("GET", "/bucket/key", "acl", {}, "GetObjectAcl"),
        ("PUT", "/bucket/key", "", {}, "PutObject"),
        ("PUT", "/bucket/key", "x-id=PutObject", {}, "PutObject"),
        ("PUT", "/bucket/key", "partNumber=1&uploadId=u", {}, "UploadPart"),
        ("PUT", "/bucket/key", "", {"x-amz-copy-source": "a/b"}, "CopyObject"),
        ("PUT", "/bucket/key", "partNumber=1&uploadId=u", {"x-amz-copy-source": "a/b"}, "UploadPartCopy"),
        ("POST", "/bucket/key", "uploads", {}, "CreateMultipartUpload"),
        ("POST", "/bucket/key", "uploadId=u", {}, "CompleteMultipartUpload"),
        ("DELETE", "/bucket/key", "uploadId=u", {}, "AbortMultipartUpload"),
        ("DELETE", "/bucket/key", "", {}, "DeleteObject"),
        ("POST", "/bucket", "delete", {}, "DeleteObjects"),
    ],
)
def test_s3_routing(method: str, path: str, query: str, headers: dict[str, str], expected: str) -> None:
    assert _s3_route(method, path, query, headers) == expected


def test_route53_path_without_the_models_trailing_slash() -> None:
    model = service_model("route53")
    for path in ("/2013-04-01/hostedzone/Z1/rrset/", "/2013-04-01/hostedzone/Z1/rrset"):
        request = HttpRequest("POST", path, body=b"")
        assert get_protocol("rest-xml").find_operation(model, request).name == "ChangeResourceRecordSets"
        assert get_protocol("rest-xml").parse(model.operation_model("ChangeResourceRecordSets"), request) == {
            "HostedZoneId": "Z1"
        }


def test_cloudfront_literal_query_value_routes() -> None:
    model = service_model("cloudfront")
    protocol = get_protocol("rest-xml")
    tag = HttpRequest("POST", "/2020-05-31/tagging", "Operation=Tag&Resource=arn")
    untag = HttpRequest("POST", "/2020-05-31/tagging", "Operation=Untag&Resource=arn")
    assert protocol.find_operation(model, tag).name == "TagResource"
    assert protocol.find_operation(model, untag).name == "UntagResource"


@pytest.mark.parametrize(
    "key",
    ["a b/c+d%e", "ünï/cødé/😀", "dir/", "/leading", "double//slash", "q?x=1&y#frag", "~tilde*'()!"],
)
def test_s3_keys_survive_percent_encoding(key: str) -> None:
    model = service_model("s3")
    operation = model.operation_model("GetObject")
    request = botocore_request(operation, {"Bucket": "my-bucket", "Key": key})
    assert get_protocol("rest-xml").find_operation(model, request).name == "GetObject"
    assert get_protocol("rest-xml").parse(operation, request) == {"Bucket": "my-bucket", "Key": key}


def test_query_and_header_values_are_decoded() -> None:
    model = service_model("s3")
    operation = model.operation_model("ListObjectsV2")
    params = {"Bucket": "b", "Prefix": "a b+c/ü&=", "Delimiter": "/", "MaxKeys": 5, "FetchOwner": True}
    request = botocore_request(operation, params)
    assert get_protocol("rest-xml").parse(operation, request) == params


# ---------------------------------------------------------------------------------------------
# Formats
# ---------------------------------------------------------------------------------------------


def test_grantee_xsi_type_attribute_round_trips() -> None:
    model = service_model("s3")
    put = model.operation_model("PutBucketAcl")
    policy = {
        "Grants": [
            {
                "Grantee": {"Type": "CanonicalUser", "ID": "abc", "DisplayName": "me"},
                "Permission": "FULL_CONTROL",
            },
            {
                "Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
                "Permission": "READ",
            },
        ],
        "Owner": {"ID": "abc"},
    }
    request = botocore_request(put, {"Bucket": "b", "AccessControlPolicy": policy})
    assert b'xsi:type="CanonicalUser"' in request.body
    assert get_protocol("rest-xml").parse(put, request) == {"Bucket": "b", "AccessControlPolicy": policy}

    get = model.operation_model("GetBucketAcl")
    response = get_protocol("rest-xml").serialize(get, policy, HttpRequest("GET", "/b"), REQUEST_ID)
    assert b"<AccessControlPolicy xmlns=" in response.body
    assert (
        b'<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser">'
        in response.body
    )
    parsed = botocore_parse(get, response)
    parsed.pop("ResponseMetadata")
    assert parsed == policy


def test_s3_list_objects_v2_document() -> None:
    model = service_model("s3")
    operation = model.operation_model("ListObjectsV2")
    output = {
        "Name": "b",
        "KeyCount": 1,
        "IsTruncated": False,
        "Contents": [{"Key": "a&b", "Size": 3, "LastModified": "2026-01-02T03:04:05Z"}],
    }
    response = get_protocol("rest-xml").serialize(operation, output, HttpRequest("GET", "/b"), REQUEST_ID)
    assert response.body == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><IsTruncated>false</IsTruncated>'
        b"<Contents><Key>a&amp;b</Key><LastModified>2026-01-02T03:04:05.000Z</LastModified><Size>3</Size>"
        b"</Contents><Name>b</Name><KeyCount>1</KeyCount></ListBucketResult>"
    )
    assert response.header("Content-Type") == "application/xml"


def test_control_characters_never_break_the_document() -> None:
    model = service_model("s3")
    operation = model.operation_model("ListObjectsV2")
    output = {"Name": "b", "Contents": [{"Key": "a\x01b\r\nc"}]}
    response = get_protocol("rest-xml").serialize(operation, output, HttpRequest("GET", "/b"), REQUEST_ID)
    parsed = botocore_parse(operation, response)
    assert parsed["Contents"][0]["Key"] == "a\ufffdb\r\nc"


def test_route53_response_uses_shape_root_and_namespace() -> None:
    model = service_model("route53")
    operation = model.operation_model("GetHostedZoneCount")
    response = get_protocol("rest-xml").serialize(
        operation, {"HostedZoneCount": 3}, HttpRequest("GET", "/"), "R"
    )
    assert response.body.endswith(
        b'<GetHostedZoneCountResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">'
        b"<HostedZoneCount>3</HostedZoneCount></GetHostedZoneCountResponse>"
    )
    assert response.header("x-amzn-RequestId") == "R"


def test_get_bucket_location() -> None:
    model = service_model("s3")
    operation = model.operation_model("GetBucketLocation")
    protocol = get_protocol("rest-xml")
    response = protocol.serialize(
        operation, {"LocationConstraint": "eu-west-1"}, HttpRequest("GET", "/b"), "R"
    )
    assert response.body.endswith(
        b'<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">eu-west-1</LocationConstraint>'
    )
    empty = protocol.serialize(operation, {}, HttpRequest("GET", "/b"), "R")
    assert empty.body.endswith(
        b'<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></LocationConstraint>'
    )


def test_headers_timestamps_and_status() -> None:
    model = service_model("s3")
    operation = model.operation_model("HeadObject")
    output = {
        "ContentLength": 5,
        "LastModified": "2026-03-04T05:06:07Z",
        "Metadata": {"colour": "blue"},
        "DeleteMarker": True,
    }
    response = get_protocol("rest-xml").serialize(operation, output, HttpRequest("HEAD", "/b/k"), "R")
    assert response.status == 200
    assert response.body == b""
    assert response.header("Last-Modified") == "Wed, 04 Mar 2026 05:06:07 GMT"
    assert response.header("x-amz-meta-colour") == "blue"
    assert response.header("x-amz-delete-marker") == "true"
    assert response.header("x-amz-request-id") == "R"


def test_no_content_operations_have_an_empty_body() -> None:
    model = service_model("s3")
    operation = model.operation_model("DeleteObject")
    response = get_protocol("rest-xml").serialize(
        operation, {"VersionId": "v"}, HttpRequest("DELETE", "/b/k"), "R"
    )
    assert (response.status, response.body, response.header("x-amz-version-id")) == (204, b"", "v")
    put = model.operation_model("PutObject")
    response = get_protocol("rest-xml").serialize(put, {"ETag": '"abc"'}, HttpRequest("PUT", "/b/k"), "R")
    assert (response.status, response.body, response.header("ETag")) == (200, b"", '"abc"')


def test_streaming_body_is_passed_through() -> None:
    model = service_model("s3")
    operation = model.operation_model("GetObject")

    async def chunks():  # pragma: no cover - never iterated here
        yield b"x"

    stream = chunks()
    response = get_protocol("rest-xml").serialize(
        operation, {"Body": stream}, HttpRequest("GET", "/b/k"), "R"
    )
    assert response.body is stream


def test_header_list_splitting() -> None:
    shape = service_model("s3").operation_model("GetObjectAttributes").input_shape.members["ObjectAttributes"]
    assert split_header_list('ETag, "a,b", "say \\"hi\\""', shape.member) == ["ETag", "a,b", 'say "hi"']


def test_header_timestamp_formats_are_all_accepted() -> None:
    model = service_model("s3")
    operation = model.operation_model("GetObject")
    for text in ("Wed, 04 Mar 2026 05:06:07 GMT", "2026-03-04T05:06:07Z", "1772600767"):
        request = HttpRequest("GET", "/b/k", headers={"if-modified-since": text})
        parsed = get_protocol("rest-xml").parse(operation, request)
        assert parsed["IfModifiedSince"].isoformat() == "2026-03-04T05:06:07+00:00"


# ---------------------------------------------------------------------------------------------
# Bad input: always a 4xx AwsError, never an exception
# ---------------------------------------------------------------------------------------------

_BAD_BODIES = {
    "not-xml": b"this is not xml",
    "unclosed": b"<Tagging><TagSet><Tag><Key>a</Key>",
    "invalid-utf8": b"<Tagging><TagSet><Tag><Key>\xff\xfe</Key><Value>v</Value></Tag></TagSet></Tagging>",
    "billion-laughs": b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><Tagging>&b;</Tagging>',
    "external-entity": b'<!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]><Tagging>&x;</Tagging>',
}


@pytest.mark.parametrize(
    ("service", "name", "path", "code"),
    [
        ("s3", "PutBucketTagging", "/b", "MalformedXML"),
        ("route53", "CreateHostedZone", "/2013-04-01/hostedzone", "InvalidInput"),
        ("cloudfront", "CreateDistribution", "/2020-05-31/distribution", "MalformedInput"),
    ],
)
@pytest.mark.parametrize("body", list(_BAD_BODIES), ids=list(_BAD_BODIES))
def test_malformed_xml_is_a_400(service: str, name: str, path: str, code: str, body: str) -> None:
    model = service_model(service)
    operation = model.operation_model(name)
    request = HttpRequest(
        operation.http["method"], path, "tagging" if service == "s3" else "", {}, _BAD_BODIES[body]
    )
    with pytest.raises(AwsError) as caught:
        get_protocol("rest-xml").parse(operation, request)
    assert (caught.value.code, caught.value.status) == (code, 400)


@pytest.mark.parametrize(
    ("service", "name", "path", "query", "body", "code"),
    [
        (
            "route53",
            "CreateHostedZone",
            "/2013-04-01/hostedzone",
            "",
            b"<CreateHostedZoneRequest><HostedZoneConfig><PrivateZone>maybe</PrivateZone>"
            b"</HostedZoneConfig></CreateHostedZoneRequest>",
            "InvalidInput",
        ),
        (
            "s3",
            "PutObjectRetention",
            "/b/k",
            "retention",
            b"<Retention><RetainUntilDate>next week</RetainUntilDate></Retention>",
            "MalformedXML",
        ),
        ("s3", "PutBucketAcl", "/b", "acl", b"<AccessControlPolicy><Grants><Grant><Grantee>", "MalformedXML"),
    ],
)
def test_bad_value_in_the_body_is_a_400(
    service: str, name: str, path: str, query: str, body: bytes, code: str
) -> None:
    operation = service_model(service).operation_model(name)
    request = HttpRequest(operation.http["method"], path, query, {}, body)
    with pytest.raises(AwsError) as caught:
        get_protocol("rest-xml").parse(operation, request)
    assert (caught.value.code, caught.value.status) == (code, 400)


def test_unknown_elements_are_ignored() -> None:
    model = service_model("s3")
    operation = model.operation_model("PutBucketVersioning")
    body = (
        b"<VersioningConfiguration><Status>Enabled</Status><Surprise>1</Surprise></VersioningConfiguration>"
    )
    parsed = get_protocol("rest-xml").parse(operation, HttpRequest("PUT", "/b", "versioning", {}, body))
    assert parsed == {"Bucket": "b", "VersioningConfiguration": {"Status": "Enabled"}}


def test_invalid_utf8_in_path_and_query() -> None:
    model = service_model("s3")
    protocol = get_protocol("rest-xml")
    with pytest.raises(AwsError) as caught:
        protocol.parse(model.operation_model("GetObject"), HttpRequest("GET", "/b/%FF%FE"))
    assert (caught.value.code, caught.value.status) == ("InvalidURI", 400)
    with pytest.raises(AwsError) as caught:
        protocol.find_operation(model, HttpRequest("GET", "/b", "prefix=%FF"))
    assert caught.value.status == 400


def test_bad_scalar_outside_the_body_is_a_400() -> None:
    model = service_model("s3")
    operation = model.operation_model("ListObjectsV2")
    with pytest.raises(AwsError) as caught:
        get_protocol("rest-xml").parse(operation, HttpRequest("GET", "/b", "list-type=2&max-keys=lots"))
    assert (caught.value.code, caught.value.status) == ("InvalidArgument", 400)


@pytest.mark.parametrize(
    ("method", "path", "query", "resource"),
    [("POST", "/b/k", "", "OBJECT"), ("PATCH", "/b", "", "BUCKET"), ("DELETE", "/", "", "SERVICE")],
)
def test_s3_unroutable_is_method_not_allowed(method: str, path: str, query: str, resource: str) -> None:
    model = service_model("s3")
    with pytest.raises(AwsError) as caught:
        get_protocol("rest-xml").find_operation(model, HttpRequest(method, path, query))
    assert (caught.value.code, caught.value.status) == ("MethodNotAllowed", 405)
    assert caught.value.fields == {"Method": method, "ResourceType": resource}


@pytest.mark.parametrize(
    ("service", "method", "path", "status"),
    [
        ("route53", "GET", "/2013-04-01/nothing-here", 404),
        ("cloudfront", "GET", "/1999-01-01/distribution", 404),
        ("route53", "PATCH", "/2013-04-01/hostedzone", 404),
    ],
)
def test_unknown_route_elsewhere(service: str, method: str, path: str, status: int) -> None:
    with pytest.raises(AwsError) as caught:
        get_protocol("rest-xml").find_operation(service_model(service), HttpRequest(method, path))
    assert (caught.value.code, caught.value.status) == ("UnknownOperationException", status)


# ---------------------------------------------------------------------------------------------
# Through a real botocore client (its S3 customizations, checksums and error factory included)
# ---------------------------------------------------------------------------------------------


def test_s3_through_a_real_client() -> None:
    seen: dict[str, dict[str, Any]] = {}

    def record(name: str, output: dict[str, Any]) -> Any:
        def handler(params: dict[str, Any]) -> dict[str, Any]:
            seen[name] = params
            return output

        return handler

    def no_such_key(params: dict[str, Any]) -> dict[str, Any]:
        raise AwsError("NoSuchKey", "The specified key does not exist.", fields={"Key": params["Key"]})

    object_output = {"Body": b"hello", "ContentLength": 5, "Metadata": {"colour": "Blue"}}
    client = fake_client(
        "s3",
        {
            "CreateBucket": record("CreateBucket", {"Location": "/my-bucket"}),
            "PutObject": record("PutObject", {"ETag": '"5d41402abc4b2a76b9719d911017c592"'}),
            "GetObject": lambda params: no_such_key(params) if params["Key"] == "missing" else object_output,
            "ListObjectsV2": record(
                "ListObjectsV2",
                {
                    "Name": "my-bucket",
                    "KeyCount": 1,
                    "Contents": [{"Key": "a b/c", "Size": 5}],
                    "IsTruncated": False,
                },
            ),
            "GetBucketLocation": record("GetBucketLocation", {"LocationConstraint": "eu-west-1"}),
            "HeadObject": no_such_key,
            "DeleteObjects": record("DeleteObjects", {"Deleted": [{"Key": "a"}, {"Key": "b"}]}),
        },
    )
    location = client.create_bucket(
        Bucket="my-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )["Location"]
    assert location == "/my-bucket"
    assert seen["CreateBucket"]["CreateBucketConfiguration"] == {"LocationConstraint": "eu-west-1"}

    put = client.put_object(Bucket="my-bucket", Key="a b/c", Body=b"hello", Metadata={"Colour": "Blue"})
    assert put["ETag"] == '"5d41402abc4b2a76b9719d911017c592"'
    assert put["ResponseMetadata"]["RequestId"] == REQUEST_ID
    assert (seen["PutObject"]["Key"], seen["PutObject"]["Body"]) == ("a b/c", b"hello")
    assert seen["PutObject"]["Metadata"] == {"colour": "Blue"}

    got = client.get_object(Bucket="my-bucket", Key="a b/c")
    assert (got["Body"].read(), got["Metadata"], got["ContentLength"]) == (b"hello", {"colour": "Blue"}, 5)

    listed = client.list_objects_v2(Bucket="my-bucket", Prefix="a ")
    assert [item["Key"] for item in listed["Contents"]] == ["a b/c"]
    assert seen["ListObjectsV2"]["Prefix"] == "a "

    assert client.get_bucket_location(Bucket="my-bucket")["LocationConstraint"] == "eu-west-1"

    with pytest.raises(ClientError) as caught:
        client.head_object(Bucket="my-bucket", Key="missing")
    assert caught.value.response["Error"]["Code"] == "404"
    with pytest.raises(client.exceptions.NoSuchKey) as missing:
        client.get_object(Bucket="my-bucket", Key="missing")
    assert missing.value.response["Error"]["Key"] == "missing"
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404

    deleted = client.delete_objects(Bucket="my-bucket", Delete={"Objects": [{"Key": "a"}, {"Key": "b"}]})
    assert [item["Key"] for item in deleted["Deleted"]] == ["a", "b"]
    assert seen["DeleteObjects"]["Delete"] == {"Objects": [{"Key": "a"}, {"Key": "b"}]}


def test_route53_through_a_real_client() -> None:
    def create(params: dict[str, Any]) -> dict[str, Any]:
        assert params["Name"] == "example.com."
        return {
            "HostedZone": {
                "Id": "/hostedzone/Z1",
                "Name": "example.com.",
                "CallerReference": params["CallerReference"],
            },
            "ChangeInfo": {"Id": "/change/C1", "Status": "PENDING", "SubmittedAt": "2026-01-01T00:00:00Z"},
            "DelegationSet": {"NameServers": ["ns-1.example.", "ns-2.example."]},
            "Location": "https://route53.amazonaws.com/2013-04-01/hostedzone/Z1",
        }

    def missing(params: dict[str, Any]) -> dict[str, Any]:
        raise AwsError("NoSuchHostedZone", f"No hosted zone found with ID: {params['Id']}")

    client = fake_client("route53", {"CreateHostedZone": create, "GetHostedZone": missing})
    created = client.create_hosted_zone(Name="example.com.", CallerReference="ref-1")
    assert created["HostedZone"]["Id"] == "/hostedzone/Z1"
    assert created["DelegationSet"]["NameServers"] == ["ns-1.example.", "ns-2.example."]
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    with pytest.raises(client.exceptions.NoSuchHostedZone) as caught:
        client.get_hosted_zone(Id="Z404")
    assert caught.value.response["Error"]["Message"] == "No hosted zone found with ID: Z404"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
