"""Routing: every served service's requests, as botocore signs them, reach that service and protocol."""

from __future__ import annotations

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.serialize import create_serializer

from onebox.aws import specs
from onebox.aws.errors import AwsError
from onebox.aws.http import HttpRequest
from onebox.aws.routing import route_request
from tests.shapegen import generate


def _request(service: str, protocol: str, signed: bool = True) -> HttpRequest:
    model = specs.service_model(service)
    operation = model.operation_model(model.operation_names[0])
    params = generate(operation.input_shape, all_members=False) if operation.input_shape else {}
    serialized = create_serializer(protocol).serialize_to_request(params, operation)
    body = serialized["body"]
    if isinstance(body, dict):
        from urllib.parse import urlencode

        body = urlencode(body)
        serialized["headers"]["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
    body = body.encode() if isinstance(body, str) else (body or b"")
    aws_request = AWSRequest(
        method=serialized["method"],
        url="http://localhost:4566" + serialized["url_path"],
        data=body,
        headers=serialized["headers"],
    )
    if signed:
        SigV4Auth(Credentials("test", "test"), specs.signing_name(model), "us-east-1").add_auth(aws_request)
    return HttpRequest(
        method=serialized["method"],
        path=serialized["url_path"].split("?")[0],
        headers={k.lower(): v for k, v in aws_request.headers.items()} | {"host": "localhost:4566"},
        body=body,
    )


CASES = [
    (service, protocol)
    for service in specs.SERVED_SERVICES
    for protocol in specs.protocols_of(specs.service_model(service))
]


@pytest.mark.parametrize(("service", "protocol"), CASES)
def test_signed_requests_route_to_their_service_and_protocol(service: str, protocol: str) -> None:
    route = route_request(_request(service, protocol))
    assert (route.service, route.protocol) == (service, protocol)


@pytest.mark.parametrize(("service", "protocol"), [c for c in CASES if c[1] in ("query", "ec2", "json")])
def test_unsigned_rpc_requests_route_by_action_or_target(service: str, protocol: str) -> None:
    route = route_request(_request(service, protocol, signed=False))
    assert route.service == service


def test_virtual_hosted_s3_is_rewritten_to_path_style() -> None:
    request = HttpRequest("GET", "/photos/cat.jpg", headers={"host": "my-bucket.s3.localhost:4566"})
    route = route_request(request)
    assert (route.service, route.virtual_bucket, request.path) == (
        "s3",
        "my-bucket",
        "/my-bucket/photos/cat.jpg",
    )


def test_unknown_signing_scope_is_refused() -> None:
    request = HttpRequest(
        "POST",
        "/",
        headers={
            "authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/kinesis/aws4_request, "
            "SignedHeaders=host, Signature=00"
        },
    )
    with pytest.raises(AwsError):
        route_request(request)
