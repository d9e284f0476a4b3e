"""The gateway's contract with every client: auth errors, 501s, malformed input, protocol choice."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError


def _raw(
    box,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    sign: str | None = None,
):
    """Send a raw request (optionally SigV4-signed for scope `sign`); return (status, headers, body)."""
    request = AWSRequest(method=method, url=box.endpoint + path, data=body, headers=headers or {})
    if sign:
        SigV4Auth(Credentials("test", "test"), sign, "us-east-1").add_auth(request)
    prepared = urllib.request.Request(
        box.endpoint + path, data=body or None, headers=dict(request.headers.items()), method=method
    )
    try:
        with urllib.request.urlopen(prepared, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_wrong_secret_is_signature_does_not_match(onebox) -> None:
    sts = onebox.client("sts", aws_secret_access_key="wrong")
    with pytest.raises(ClientError) as error:
        sts.get_caller_identity()
    assert error.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


@pytest.mark.parametrize(
    ("service", "call", "code", "status"),
    [
        ("sts", "get_caller_identity", "InvalidClientTokenId", 403),
        ("logs", "describe_log_groups", "UnrecognizedClientException", 400),
        # EC2 really answers AuthFailure with 401 (docs/sigv4.md).
        ("ec2", "describe_regions", "AuthFailure", 401),
    ],
)
def test_unknown_access_key_is_refused_in_the_service_terms(onebox, service, call, code, status) -> None:
    client = onebox.client(service, aws_access_key_id="AKIAUNKNOWN000000000")
    with pytest.raises(ClientError) as error:
        getattr(client, call)()
    assert error.value.response["Error"]["Code"] == code
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


def test_unsigned_api_call_is_refused(onebox) -> None:
    status, _, body = _raw(
        onebox,
        "POST",
        "/",
        b"Action=GetCallerIdentity&Version=2011-06-15",
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 403
    assert b"MissingAuthenticationToken" in body


def test_unimplemented_operation_is_501_naming_it(onebox) -> None:
    with pytest.raises(ClientError) as error:
        onebox.client("ec2").describe_vpn_gateways()
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert "DescribeVpnGateways" in error.value.response["Error"]["Message"]


def call_in_protocol(box, service: str, operation: str, params: dict, protocol: str) -> tuple[int, dict]:
    """One call serialized by botocore in a chosen protocol, signed, sent, and parsed by botocore."""
    from botocore import parsers, serialize
    from botocore.session import get_session

    model = get_session().get_service_model(service)
    op = model.operation_model(operation)
    serialized = serialize.create_serializer(protocol).serialize_to_request(params, op)
    query = (
        "?" + "&".join(f"{k}={v}" for k, v in serialized["query_string"].items())
        if serialized["query_string"]
        else ""
    )
    headers = dict(serialized["headers"])
    if protocol == "query":
        headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
    body = serialized["body"]
    if isinstance(body, dict):
        from urllib.parse import urlencode

        body = urlencode(body)
    body = body.encode() if isinstance(body, str) else body
    status, response_headers, response_body = _raw(
        box, serialized["method"], serialized["url_path"] + query, body, headers, sign=model.signing_name
    )
    lowered = {k.lower(): v for k, v in response_headers.items()}
    parsed = parsers.create_parser(protocol).parse(
        {"status_code": status, "headers": lowered, "body": response_body}, op.output_shape
    )
    return status, parsed


@pytest.mark.parametrize("protocol", ["smithy-rpc-v2-cbor", "json", "query"])
def test_cloudwatch_answers_in_the_protocol_it_was_asked_in(onebox, protocol: str) -> None:
    status, parsed = call_in_protocol(onebox, "cloudwatch", "ListDashboards", {}, protocol)
    assert status == 501
    assert "ListDashboards" in parsed["Error"]["Message"]
    assert parsed["ResponseMetadata"]["RequestId"]


@pytest.mark.parametrize(
    ("content_type", "body", "target"),
    [
        ("application/x-amz-json-1.1", b"{not json", "Logs_20140328.DescribeLogGroups"),
        ("application/x-amz-json-1.1", b"\xff\xfe\xfa", "Logs_20140328.DescribeLogGroups"),
        ("application/x-amz-json-1.1", b'{"limit": "many"}', "Logs_20140328.DescribeLogGroups"),
        (
            "application/x-www-form-urlencoded",
            b"Action=DescribeKeyPairs&Version=2016-11-15&KeyName.1=\xff",
            None,
        ),
    ],
)
def test_malformed_input_is_a_4xx_and_the_daemon_keeps_serving(onebox, content_type, body, target) -> None:
    headers = {"Content-Type": content_type}
    scope = "ec2"
    if target:
        headers["X-Amz-Target"] = target
        scope = "logs"
    status, _, _ = _raw(onebox, "POST", "/", body, headers, sign=scope)
    assert 400 <= status < 500
    assert onebox.client("sts").get_caller_identity()["Account"] == "000000000000"


def test_oversized_api_body_is_413(onebox) -> None:
    big = b"Action=GetCallerIdentity&Version=2011-06-15&Pad=" + b"x" * (17 * 1024 * 1024)
    status, _, _ = _raw(onebox, "POST", "/", big, {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 413
    assert onebox.client("sts").get_caller_identity()["Account"] == "000000000000"


def test_validation_error_uses_the_service_code(onebox) -> None:
    with pytest.raises(ClientError) as error:
        onebox.client("ec2").create_key_pair(KeyName="k", KeyType="dsa")  # not in the KeyType enum
    assert error.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_request_id_headers(onebox) -> None:
    response = onebox.client("sts").get_caller_identity()
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert headers.get("x-amzn-requestid") == response["ResponseMetadata"]["RequestId"]


def test_health_is_json(onebox) -> None:
    status, _, body = _raw(onebox, "GET", "/_onebox/health")
    assert status == 200 and json.loads(body)["status"] == "ok"
