"""SigV4 verification against requests signed by botocore's own signers, and AWS's published vectors.

Requests are signed at a fixed time (botocore's clock is pinned) and verified with a fixed `now`,
so skew and expiry are exact. `capture` prepares a real boto3 call and stops it at `before-send`,
which is exactly what would go on the wire.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.auth
import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSPreparedRequest, AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from onebox.aws.credentials import DEFAULT_ACCOUNT_ID, Credential, CredentialStore
from onebox.aws.errors import AwsError
from onebox.aws.http import HttpRequest
from onebox.aws.sigv4 import (
    PAYLOAD_HASHED,
    PAYLOAD_STREAMING_SIGNED,
    PAYLOAD_STREAMING_UNSIGNED_TRAILER,
    PAYLOAD_UNSIGNED,
    AuthContext,
    canonical_query_string,
    missing_authentication_error,
    signing_key,
    verify_request,
)

SIGNED_AT = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
ENDPOINT = "http://localhost:4566"
OTHER = Credential("AKIAOTHER0000000001", "other-secret", "111122223333")
STORE = CredentialStore([Credential("test", "test"), OTHER])


@pytest.fixture(autouse=True)
def frozen_signing_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """botocore signs at SIGNED_AT, so verification times below are exact."""
    monkeypatch.setattr(
        botocore.auth, "get_current_datetime", lambda remove_tzinfo=True: SIGNED_AT.replace(tzinfo=None)
    )
    yield


class _Captured(Exception):
    def __init__(self, request: AWSPreparedRequest) -> None:
        super().__init__("captured")
        self.request = request


@cache
def _client(
    service: str, endpoint: str, region: str, access_key: str, secret_key: str, signature_version: str | None
) -> Any:
    session = boto3.session.Session(
        aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=region
    )
    config = Config(
        retries={"max_attempts": 0}, s3={"addressing_style": "path"}, signature_version=signature_version
    )
    client = session.client(service, endpoint_url=endpoint, config=config, verify=False)

    def stop(request: AWSPreparedRequest, **_: Any) -> None:
        raise _Captured(request)

    client.meta.events.register("before-send", stop)
    return client


def client(
    service: str,
    *,
    endpoint: str = ENDPOINT,
    region: str = "us-east-1",
    access_key: str = "test",
    secret_key: str = "test",
    signature_version: str | None = None,
) -> Any:
    return _client(service, endpoint, region, access_key, secret_key, signature_version)


def capture(
    service: str, operation: str, params: dict[str, Any] | None = None, **options: Any
) -> HttpRequest:
    """The request boto3 would send for `operation`, as the gateway would receive it."""
    with pytest.raises(_Captured) as caught:
        getattr(client(service, **options), operation)(**(params or {}))
    return to_http(caught.value.request)


def to_http(prepared: AWSPreparedRequest | AWSRequest) -> HttpRequest:
    if isinstance(prepared, AWSRequest):
        prepared = prepared.prepare()
    parts = urlsplit(prepared.url)
    headers: dict[str, str] = {}
    for name, value in prepared.headers.items():
        text = value.decode() if isinstance(value, bytes) else value
        key = name.lower()
        headers[key] = f"{headers[key]},{text}" if key in headers else text
    # urllib3 sends Host from the URL when botocore has not set it.
    headers.setdefault("host", parts.netloc)
    body: Any = prepared.body
    if body is None:
        body = b""
    elif hasattr(body, "read"):
        body = body.read()
    elif isinstance(body, str):
        body = body.encode()
    return HttpRequest(prepared.method, parts.path or "/", parts.query, headers, bytes(body))


def verify(request: HttpRequest, service: str, now: datetime = SIGNED_AT) -> AuthContext | None:
    return verify_request(request, STORE, now, service)


def failure(request: HttpRequest, service: str, now: datetime = SIGNED_AT) -> AwsError:
    with pytest.raises(AwsError) as caught:
        verify(request, service, now)
    return caught.value


def signed(
    method: str,
    url: str,
    service: str,
    *,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    signer: type = SigV4Auth,
    region: str = "us-east-1",
    secret: str = "test",
    access_key: str = "test",
    **signer_options: Any,
) -> HttpRequest:
    """An AWSRequest signed with one of botocore's signer classes directly."""
    request = AWSRequest(method, url, data=body, headers=headers or {})
    signer(Credentials(access_key, secret), service, region, **signer_options).add_auth(request)
    return to_http(request)


# --- botocore's own requests verify ------------------------------------------------------------

BOTO3_CALLS = [
    ("sts", "get_caller_identity", {}),
    ("sts", "assume_role", {"RoleArn": "arn:aws:iam::000000000000:role/r", "RoleSessionName": "s é+/="}),
    ("ec2", "describe_instances", {"Filters": [{"Name": "tag:Name", "Values": ["a b", "c+d", "ü~"]}]}),
    ("elbv2", "describe_load_balancers", {"Names": ["web"]}),
    ("autoscaling", "describe_auto_scaling_groups", {}),
    (
        "cloudwatch",
        "put_metric_data",
        {"Namespace": "App", "MetricData": [{"MetricName": "m", "Value": 1.5}]},
    ),
    ("logs", "create_log_group", {"logGroupName": "/app/é x"}),
    ("acm", "list_certificates", {}),
    ("sns", "publish", {"TopicArn": "arn:aws:sns:us-east-1:000000000000:t", "Message": "héllo  world\n"}),
    ("rds", "describe_db_instances", {}),
    ("elasticache", "describe_cache_clusters", {}),
    ("route53", "list_resource_record_sets", {"HostedZoneId": "Z1", "StartRecordName": "a b.example.com."}),
    ("route53", "get_hosted_zone", {"Id": "/hostedzone/Z1"}),
    ("cloudfront", "get_distribution", {"Id": "E123"}),
    ("s3", "list_buckets", {}),
    ("s3", "list_objects_v2", {"Bucket": "b", "Prefix": "a b+c/~é", "Delimiter": "/"}),
    ("s3", "get_object", {"Bucket": "b", "Key": "k", "Range": "bytes=0-9"}),
    ("s3", "put_bucket_tagging", {"Bucket": "b", "Tagging": {"TagSet": [{"Key": "k", "Value": "v"}]}}),
]


@pytest.mark.parametrize(
    ("service", "operation", "params"), BOTO3_CALLS, ids=lambda v: v if isinstance(v, str) else ""
)
def test_boto3_requests_verify(service: str, operation: str, params: dict[str, Any]) -> None:
    auth = verify(capture(service, operation, params), service)
    assert auth is not None
    assert (auth.access_key, auth.account_id, auth.region) == ("test", DEFAULT_ACCOUNT_ID, "us-east-1")
    assert auth.amz_date == "20260304T050607Z"


S3_KEYS = [
    "plain.txt",
    "with space.txt",
    "plus+sign",
    "tilde~and-dash_dot.",
    "unicode/é漢字🙂",
    "double//slash",
    "trailing/",
    "dots/../and/./x",
    "percent%20literal",
    "question?mark&amp=x#hash",
    "colon:semi;comma,at@dollar$",
    "!'()*[]",
]


@pytest.mark.parametrize("key", S3_KEYS)
def test_s3_put_object_with_special_keys(key: str) -> None:
    request = capture("s3", "put_object", {"Bucket": "bucket", "Key": key, "Body": b"payload"})
    auth = verify(request, "s3")
    assert auth is not None and auth.payload_mode == PAYLOAD_HASHED


def test_s3_virtual_host_addressing_signs_the_host() -> None:
    request = signed("PUT", "http://bucket.localhost:4566/key%20x", "s3", body=b"x", signer=S3SigV4Auth)
    assert request.headers["host"] == "bucket.localhost:4566"
    assert verify(request, "s3") is not None


def test_non_s3_path_is_normalized_and_double_encoded() -> None:
    # botocore's SigV4Auth removes dot segments and empty segments, then percent-encodes again.
    request = signed("GET", "http://localhost:4566/2013-04-01/a%20b//./c/../d", "route53")
    assert verify(request, "route53") is not None


def test_query_with_repeated_keys_and_blank_values() -> None:
    request = signed("GET", "http://localhost:4566/?b=2&a=&b=1&c", "sts")
    assert request.query_string == "b=2&a=&b=1&c"
    assert verify(request, "sts") is not None


def test_canonical_query_string_sorts_and_encodes() -> None:
    assert (
        canonical_query_string("b=2&a=x%2Fy&a=%7E&c=a+b&d=%e2%82%ac") == "a=x%2Fy&a=~&b=2&c=a%20b&d=%E2%82%AC"
    )
    assert canonical_query_string("X-Amz-Signature=abc&z=1", drop_signature=True) == "z=1"


def test_header_whitespace_is_folded() -> None:
    request = signed(
        "PUT",
        "http://localhost:4566/b/k",
        "s3",
        signer=S3SigV4Auth,
        headers={"X-Amz-Meta-Note": "  several   spaces\tand tab  "},
    )
    # A proxy that re-folds the value still verifies: the canonical form is the same.
    request.headers["x-amz-meta-note"] = "several spaces and tab"
    assert verify(request, "s3") is not None


def test_repeated_header_joined_by_the_gateway() -> None:
    aws_request = AWSRequest("GET", "http://localhost:4566/b/k")
    aws_request.headers["X-Amz-Meta-Multi"] = "one"
    aws_request.headers["X-Amz-Meta-Multi"] = "  two  "  # email.message appends a second header
    S3SigV4Auth(Credentials("test", "test"), "s3", "us-east-1").add_auth(aws_request)
    request = to_http(aws_request)
    # botocore signs "one,two"; a server joining raw values sees "one,  two  ".
    request.headers["x-amz-meta-multi"] = "one,  two  "
    assert verify(request, "s3") is not None


def test_date_header_instead_of_x_amz_date() -> None:
    aws_request = AWSRequest("GET", "http://localhost:4566/", params={"Action": "GetCallerIdentity"})
    aws_request.headers["Date"] = "placeholder"  # botocore then signs with Date, not X-Amz-Date
    SigV4Auth(Credentials("test", "test"), "sts", "us-east-1").add_auth(aws_request)
    request = to_http(aws_request)
    assert "x-amz-date" not in request.headers
    auth = verify(request, "sts")
    assert auth is not None and auth.amz_date == "20260304T050607Z"


def test_security_token_is_signed_and_ignored() -> None:
    request = AWSRequest(
        "POST", "http://localhost:4566/", data=b"Action=GetCallerIdentity&Version=2011-06-15"
    )
    SigV4Auth(Credentials("test", "test", "session+token/="), "sts", "us-east-1").add_auth(request)
    auth = verify(to_http(request), "sts")
    assert auth is not None and auth.security_token == "session+token/="


def test_account_and_region_come_from_the_key_and_scope() -> None:
    request = capture(
        "sts",
        "get_caller_identity",
        region="eu-west-1",
        access_key=OTHER.access_key,
        secret_key=OTHER.secret_key,
    )
    auth = verify(request, "sts")
    assert auth is not None
    assert (auth.account_id, auth.region, auth.signing_service) == ("111122223333", "eu-west-1", "sts")
    assert auth.scope == "20260304/eu-west-1/sts/aws4_request"


def test_cloudwatch_signs_as_monitoring() -> None:
    auth = verify(capture("cloudwatch", "list_metrics", {}), "cloudwatch")
    assert auth is not None and auth.signing_service == "monitoring"


def test_payload_modes() -> None:
    # SigV4Auth signs whatever x-amz-content-sha256 the caller set, as S3 clients do for these modes.
    for value, mode in [
        ("UNSIGNED-PAYLOAD", PAYLOAD_UNSIGNED),
        ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", PAYLOAD_STREAMING_SIGNED),
    ]:
        request = signed(
            "PUT", "http://localhost:4566/b/k", "s3", body=b"x", headers={"X-Amz-Content-SHA256": value}
        )
        auth = verify(request, "s3")
        assert auth is not None and auth.payload_mode == mode


def test_boto3_https_upload_uses_an_unsigned_trailer() -> None:
    request = capture(
        "s3", "put_object", {"Bucket": "b", "Key": "k", "Body": b"data"}, endpoint="https://localhost:4566"
    )
    assert request.headers["x-amz-content-sha256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    assert verify(request, "s3").payload_mode == PAYLOAD_STREAMING_UNSIGNED_TRAILER  # type: ignore[union-attr]


def test_anonymous_request() -> None:
    assert verify(HttpRequest("GET", "/bucket/key", "versionId=1", {"host": "localhost"}), "s3") is None
    assert (
        verify(HttpRequest("POST", "/", "", {"host": "localhost"}, b"Action=GetCallerIdentity"), "sts")
        is None
    )


def test_signing_keys_are_cached() -> None:
    first = signing_key("secret", "20260304", "us-east-1", "s3")
    assert signing_key("secret", "20260304", "us-east-1", "s3") is first
    k = hmac.digest(b"AWS4secret", b"20260304", "sha256")
    for part in (b"us-east-1", b"s3", b"aws4_request"):
        k = hmac.digest(k, part, "sha256")
    assert first == k


def test_missing_authentication_errors() -> None:
    assert missing_authentication_error("sts").code == "MissingAuthenticationToken"
    assert missing_authentication_error("s3").code == "AccessDenied"


# --- AWS's published examples ------------------------------------------------------------------

EXAMPLE = CredentialStore(
    [
        Credential("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "111122223333"),
        Credential("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
    ]
)
EXAMPLE_NOW = datetime(2013, 5, 24, 0, 1, tzinfo=UTC)


def test_aws_example_s3_get_object() -> None:
    # docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html, "GET Object".
    headers = {
        "host": "examplebucket.s3.amazonaws.com",
        "range": "bytes=0-9",
        "x-amz-content-sha256": hashlib.sha256(b"").hexdigest(),
        "x-amz-date": "20130524T000000Z",
        "authorization": "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    }
    auth = verify_request(HttpRequest("GET", "/test.txt", "", headers), EXAMPLE, EXAMPLE_NOW, "s3")
    assert auth is not None and auth.account_id == "111122223333"


def test_aws_example_s3_put_object_with_date_header() -> None:
    # Same page, "PUT Object": a '$' in the key, and a Date header signed beside x-amz-date.
    headers = {
        "host": "examplebucket.s3.amazonaws.com",
        "date": "Fri, 24 May 2013 00:00:00 GMT",
        "x-amz-storage-class": "REDUCED_REDUNDANCY",
        "x-amz-content-sha256": hashlib.sha256(b"Welcome to Amazon S3.").hexdigest(),
        "x-amz-date": "20130524T000000Z",
        "authorization": "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
        "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,"
        "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
    }
    request = HttpRequest("PUT", "/test%24file.text", "", headers, b"Welcome to Amazon S3.")
    assert verify_request(request, EXAMPLE, EXAMPLE_NOW, "s3") is not None


def test_aws_example_s3_presigned_url() -> None:
    # docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
    query = (
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3"
        "%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
        "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    )
    request = HttpRequest("GET", "/test.txt", query, {"host": "examplebucket.s3.amazonaws.com"})
    auth = verify_request(request, EXAMPLE, EXAMPLE_NOW, "s3")
    assert auth is not None and auth.presigned and auth.payload_mode == PAYLOAD_UNSIGNED


def test_aws_example_iam_list_users() -> None:
    # docs.aws.amazon.com/general/latest/gr/sigv4-signed-request-examples.html (GET, query string)
    headers = {
        "host": "iam.amazonaws.com",
        "content-type": "application/x-www-form-urlencoded; charset=utf-8",
        "x-amz-date": "20150830T123600Z",
        "authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date, "
        "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
    }
    request = HttpRequest("GET", "/", "Action=ListUsers&Version=2010-05-08", headers)
    assert verify_request(request, EXAMPLE, datetime(2015, 8, 30, 12, 40, tzinfo=UTC), "iam") is not None


# --- presigned URLs ----------------------------------------------------------------------------


def presigned_url(
    service: str, operation: str, params: dict[str, Any], expires: int = 3600, **options: Any
) -> HttpRequest:
    if service == "s3":
        options.setdefault("signature_version", "s3v4")
    # GET, as `aws eks get-token` presigns STS; without it botocore signs the operation's own method.
    url = client(service, **options).generate_presigned_url(
        operation, Params=params, ExpiresIn=expires, HttpMethod="GET"
    )
    parts = urlsplit(url)
    return HttpRequest("GET", parts.path, parts.query, {"host": parts.netloc})


@pytest.mark.parametrize("key", ["plain", "with space", "plus+sign", "unicode/é漢字", "double//slash"])
def test_s3_presigned_get(key: str) -> None:
    request = presigned_url("s3", "get_object", {"Bucket": "b", "Key": key})
    auth = verify(request, "s3", SIGNED_AT + timedelta(minutes=59))
    assert auth is not None and auth.presigned and auth.payload_mode == PAYLOAD_UNSIGNED


def test_s3_presigned_put_with_signed_header() -> None:
    url = client("s3", signature_version="s3v4").generate_presigned_url(
        "put_object", Params={"Bucket": "b", "Key": "k", "ContentType": "text/plain"}, ExpiresIn=60
    )
    parts = urlsplit(url)
    request = HttpRequest(
        "PUT", parts.path, parts.query, {"host": parts.netloc, "content-type": "text/plain"}, b"x"
    )
    assert verify(request, "s3") is not None
    request.headers["content-type"] = "image/png"
    assert failure(request, "s3").code == "SignatureDoesNotMatch"


def test_sigv4_query_auth_signers() -> None:
    s3 = signed("GET", "http://localhost:4566/b/a%20b", "s3", signer=S3SigV4QueryAuth, expires=604800)
    assert verify(s3, "s3", SIGNED_AT + timedelta(days=6)) is not None
    sts = signed(
        "GET",
        "http://localhost:4566/?Action=GetCallerIdentity&Version=2011-06-15",
        "sts",
        signer=SigV4QueryAuth,
    )
    assert verify(sts, "sts") is not None


def test_non_s3_presigned_url_from_boto3() -> None:
    request = presigned_url("sts", "get_caller_identity", {}, expires=900)
    auth = verify(request, "sts", SIGNED_AT + timedelta(minutes=10))
    assert auth is not None and auth.presigned


def test_s3_presigned_expired() -> None:
    request = presigned_url("s3", "get_object", {"Bucket": "b", "Key": "k"}, expires=60)
    error = failure(request, "s3", SIGNED_AT + timedelta(seconds=61))
    assert (error.code, error.status, error.message) == ("AccessDenied", 403, "Request has expired")
    assert error.fields["X-Amz-Expires"] == "60"
    assert error.fields["Expires"] == "2026-03-04T05:07:07Z"
    assert verify(request, "s3", SIGNED_AT + timedelta(seconds=60)) is not None


def test_s3_presigned_not_yet_valid() -> None:
    request = presigned_url("s3", "get_object", {"Bucket": "b", "Key": "k"})
    error = failure(request, "s3", SIGNED_AT - timedelta(minutes=16))
    assert (error.code, error.status, error.message) == ("AccessDenied", 403, "Request is not yet valid")


def test_s3_presigned_expires_too_long() -> None:
    request = signed("GET", "http://localhost:4566/b/k", "s3", signer=S3SigV4QueryAuth, expires=604801)
    error = failure(request, "s3")
    assert (error.code, error.status) == ("AuthorizationQueryParametersError", 400)
    assert "X-Amz-Expires must be less than a week" in error.message


@pytest.mark.parametrize(
    ("expires", "message"),
    [("-1", "X-Amz-Expires must be non-negative"), ("soon", "X-Amz-Expires should be a number")],
)
def test_s3_presigned_bad_expires(expires: str, message: str) -> None:
    request = signed("GET", "http://localhost:4566/b/k", "s3", signer=S3SigV4QueryAuth)
    request.query_string = request.query_string.replace("X-Amz-Expires=3600", f"X-Amz-Expires={expires}")
    error = failure(request, "s3")
    assert (error.code, error.message) == ("AuthorizationQueryParametersError", message)


def test_s3_presigned_missing_parameter() -> None:
    request = signed("GET", "http://localhost:4566/b/k", "s3", signer=S3SigV4QueryAuth)
    request.query_string = "&".join(
        p for p in request.query_string.split("&") if not p.startswith("X-Amz-Date=")
    )
    error = failure(request, "s3")
    assert error.code == "AuthorizationQueryParametersError"
    assert error.message.startswith("Query-string authentication version 4 requires")


def test_non_s3_presigned_lives_fifteen_minutes_whatever_it_asks() -> None:
    request = presigned_url("sts", "get_caller_identity", {}, expires=3600)
    error = failure(request, "sts", SIGNED_AT + timedelta(minutes=16))
    assert (error.code, error.status) == ("SignatureDoesNotMatch", 403)
    assert error.message.startswith("Signature expired: 20260304T050607Z is now earlier than")


def test_presigned_and_header_together_is_refused_by_s3() -> None:
    request = presigned_url("s3", "get_object", {"Bucket": "b", "Key": "k"})
    request.headers["authorization"] = "AWS4-HMAC-SHA256 Credential=x"
    error = failure(request, "s3")
    assert (error.code, error.status) == ("InvalidArgument", 400)
    assert error.message.startswith("Only one auth mechanism allowed")


# --- tampering ---------------------------------------------------------------------------------


def test_tampered_body_query_service() -> None:
    request = capture("sts", "get_caller_identity")
    request.body = request.body.replace(b"GetCallerIdentity", b"GetSessionToken")
    error = failure(request, "sts")
    assert (error.code, error.status) == ("SignatureDoesNotMatch", 403)
    assert error.message.startswith(
        "The request signature we calculated does not match the signature you provided."
    )
    assert "The Canonical String for this request should have been" in error.message


def test_tampered_body_json_service() -> None:
    request = capture("logs", "create_log_group", {"logGroupName": "a"})
    request.body = request.body.replace(b'"a"', b'"b"')
    error = failure(request, "logs")
    assert (error.code, error.status) == ("InvalidSignatureException", 400)


def test_tampered_body_s3_is_a_content_sha256_mismatch() -> None:
    request = capture("s3", "put_object", {"Bucket": "b", "Key": "k", "Body": b"original"})
    request.body = b"tampered"
    error = failure(request, "s3")
    assert (error.code, error.status) == ("XAmzContentSHA256Mismatch", 400)
    assert error.message == "The provided 'x-amz-content-sha256' header does not match what was computed."
    assert error.fields["S3ComputedContentSHA256"] == hashlib.sha256(b"tampered").hexdigest()


def test_tampered_signed_header() -> None:
    request = capture("s3", "get_object", {"Bucket": "b", "Key": "k", "Range": "bytes=0-9"})
    request.headers["range"] = "bytes=0-99"
    error = failure(request, "s3")
    assert (error.code, error.status) == ("SignatureDoesNotMatch", 403)
    assert error.message == (
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method."
    )
    assert "range:bytes=0-99" in error.fields["CanonicalRequest"]
    assert error.fields["AWSAccessKeyId"] == "test"


def test_tampered_path_and_query() -> None:
    request = capture("s3", "list_objects_v2", {"Bucket": "b", "Prefix": "a"})
    request.query_string = request.query_string.replace("prefix=a", "prefix=b")
    assert failure(request, "s3").code == "SignatureDoesNotMatch"
    request = capture("route53", "get_hosted_zone", {"Id": "Z1"})
    request.path = request.path.replace("Z1", "Z2")
    assert failure(request, "route53").code == "SignatureDoesNotMatch"


def test_unsigned_header_may_change() -> None:
    request = capture("sts", "get_caller_identity")
    request.headers["user-agent"] = "something else"
    assert verify(request, "sts") is not None


@pytest.mark.parametrize(
    ("service", "operation", "code", "status"),
    [
        ("sts", "get_caller_identity", "SignatureDoesNotMatch", 403),
        ("ec2", "describe_vpcs", "AuthFailure", 401),
        ("logs", "describe_log_groups", "InvalidSignatureException", 400),
        ("s3", "list_buckets", "SignatureDoesNotMatch", 403),
        ("route53", "list_hosted_zones", "SignatureDoesNotMatch", 403),
    ],
)
def test_wrong_secret(service: str, operation: str, code: str, status: int) -> None:
    error = failure(capture(service, operation, secret_key="not-the-secret"), service)
    assert (error.code, error.status) == (code, status)


@pytest.mark.parametrize(
    ("service", "operation", "code", "status", "message"),
    [
        (
            "sts",
            "get_caller_identity",
            "InvalidClientTokenId",
            403,
            "The security token included in the request is invalid.",
        ),
        (
            "elbv2",
            "describe_load_balancers",
            "InvalidClientTokenId",
            403,
            "The security token included in the request is invalid.",
        ),
        (
            "cloudwatch",
            "list_metrics",
            "InvalidClientTokenId",
            403,
            "The security token included in the request is invalid.",
        ),
        (
            "logs",
            "describe_log_groups",
            "UnrecognizedClientException",
            400,
            "The security token included in the request is invalid.",
        ),
        (
            "acm",
            "list_certificates",
            "UnrecognizedClientException",
            400,
            "The security token included in the request is invalid.",
        ),
        (
            "ec2",
            "describe_vpcs",
            "AuthFailure",
            401,
            "AWS was not able to validate the provided access credentials",
        ),
        (
            "s3",
            "list_buckets",
            "InvalidAccessKeyId",
            403,
            "The AWS Access Key Id you provided does not exist in our records.",
        ),
        (
            "cloudfront",
            "list_distributions",
            "InvalidClientTokenId",
            403,
            "The security token included in the request is invalid.",
        ),
    ],
)
def test_unknown_access_key(service: str, operation: str, code: str, status: int, message: str) -> None:
    error = failure(capture(service, operation, access_key="AKIAUNKNOWN", secret_key="x"), service)
    assert (error.code, error.status, error.message) == (code, status, message)


# --- clock skew --------------------------------------------------------------------------------


def test_skew_limit_is_fifteen_minutes_each_way() -> None:
    request = capture("sts", "get_caller_identity")
    assert verify(request, "sts", SIGNED_AT + timedelta(minutes=15)) is not None
    assert verify(request, "sts", SIGNED_AT - timedelta(minutes=15)) is not None


def test_skew_query_service_signature_expired() -> None:
    error = failure(capture("sts", "get_caller_identity"), "sts", SIGNED_AT + timedelta(minutes=16))
    assert (error.code, error.status) == ("SignatureDoesNotMatch", 403)
    assert error.message == (
        "Signature expired: 20260304T050607Z is now earlier than 20260304T050707Z (20260304T052207Z - 15 min.)"
    )


def test_skew_query_service_not_yet_current() -> None:
    error = failure(capture("sts", "get_caller_identity"), "sts", SIGNED_AT - timedelta(minutes=16))
    assert error.message == (
        "Signature not yet current: 20260304T050607Z is still later than 20260304T050507Z (20260304T045007Z + 15 min.)"
    )


def test_skew_json_service() -> None:
    error = failure(capture("logs", "describe_log_groups"), "logs", SIGNED_AT + timedelta(hours=1))
    assert (error.code, error.status) == ("InvalidSignatureException", 400)
    assert error.message.startswith("Signature expired:")


def test_skew_ec2() -> None:
    error = failure(capture("ec2", "describe_vpcs"), "ec2", SIGNED_AT + timedelta(hours=1))
    assert (error.code, error.status, error.message) == ("RequestExpired", 400, "Request has expired.")


def test_skew_s3() -> None:
    error = failure(capture("s3", "list_buckets"), "s3", SIGNED_AT + timedelta(minutes=20))
    assert (error.code, error.status) == ("RequestTimeTooSkewed", 403)
    assert error.message == "The difference between the request time and the current time is too large."
    assert error.fields == {
        "RequestTime": "20260304T050607Z",
        "ServerTime": "2026-03-04T05:26:07Z",
        "MaxAllowedSkewMilliseconds": "900000",
    }


# --- malformed Authorization -------------------------------------------------------------------


def _with_authorization(request: HttpRequest, value: str) -> HttpRequest:
    request.headers["authorization"] = value
    return request


def test_malformed_missing_signature_component() -> None:
    request = capture("sts", "get_caller_identity")
    header = request.headers["authorization"].split(", Signature=")[0]
    error = failure(_with_authorization(request, header), "sts")
    assert (error.code, error.status) == ("IncompleteSignature", 400)
    assert error.message == f"Authorization header requires 'Signature' parameter. Authorization={header}"


def test_malformed_missing_signature_component_json() -> None:
    request = capture("logs", "describe_log_groups")
    header = request.headers["authorization"].split(", Signature=")[0]
    assert failure(_with_authorization(request, header), "logs").code == "IncompleteSignatureException"


def test_malformed_pair_without_equals() -> None:
    request = capture("sts", "get_caller_identity")
    header = request.headers["authorization"].replace("Credential=", "Credential ")
    error = failure(_with_authorization(request, header), "sts")
    assert error.code == "IncompleteSignature"
    assert "not a valid key=value pair (missing equal-sign) in Authorization header" in error.message


def test_malformed_s3_header() -> None:
    request = capture("s3", "list_buckets")
    header = request.headers["authorization"].split(", Signature=")[0]
    error = failure(_with_authorization(request, header), "s3")
    assert (error.code, error.status) == ("AuthorizationHeaderMalformed", 400)
    assert error.message == (
        "The authorization header is malformed; the authorization header requires three components: "
        "Credential, SignedHeaders, and Signature."
    )


def test_malformed_credential_scope() -> None:
    request = capture("sts", "get_caller_identity")
    header = request.headers["authorization"].replace(
        "/us-east-1/sts/aws4_request", "/us-east-1/aws4_request"
    )
    error = failure(_with_authorization(request, header), "sts")
    assert error.code == "IncompleteSignature"
    assert error.message.startswith("Credential must have exactly 5 slash-delimited elements")

    request = capture("s3", "list_buckets")
    header = request.headers["authorization"].replace("/us-east-1/s3/aws4_request", "/us-east-1/aws4_request")
    error = failure(_with_authorization(request, header), "s3")
    assert error.code == "AuthorizationHeaderMalformed"
    assert error.message.endswith('expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".')


def test_scope_for_the_wrong_service() -> None:
    request = signed(
        "POST", "http://localhost:4566/", "ec2", body=b"Action=GetCallerIdentity&Version=2011-06-15"
    )
    error = failure(request, "sts")
    assert (error.code, error.message) == (
        "SignatureDoesNotMatch",
        "Credential should be scoped to correct service: 'sts'. ",
    )
    request = signed("GET", "http://localhost:4566/b", "sqs", signer=S3SigV4Auth)
    error = failure(request, "s3")
    assert (
        error.message
        == 'The authorization header is malformed; incorrect service "sqs". This endpoint belongs to "s3".'
    )


def test_scope_date_differs_from_request_date() -> None:
    request = capture("sts", "get_caller_identity")
    header = request.headers["authorization"].replace("/20260304/", "/20260303/")
    error = failure(_with_authorization(request, header), "sts")
    assert error.code == "SignatureDoesNotMatch"
    assert error.message == (
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
        "'20260303' != '20260304', from '20260304T050607Z'."
    )
    request = capture("s3", "list_buckets")
    header = request.headers["authorization"].replace("/20260304/", "/20260303/")
    error = failure(_with_authorization(request, header), "s3")
    assert error.message.endswith("Invalid credential date. Date is not the same as X-Amz-Date.")


def test_missing_date() -> None:
    request = capture("sts", "get_caller_identity")
    del request.headers["x-amz-date"]
    error = failure(request, "sts")
    assert error.code == "IncompleteSignature"
    assert error.message.startswith(
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
    )
    request = capture("s3", "list_buckets")
    del request.headers["x-amz-date"]
    error = failure(request, "s3")
    assert (error.code, error.status) == ("AccessDenied", 403)
    assert error.message == "AWS authentication requires a valid Date or x-amz-date header"


def test_other_schemes() -> None:
    request = capture("sts", "get_caller_identity")
    error = failure(_with_authorization(request, "Bearer abc"), "sts")
    assert error.code == "IncompleteSignature"
    assert "Authorization header requires 'Credential' parameter." in error.message
    request = capture("s3", "list_buckets")
    error = failure(_with_authorization(request, "Bearer abc"), "s3")
    assert (error.code, error.message) == ("InvalidArgument", "Unsupported Authorization Type")


def test_s3_requires_content_sha256() -> None:
    request = capture("s3", "list_buckets")
    del request.headers["x-amz-content-sha256"]
    error = failure(request, "s3")
    assert (error.code, error.message) == (
        "InvalidRequest",
        "Missing required header for this request: x-amz-content-sha256",
    )


def test_s3_rejects_a_bogus_content_sha256() -> None:
    request = capture("s3", "list_buckets")
    request.headers["x-amz-content-sha256"] = "not-a-hash"
    error = failure(request, "s3")
    assert error.code == "InvalidArgument"
    assert error.fields["ArgumentName"] == "x-amz-content-sha256"


def test_signature_in_upper_case_hex_verifies() -> None:
    request = capture("sts", "get_caller_identity")
    head, _, signature = request.headers["authorization"].rpartition("Signature=")
    request.headers["authorization"] = head + "Signature=" + signature.upper()
    assert verify(request, "sts") is not None


# --- S3 Signature Version 2 (boto3's default for presigned S3 URLs) -----------------------------


def test_boto3_default_s3_presign_is_sigv2_and_verifies() -> None:
    url = client("s3").generate_presigned_url(
        "get_object", Params={"Bucket": "b", "Key": "a b+c/é", "VersionId": "v1"}, ExpiresIn=600
    )
    assert "AWSAccessKeyId=test" in url and "X-Amz-Algorithm" not in url
    parts = urlsplit(url)
    request = HttpRequest("GET", parts.path, parts.query, {"host": parts.netloc})
    auth = verify(request, "s3", datetime.now(UTC))  # V2 signs an absolute expiry from the real clock
    assert auth is not None and auth.presigned and auth.region == "us-east-1"
    request.query_string = request.query_string.replace("versionId=v1", "versionId=v2")
    error = failure(request, "s3", datetime.now(UTC))
    assert error.code == "SignatureDoesNotMatch"
    assert error.fields["StringToSign"].endswith("?versionId=v2")


def test_sigv2_presign_expired_and_malformed() -> None:
    url = client("s3").generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"}, ExpiresIn=60)
    parts = urlsplit(url)
    request = HttpRequest("GET", parts.path, parts.query, {"host": parts.netloc})
    error = failure(request, "s3", datetime.now(UTC) + timedelta(minutes=5))
    assert (error.code, error.status, error.message) == ("AccessDenied", 403, "Request has expired")
    request.query_string = "&".join(p for p in parts.query.split("&") if not p.startswith("Expires="))
    error = failure(request, "s3")
    assert (
        error.message
        == "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters"
    )


def test_sigv2_header() -> None:
    aws_request = AWSRequest(
        "PUT", "http://localhost:4566/b/key%20x?acl", headers={"Content-Type": "text/plain"}
    )
    aws_request.headers["X-Amz-Meta-Note"] = " kept "
    botocore.auth.HmacV1Auth(Credentials("test", "test")).add_auth(aws_request)
    request = to_http(aws_request)
    now = datetime.now(UTC)  # HmacV1Auth dates the request with the real clock
    auth = verify(request, "s3", now)
    assert auth is not None and not auth.presigned
    request.headers["content-type"] = "text/html"
    assert failure(request, "s3", now).code == "SignatureDoesNotMatch"
    error = failure(_with_authorization(request, "AWS test"), "s3", now)
    assert error.code == "InvalidArgument"
    assert error.message == "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature"
    assert failure(_with_authorization(request, "AWS nobody:abc="), "s3", now).code == "InvalidAccessKeyId"


@pytest.mark.parametrize("service", ["sts", "s3", "logs", "ec2"])
@pytest.mark.parametrize(
    "mangle",
    [
        lambda h: h.rpartition("Signature=")[0] + "Signature=" + "é" * 64,
        lambda h: h.replace("Credential=", "Credential=é"),
        lambda h: "AWS4-HMAC-SHA256",
        lambda h: "AWS4-HMAC-SHA256 ,,,",
        lambda h: "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=, Signature=",
        lambda h: h.replace("SignedHeaders=", "SignedHeaders=nonexistent;"),
        lambda h: "",
    ],
)
def test_garbage_authorization_is_always_an_aws_error(service: str, mangle: Any) -> None:
    operation = {"sts": "get_caller_identity", "s3": "list_buckets", "logs": "describe_log_groups"}
    request = capture(service, operation.get(service, "describe_vpcs"))
    request.headers["authorization"] = mangle(request.headers["authorization"])
    with pytest.raises(AwsError):
        verify(request, service)


@pytest.mark.parametrize(
    "query",
    [
        "X-Amz-Algorithm=AWS4-HMAC-SHA256",
        "X-Amz-Signature=%ZZ&X-Amz-Date=2026",
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=%E9&X-Amz-Date=20260304T050607Z&X-Amz-Expires=1"
        "&X-Amz-SignedHeaders=host&X-Amz-Signature=%C3%A9",
        "Signature=x&Expires=notanumber&AWSAccessKeyId=test",
    ],
)
@pytest.mark.parametrize("service", ["s3", "sts"])
def test_garbage_presigned_query_is_always_an_aws_error(query: str, service: str) -> None:
    request = HttpRequest("GET", "/b/k", query, {"host": "localhost:4566"})
    if service == "sts" and query.startswith("Signature="):
        assert verify(request, service) is None  # S3's legacy form means nothing to STS
        return
    with pytest.raises(AwsError):
        verify(request, service)
