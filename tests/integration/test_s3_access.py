"""Who may do what: anonymous callers, bucket policies, Block Public Access, ACLs, presigned URLs, CORS."""

from __future__ import annotations

import json
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import OTHER_ACCESS_KEY, OTHER_ACCOUNT, OTHER_SECRET_KEY


def _code(error: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = error.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def _curl(*args: str) -> tuple[int, bytes, str]:
    """(status, body, headers) of a curl request."""
    result = subprocess.run(
        ["curl", "-s", "-o", "/dev/stdout", "-D", "/dev/stderr", *args], capture_output=True, timeout=60
    )
    headers = result.stderr.decode("latin-1")
    status = int(headers.split("\r\n", 1)[0].split()[1]) if headers else 0
    return status, result.stdout, headers


@pytest.fixture
def s3(onebox):
    return onebox.client("s3")


@pytest.fixture
def other(onebox):
    return onebox.client("s3", aws_access_key_id=OTHER_ACCESS_KEY, aws_secret_access_key=OTHER_SECRET_KEY)


@pytest.fixture
def bucket(s3) -> str:
    name = f"acc-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="public/page.html", Body=b"<p>public</p>", ContentType="text/html")
    s3.put_object(Bucket=name, Key="private/secret.txt", Body=b"secret")
    return name


def _public_read_policy(bucket: str, prefix: str = "public/", condition: dict | None = None) -> str:
    statement = {
        "Sid": "PublicRead",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/{prefix}*",
    }
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def test_new_buckets_block_public_access_and_disable_acls(s3, bucket) -> None:
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    ownership = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert ownership == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    with pytest.raises(ClientError) as error:
        s3.put_bucket_policy(Bucket=bucket, Policy=_public_read_policy(bucket))
    assert _code(error) == ("AccessDenied", 403)
    with pytest.raises(ClientError) as error:
        s3.put_object(Bucket=bucket, Key="x", Body=b"", ACL="public-read")
    assert _code(error) == ("AccessControlListNotSupported", 400)
    with pytest.raises(ClientError) as error:
        s3.create_bucket(Bucket=f"acl-{uuid.uuid4().hex[:10]}", ACL="public-read")
    assert _code(error) == ("InvalidBucketAclWithObjectOwnership", 400)


def test_anonymous_is_denied_until_a_policy_allows(onebox, s3, bucket) -> None:
    url = f"{onebox.endpoint}/{bucket}/public/page.html"
    assert _curl(url)[0] == 403
    s3.delete_public_access_block(Bucket=bucket)
    with pytest.raises(ClientError) as error:
        s3.put_bucket_policy(Bucket=bucket, Policy="not json")
    assert _code(error) == ("MalformedPolicy", 400)
    with pytest.raises(ClientError) as error:
        s3.put_bucket_policy(Bucket=bucket, Policy=_public_read_policy("some-other-bucket"))
    assert _code(error) == ("MalformedPolicy", 400)
    s3.put_bucket_policy(Bucket=bucket, Policy=_public_read_policy(bucket))
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"][0]["Sid"] == "PublicRead"
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is True
    status, body, headers = _curl(url)
    assert (status, body) == (200, b"<p>public</p>")
    assert "content-type: text/html" in headers.lower()
    # Outside the allowed prefix, and for a missing key without s3:ListBucket: 403, not 404.
    assert _curl(f"{onebox.endpoint}/{bucket}/private/secret.txt")[0] == 403
    assert _curl(f"{onebox.endpoint}/{bucket}/public/missing.html")[0] == 403
    assert _curl(f"{onebox.endpoint}/{bucket}")[0] == 403
    assert _curl("-X", "PUT", "--data-binary", "x", f"{onebox.endpoint}/{bucket}/public/new")[0] == 403
    # RestrictPublicBuckets voids a public policy for everyone outside the owner's account.
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": False,
            "IgnorePublicAcls": False,
            "BlockPublicPolicy": False,
            "RestrictPublicBuckets": True,
        },
    )
    assert _curl(url)[0] == 403
    s3.delete_public_access_block(Bucket=bucket)
    assert _curl(url)[0] == 200
    s3.delete_bucket_policy(Bucket=bucket)
    assert _curl(url)[0] == 403
    with pytest.raises(ClientError) as error:
        s3.get_bucket_policy(Bucket=bucket)
    assert _code(error) == ("NoSuchBucketPolicy", 404)


def test_policy_deny_principals_and_conditions(onebox, s3, other, bucket) -> None:
    with pytest.raises(ClientError) as error:
        other.get_object(Bucket=bucket, Key="public/page.html")
    assert _code(error) == ("AccessDenied", 403)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"},
                "Action": ["s3:GetObject", "s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            },
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/private/*",
            },
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
                "Condition": {"NotIpAddress": {"aws:SourceIp": "10.99.0.0/16"}},
            },
        ],
    }
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    assert other.get_object(Bucket=bucket, Key="public/page.html")["Body"].read() == b"<p>public</p>"
    assert [o["Key"] for o in other.list_objects_v2(Bucket=bucket)["Contents"]] == [
        "private/secret.txt",
        "public/page.html",
    ]
    # With s3:ListBucket a missing key is 404.
    with pytest.raises(ClientError) as error:
        other.get_object(Bucket=bucket, Key="public/none")
    assert _code(error) == ("NoSuchKey", 404)
    # An explicit Deny wins, even for the owner.
    with pytest.raises(ClientError) as error:
        other.get_object(Bucket=bucket, Key="private/secret.txt")
    assert _code(error) == ("AccessDenied", 403)
    with pytest.raises(ClientError) as error:
        s3.get_object(Bucket=bucket, Key="private/secret.txt")
    assert _code(error) == ("AccessDenied", 403)
    # Requests come from 127.0.0.1, outside 10.99.0.0/16: the conditional Deny applies.
    with pytest.raises(ClientError) as error:
        s3.put_object(Bucket=bucket, Key="public/new", Body=b"x")
    assert _code(error) == ("AccessDenied", 403)
    with pytest.raises(ClientError) as error:
        other.delete_object(Bucket=bucket, Key="public/page.html")
    assert _code(error) == ("AccessDenied", 403)
    # The owner can always remove the policy that locks it out.
    s3.delete_bucket_policy(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="public/new", Body=b"x")


def test_secure_transport_and_source_vpce_conditions(onebox, s3, bucket) -> None:
    s3.delete_public_access_block(Bucket=bucket)
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=_public_read_policy(bucket, condition={"Bool": {"aws:SecureTransport": "true"}}),
    )
    assert _curl(f"{onebox.endpoint}/{bucket}/public/page.html")[0] == 403
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=_public_read_policy(bucket, condition={"StringEquals": {"aws:SourceVpce": "vpce-1234"}}),
    )
    # Not through a VPC endpoint: the key is absent and StringEquals fails.
    assert _curl(f"{onebox.endpoint}/{bucket}/public/page.html")[0] == 403
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=_public_read_policy(bucket, condition={"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}),
    )
    assert _curl(f"{onebox.endpoint}/{bucket}/public/page.html")[0] == 200


def test_canned_acls_when_enabled(onebox, s3, bucket) -> None:
    s3.delete_public_access_block(Bucket=bucket)
    s3.put_bucket_ownership_controls(
        Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]}
    )
    s3.put_object(Bucket=bucket, Key="acl/open.txt", Body=b"open", ACL="public-read")
    s3.put_object(Bucket=bucket, Key="acl/closed.txt", Body=b"closed", ACL="private")
    assert _curl(f"{onebox.endpoint}/{bucket}/acl/open.txt")[:2] == (200, b"open")
    assert _curl(f"{onebox.endpoint}/{bucket}/acl/closed.txt")[0] == 403
    grants = s3.get_object_acl(Bucket=bucket, Key="acl/open.txt")["Grants"]
    assert {
        "Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
        "Permission": "READ",
    } in grants
    s3.put_object_acl(Bucket=bucket, Key="acl/open.txt", ACL="private")
    assert _curl(f"{onebox.endpoint}/{bucket}/acl/open.txt")[0] == 403
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    status, body, _ = _curl(f"{onebox.endpoint}/{bucket}?list-type=2")
    assert status == 200 and b"<Key>acl/open.txt</Key>" in body
    # IgnorePublicAcls voids the public grants again.
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": False,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": False,
            "RestrictPublicBuckets": False,
        },
    )
    assert _curl(f"{onebox.endpoint}/{bucket}?list-type=2")[0] == 403


@pytest.mark.parametrize("signature_version", ["s3v4", None])
def test_presigned_get_and_put_with_curl(onebox, bucket, signature_version) -> None:
    config = Config(signature_version=signature_version) if signature_version else Config()
    client = onebox.client("s3", config=config)
    get_url = client.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "private/secret.txt"}, ExpiresIn=604800
    )
    assert _curl(get_url)[:2] == (200, b"secret")
    put_url = client.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "uploaded/by-curl.txt"}, ExpiresIn=300
    )
    # No Content-Type: curl would send a form type, and SigV2 signs the Content-Type.
    assert _curl("-X", "PUT", "-H", "Content-Type:", "--data-binary", "from curl", put_url)[0] == 200
    assert client.get_object(Bucket=bucket, Key="uploaded/by-curl.txt")["Body"].read() == b"from curl"
    # Tampering with the key breaks the signature.
    assert _curl(get_url.replace("secret.txt", "other.txt"))[0] == 403


def test_presigned_limits(onebox, bucket) -> None:
    client = onebox.client("s3", config=Config(signature_version="s3v4"))
    too_long = client.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "private/secret.txt"}, ExpiresIn=604801
    )
    status, body, _ = _curl(too_long)
    assert status == 400 and b"AuthorizationQueryParametersError" in body
    past = datetime.now(UTC) - timedelta(hours=2)
    with mock.patch("botocore.auth.get_current_datetime", return_value=past.replace(tzinfo=None)):
        expired = client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": "private/secret.txt"}, ExpiresIn=3600
        )
    status, body, _ = _curl(expired)
    assert status == 403 and b"<Code>AccessDenied</Code>" in body and b"Request has expired" in body


def test_cors_preflight_and_response_headers(onebox, s3, bucket) -> None:
    url = f"{onebox.endpoint}/{bucket}/public/page.html"
    preflight = (
        "-X",
        "OPTIONS",
        "-H",
        "Origin: http://app.example",
        "-H",
        "Access-Control-Request-Method: PUT",
    )
    assert _curl(*preflight, url)[0] == 403
    with pytest.raises(ClientError) as error:
        s3.get_bucket_cors(Bucket=bucket)
    assert _code(error) == ("NoSuchCORSConfiguration", 404)
    s3.put_bucket_cors(
        Bucket=bucket,
        CORSConfiguration={
            "CORSRules": [
                {
                    "AllowedOrigins": ["http://*.example"],
                    "AllowedMethods": ["GET", "PUT"],
                    "AllowedHeaders": ["content-type", "x-amz-*"],
                    "ExposeHeaders": ["ETag"],
                    "MaxAgeSeconds": 600,
                }
            ]
        },
    )
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"][0]["MaxAgeSeconds"] == 600
    status, _, headers = _curl(
        *preflight, "-H", "Access-Control-Request-Headers: Content-Type, X-Amz-Date", url
    )
    lowered = headers.lower()
    assert status == 200
    assert "access-control-allow-origin: http://app.example" in lowered
    assert "access-control-allow-methods: get, put" in lowered
    assert "access-control-allow-headers: content-type, x-amz-date" in lowered
    assert "access-control-max-age: 600" in lowered
    denied = _curl(
        "-X", "OPTIONS", "-H", "Origin: http://evil.test", "-H", "Access-Control-Request-Method: GET", url
    )
    assert denied[0] == 403
    presigned = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "public/page.html"})
    status, _, headers = _curl("-H", "Origin: http://app.example", presigned)
    assert status == 200 and "access-control-expose-headers: etag" in headers.lower()
    s3.delete_bucket_cors(Bucket=bucket)
    assert _curl(*preflight, url)[0] == 403
