"""S3 buckets and objects through boto3 (client and resource) and the AWS CLI, against a live daemon."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import subprocess
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError


def _name(prefix: str = "bkt") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def _code(error: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = error.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture
def s3(onebox):
    return onebox.client("s3")


@pytest.fixture
def bucket(s3) -> str:
    name = _name()
    s3.create_bucket(Bucket=name)
    return name


def test_bucket_lifecycle_and_errors(onebox, s3) -> None:
    name = _name()
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] == "eu-west-1"
    assert s3.head_bucket(Bucket=name)["BucketRegion"] == "eu-west-1"
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    with pytest.raises(ClientError) as error:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert _code(error) == ("BucketAlreadyOwnedByYou", 409)
    # Another account sees the global namespace taken.
    from tests.conftest import OTHER_ACCESS_KEY, OTHER_SECRET_KEY

    other = onebox.client("s3", aws_access_key_id=OTHER_ACCESS_KEY, aws_secret_access_key=OTHER_SECRET_KEY)
    with pytest.raises(ClientError) as error:
        other.create_bucket(Bucket=name)
    assert _code(error) == ("BucketAlreadyExists", 409)
    assert name not in [b["Name"] for b in other.list_buckets()["Buckets"]]
    with pytest.raises(ClientError) as error:
        other.head_bucket(Bucket=name)
    assert _code(error) == ("403", 403)
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    with pytest.raises(ClientError) as error:
        s3.delete_bucket(Bucket=name)
    assert _code(error) == ("BucketNotEmpty", 409)
    s3.delete_object(Bucket=name, Key="k")
    s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as error:
        s3.head_bucket(Bucket=name)
    assert _code(error) == ("404", 404)
    with pytest.raises(ClientError) as error:
        s3.list_objects_v2(Bucket=name)
    assert _code(error) == ("NoSuchBucket", 404)
    for bad in ("ab", "UPPER", "a..b", "192.168.1.1", "-start"):
        with pytest.raises(ClientError) as error:
            s3.create_bucket(Bucket=bad)
        assert _code(error)[0] in ("InvalidBucketName",), bad


def test_location_constraint_rules(onebox) -> None:
    west = onebox.client("s3", region_name="us-west-2")
    with pytest.raises(ClientError) as error:
        west.create_bucket(Bucket=_name())
    assert _code(error) == ("IllegalLocationConstraintException", 400)
    east = onebox.client("s3")
    with pytest.raises(ClientError) as error:
        east.create_bucket(Bucket=_name(), CreateBucketConfiguration={"LocationConstraint": "us-east-1"})
    assert _code(error) == ("InvalidLocationConstraint", 400)
    assert error.value.response["Error"]["Message"] == "The specified location-constraint is not valid"


def test_put_get_head_with_metadata_and_etag(s3, bucket) -> None:
    body = b"hello onebox"
    put = s3.put_object(
        Bucket=bucket,
        Key="dir/file.txt",
        Body=body,
        ContentType="text/plain",
        CacheControl="max-age=60",
        ContentDisposition="attachment",
        Metadata={"Color": "blue"},
        StorageClass="STANDARD_IA",
        Tagging="a=1&b=two",
    )
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="dir/file.txt")
    assert got["Body"].read() == body
    assert got["ContentType"] == "text/plain"
    assert got["CacheControl"] == "max-age=60"
    assert got["ContentDisposition"] == "attachment"
    assert got["Metadata"] == {"color": "blue"}
    assert got["StorageClass"] == "STANDARD_IA"
    assert got["TagCount"] == 2
    head = s3.head_object(Bucket=bucket, Key="dir/file.txt")
    assert head["ContentLength"] == len(body) and head["ETag"] == put["ETag"]
    tags = s3.get_object_tagging(Bucket=bucket, Key="dir/file.txt")["TagSet"]
    assert {t["Key"]: t["Value"] for t in tags} == {"a": "1", "b": "two"}
    s3.put_object_tagging(Bucket=bucket, Key="dir/file.txt", Tagging={"TagSet": [{"Key": "x", "Value": "y"}]})
    assert s3.get_object_tagging(Bucket=bucket, Key="dir/file.txt")["TagSet"] == [{"Key": "x", "Value": "y"}]
    s3.delete_object_tagging(Bucket=bucket, Key="dir/file.txt")
    assert s3.get_object_tagging(Bucket=bucket, Key="dir/file.txt")["TagSet"] == []
    with pytest.raises(ClientError) as error:
        s3.get_object(Bucket=bucket, Key="nope")
    assert _code(error) == ("NoSuchKey", 404)


def test_ranges(s3, bucket) -> None:
    s3.put_object(Bucket=bucket, Key="r", Body=b"0123456789")
    part = s3.get_object(Bucket=bucket, Key="r", Range="bytes=2-4")
    assert part["Body"].read() == b"234"
    assert part["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert part["ContentRange"] == "bytes 2-4/10"
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=-3")["Body"].read() == b"789"
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=7-")["Body"].read() == b"789"
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=8-100")["Body"].read() == b"89"
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=-50")["Body"].read() == b"0123456789"
    with pytest.raises(ClientError) as error:
        s3.get_object(Bucket=bucket, Key="r", Range="bytes=10-")
    assert _code(error) == ("InvalidRange", 416)
    assert error.value.response["Error"]["ActualObjectSize"] == "10"


def test_conditional_requests(s3, bucket) -> None:
    etag = s3.put_object(Bucket=bucket, Key="c", Body=b"data")["ETag"]
    past = datetime.now(UTC) - timedelta(days=1)
    future = datetime.now(UTC) + timedelta(days=1)
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag)["Body"].read() == b"data"
    with pytest.raises(ClientError) as error:
        s3.get_object(Bucket=bucket, Key="c", IfMatch='"0000"')
    assert _code(error) == ("PreconditionFailed", 412)
    with pytest.raises(ClientError) as error:
        s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert _code(error) == ("304", 304)
    with pytest.raises(ClientError) as error:
        s3.head_object(Bucket=bucket, Key="c", IfModifiedSince=future)
    assert _code(error) == ("304", 304)
    assert s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=past)["Body"].read() == b"data"
    with pytest.raises(ClientError) as error:
        s3.get_object(Bucket=bucket, Key="c", IfUnmodifiedSince=past)
    assert _code(error) == ("PreconditionFailed", 412)
    # If-Match true wins over If-Unmodified-Since false, as S3 documents.
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag, IfUnmodifiedSince=past)["ETag"] == etag
    # Conditional writes.
    with pytest.raises(ClientError) as error:
        s3.put_object(Bucket=bucket, Key="c", Body=b"new", IfNoneMatch="*")
    assert _code(error) == ("PreconditionFailed", 412)
    s3.put_object(Bucket=bucket, Key="fresh", Body=b"new", IfNoneMatch="*")
    with pytest.raises(ClientError) as error:
        s3.put_object(Bucket=bucket, Key="c", Body=b"new", IfMatch='"0000"')
    assert _code(error) == ("PreconditionFailed", 412)
    s3.put_object(Bucket=bucket, Key="c", Body=b"new", IfMatch=etag)
    assert s3.get_object(Bucket=bucket, Key="c")["Body"].read() == b"new"


def test_content_md5_and_checksums(s3, bucket) -> None:
    body = b"checked bytes"
    good = base64.b64encode(hashlib.md5(body).digest()).decode()
    s3.put_object(Bucket=bucket, Key="md5", Body=body, ContentMD5=good)
    bad = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(ClientError) as error:
        s3.put_object(Bucket=bucket, Key="md5-bad", Body=body, ContentMD5=bad)
    assert _code(error) == ("BadDigest", 400)
    with pytest.raises(ClientError) as error:
        s3.put_object(Bucket=bucket, Key="md5-bad", Body=body, ContentMD5="not-base64!")
    assert _code(error) == ("InvalidDigest", 400)
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="md5-bad")
    for algorithm in ("CRC32", "SHA256", "SHA1"):
        put = s3.put_object(Bucket=bucket, Key=f"sum-{algorithm}", Body=body, ChecksumAlgorithm=algorithm)
        got = s3.get_object(Bucket=bucket, Key=f"sum-{algorithm}", ChecksumMode="ENABLED")
        assert got[f"Checksum{algorithm}"] == put[f"Checksum{algorithm}"]
        assert got["Body"].read() == body
    sha = base64.b64encode(hashlib.sha256(b"not the body").digest()).decode()
    with pytest.raises(ClientError) as error:
        s3.put_object(Bucket=bucket, Key="sum-bad", Body=body, ChecksumSHA256=sha)
    assert _code(error) == ("BadDigest", 400)


def test_keys_of_any_utf8_stay_inside_the_data_dir(onebox, s3, bucket) -> None:
    keys = [
        "../../etc/passwd",
        "a//b",
        "100%",
        "new\nline",
        "é/ü/✓",
        "./x",
        "/leading",
        "x" * 1024,
        "sp ace+plus",
    ]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == sorted(keys, key=lambda k: k.encode())
    for key in keys:
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
    with pytest.raises(ClientError) as error:
        s3.put_object(Bucket=bucket, Key="y" * 1025, Body=b"")
    assert _code(error) == ("KeyTooLongError", 400)
    # Nothing was written outside the S3 data directory.
    state = onebox.state_dir
    assert not (state / "etc").exists() and not (state.parent / "etc" / "passwd").exists()
    data = state / "s3"
    for path in data.rglob("*"):
        assert path.resolve().is_relative_to(data.resolve())


def test_list_objects_v2_paging_prefixes_and_encoding(s3, bucket) -> None:
    keys = [f"photos/2024/{i:02d}.jpg" for i in range(5)] + ["photos/a.jpg", "docs/x.txt", "top.txt"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"")
    page = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [c["Prefix"] for c in page["CommonPrefixes"]] == ["docs/", "photos/"]
    assert [c["Key"] for c in page["Contents"]] == ["top.txt"]
    assert page["KeyCount"] == 3
    nested = s3.list_objects_v2(Bucket=bucket, Prefix="photos/", Delimiter="/")
    assert [c["Prefix"] for c in nested["CommonPrefixes"]] == ["photos/2024/"]
    assert [c["Key"] for c in nested["Contents"]] == ["photos/a.jpg"]
    seen: list[str] = []
    token = None
    while True:
        kwargs = {"Bucket": bucket, "MaxKeys": 3}
        if token:
            kwargs["ContinuationToken"] = token
        result = s3.list_objects_v2(**kwargs)
        seen += [c["Key"] for c in result.get("Contents", [])]
        if not result["IsTruncated"]:
            break
        token = result["NextContinuationToken"]
    assert seen == sorted(keys)
    after = s3.list_objects_v2(Bucket=bucket, StartAfter="photos/2024/02.jpg")
    assert [c["Key"] for c in after["Contents"]][0] == "photos/2024/03.jpg"
    with pytest.raises(ClientError) as error:
        s3.list_objects_v2(Bucket=bucket, ContinuationToken="garbage")
    assert _code(error) == ("InvalidArgument", 400)
    s3.put_object(Bucket=bucket, Key="a b+c", Body=b"")
    raw = s3.list_objects_v2(Bucket=bucket, Prefix="a b", EncodingType="url")
    assert raw["Contents"][0]["Key"] == "a%20b%2Bc"
    paginator = s3.get_paginator("list_objects")
    v1 = [
        c["Key"]
        for p in paginator.paginate(Bucket=bucket, PaginationConfig={"PageSize": 2})
        for c in p["Contents"]
    ]
    assert v1 == sorted([*keys, "a b+c"])
    v1_delim = s3.list_objects(Bucket=bucket, Delimiter="/", MaxKeys=1)
    assert v1_delim["IsTruncated"] and v1_delim["NextMarker"] == "a b+c"


def test_delete_objects_and_copy(s3, bucket) -> None:
    for key in ("one", "two", "three"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode(), Metadata={"k": key})
    other = _name()
    s3.create_bucket(Bucket=other)
    copied = s3.copy_object(Bucket=other, Key="copy", CopySource={"Bucket": bucket, "Key": "one"})
    assert copied["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(b"one").hexdigest()}"'
    assert s3.get_object(Bucket=other, Key="copy")["Metadata"] == {"k": "one"}
    s3.copy_object(
        Bucket=other,
        Key="replaced",
        CopySource=f"{bucket}/two",
        MetadataDirective="REPLACE",
        Metadata={"new": "yes"},
        ContentType="text/x-new",
    )
    replaced = s3.head_object(Bucket=other, Key="replaced")
    assert replaced["Metadata"] == {"new": "yes"} and replaced["ContentType"] == "text/x-new"
    with pytest.raises(ClientError) as error:
        s3.copy_object(Bucket=bucket, Key="one", CopySource={"Bucket": bucket, "Key": "one"})
    assert _code(error) == ("InvalidRequest", 400)
    with pytest.raises(ClientError) as error:
        s3.copy_object(
            Bucket=other, Key="x", CopySource={"Bucket": bucket, "Key": "one"}, CopySourceIfMatch='"0"'
        )
    assert _code(error) == ("PreconditionFailed", 412)
    result = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "one"}, {"Key": "two"}, {"Key": "missing"}]}
    )
    assert sorted(d["Key"] for d in result["Deleted"]) == ["missing", "one", "two"]
    assert [c["Key"] for c in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["three"]


def test_bucket_tagging(s3, bucket) -> None:
    with pytest.raises(ClientError) as error:
        s3.get_bucket_tagging(Bucket=bucket)
    assert _code(error) == ("NoSuchTagSet", 404)
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "env", "Value": "test"}]})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "env", "Value": "test"}]
    with pytest.raises(ClientError) as error:
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "aws:x", "Value": "1"}]})
    assert _code(error) == ("InvalidTag", 400)
    s3.delete_bucket_tagging(Bucket=bucket)
    with pytest.raises(ClientError):
        s3.get_bucket_tagging(Bucket=bucket)


def test_resource_api(onebox, bucket) -> None:
    import boto3

    resource = boto3.resource(
        "s3",
        endpoint_url=onebox.endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )
    target = resource.Bucket(bucket)
    target.put_object(Key="via/resource", Body=b"resource bytes")
    target.upload_fileobj(io.BytesIO(b"z" * 1000), "via/upload")
    assert sorted(o.key for o in target.objects.filter(Prefix="via/")) == ["via/resource", "via/upload"]
    assert resource.Object(bucket, "via/resource").get()["Body"].read() == b"resource bytes"
    target.objects.filter(Prefix="via/").delete()
    assert list(target.objects.all()) == []


def test_virtual_hosted_style_with_curl(onebox, s3, bucket) -> None:
    """curl resolves BUCKET.s3.localhost to loopback itself; the bucket comes from the Host."""
    s3.put_object(Bucket=bucket, Key="hello.txt", Body=b"virtual host")
    s3.delete_public_access_block(Bucket=bucket)
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "s3:GetObject",
                        "Resource": f"arn:aws:s3:::{bucket}/*",
                    }
                ],
            }
        ),
    )
    url = f"http://{bucket}.s3.localhost:{onebox.port}/hello.txt"
    result = subprocess.run(["curl", "-s", "-i", url], capture_output=True, timeout=30)
    assert result.stdout.startswith(b"HTTP/1.1 200"), result.stdout
    assert result.stdout.endswith(b"virtual host")


def test_aws_cli_cp_sync_ls_rm(onebox, bucket, tmp_path) -> None:
    source = tmp_path / "site"
    (source / "sub").mkdir(parents=True)
    (source / "index.html").write_text("<h1>hi</h1>")
    (source / "sub" / "page.txt").write_text("page")
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * (40 * 1024 * 4))  # 40 MiB: the CLI uses multipart
    onebox.aws("s3", "sync", str(source), f"s3://{bucket}/site")
    onebox.aws("s3", "cp", str(big), f"s3://{bucket}/big.bin")
    listing = onebox.aws("s3", "ls", "--recursive", f"s3://{bucket}").stdout
    assert "site/index.html" in listing and "site/sub/page.txt" in listing and "big.bin" in listing
    down = tmp_path / "down.bin"
    onebox.aws("s3", "cp", f"s3://{bucket}/big.bin", str(down))
    assert down.read_bytes() == big.read_bytes()
    head = json.loads(onebox.aws("s3api", "head-object", "--bucket", bucket, "--key", "big.bin").stdout)
    assert head["ETag"].endswith('-5"') and head["ContentLength"] == big.stat().st_size
    onebox.aws("s3", "rm", "--recursive", f"s3://{bucket}/site")
    listing = onebox.aws("s3", "ls", "--recursive", f"s3://{bucket}").stdout
    assert "site/" not in listing


def test_large_aws_chunked_upload_streams_to_disk(onebox, s3, bucket) -> None:
    """A signed aws-chunked PUT (the framing Java/Go SDKs send) above the streaming threshold."""
    import hmac
    import urllib.request
    import zlib

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from onebox.aws.sigv4 import signing_key

    payload = bytes(range(256)) * (12 * 1024)  # 3 MiB
    url = f"{onebox.endpoint}/{bucket}/chunked.bin"
    request = AWSRequest("PUT", url)
    request.headers["X-Amz-Content-SHA256"] = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
    request.headers["X-Amz-Decoded-Content-Length"] = str(len(payload))
    request.headers["Content-Encoding"] = "aws-chunked"
    request.headers["X-Amz-Trailer"] = "x-amz-checksum-crc32"
    SigV4Auth(Credentials("test", "test"), "s3", "us-east-1").add_auth(request)
    seed = request.headers["Authorization"].rsplit("Signature=", 1)[1]
    amz_date = request.headers["X-Amz-Date"]
    scope = f"{amz_date[:8]}/us-east-1/s3/aws4_request"
    key = signing_key("test", amz_date[:8], "us-east-1", "s3")
    empty = hashlib.sha256(b"").hexdigest()
    body = bytearray()
    previous = seed
    for offset in range(0, len(payload) + 1, 1024 * 1024):
        chunk = payload[offset : offset + 1024 * 1024]
        to_sign = f"AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n{previous}\n{empty}\n{hashlib.sha256(chunk).hexdigest()}"
        previous = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        body += (
            b"%x;chunk-signature=%s\r\n" % (len(chunk), previous.encode())
            + chunk
            + (b"\r\n" if chunk else b"")
        )
    crc = base64.b64encode(zlib.crc32(payload).to_bytes(4, "big")).decode()
    canonical = f"x-amz-checksum-crc32:{crc}\n"
    to_sign = f"AWS4-HMAC-SHA256-TRAILER\n{amz_date}\n{scope}\n{previous}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    trailer_signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    body += f"x-amz-checksum-crc32:{crc}\r\nx-amz-trailer-signature:{trailer_signature}\r\n\r\n".encode()
    sent = urllib.request.Request(url, data=bytes(body), headers=dict(request.headers.items()), method="PUT")
    with urllib.request.urlopen(sent, timeout=60) as response:
        assert response.status == 200
        assert response.headers["ETag"] == f'"{hashlib.md5(payload).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="chunked.bin", ChecksumMode="ENABLED")
    assert got["Body"].read() == payload
    assert got["ChecksumCRC32"] == crc
    assert not any((onebox.state_dir / "s3" / "incoming").iterdir())
