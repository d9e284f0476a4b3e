"""Multipart uploads with S3's limits and errors, through boto3 against a live daemon."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from botocore.exceptions import ClientError

MIB = 1024 * 1024


def _code(error: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = error.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture
def s3(onebox):
    return onebox.client("s3")


@pytest.fixture
def bucket(s3) -> str:
    name = f"mpu-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def test_complete_builds_the_object_and_the_multipart_etag(s3, bucket) -> None:
    upload = s3.create_multipart_upload(
        Bucket=bucket, Key="big", ContentType="video/mp4", Metadata={"m": "1"}
    )
    upload_id = upload["UploadId"]
    chunks = [b"a" * (5 * MIB), b"b" * (5 * MIB), b"tail"]
    etags = []
    for number, chunk in enumerate(chunks, start=1):
        etags.append(
            s3.upload_part(Bucket=bucket, Key="big", UploadId=upload_id, PartNumber=number, Body=chunk)[
                "ETag"
            ]
        )
    # Uploading a part number again replaces it.
    etags[2] = s3.upload_part(Bucket=bucket, Key="big", UploadId=upload_id, PartNumber=3, Body=b"tail!")[
        "ETag"
    ]
    chunks[2] = b"tail!"
    listed = s3.list_parts(Bucket=bucket, Key="big", UploadId=upload_id)
    assert [p["PartNumber"] for p in listed["Parts"]] == [1, 2, 3]
    assert [p["Size"] for p in listed["Parts"]] == [5 * MIB, 5 * MIB, 5]
    paged = s3.list_parts(Bucket=bucket, Key="big", UploadId=upload_id, MaxParts=2)
    assert paged["IsTruncated"] and paged["NextPartNumberMarker"] == 2
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [("big", upload_id)]
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="big",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]},
    )
    digests = b"".join(hashlib.md5(chunk).digest() for chunk in chunks)
    assert done["ETag"] == f'"{hashlib.md5(digests).hexdigest()}-3"'
    got = s3.get_object(Bucket=bucket, Key="big")
    assert got["Body"].read() == b"".join(chunks)
    assert got["ContentType"] == "video/mp4" and got["Metadata"] == {"m": "1"}
    assert s3.head_object(Bucket=bucket, Key="big", PartNumber=2)["PartsCount"] == 3
    part2 = s3.get_object(Bucket=bucket, Key="big", PartNumber=2)
    assert part2["Body"].read() == chunks[1]
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    with pytest.raises(ClientError) as error:
        s3.list_parts(Bucket=bucket, Key="big", UploadId=upload_id)
    assert _code(error) == ("NoSuchUpload", 404)


def test_limits_and_errors(s3, bucket) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    small = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"small")["ETag"]
    other = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=2, Body=b"other")["ETag"]
    with pytest.raises(ClientError) as error:
        s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=10001, Body=b"x")
    assert _code(error) == ("InvalidArgument", 400)
    with pytest.raises(ClientError) as error:
        s3.upload_part(Bucket=bucket, Key="k", UploadId="nope", PartNumber=1, Body=b"x")
    assert _code(error) == ("NoSuchUpload", 404)

    def complete(parts):
        return s3.complete_multipart_upload(
            Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": parts}
        )

    with pytest.raises(ClientError) as error:
        complete([{"PartNumber": 1, "ETag": small}, {"PartNumber": 2, "ETag": other}])
    assert _code(error) == ("EntityTooSmall", 400)
    with pytest.raises(ClientError) as error:
        complete([{"PartNumber": 2, "ETag": other}, {"PartNumber": 1, "ETag": small}])
    assert _code(error) == ("InvalidPartOrder", 400)
    with pytest.raises(ClientError) as error:
        complete([{"PartNumber": 1, "ETag": '"00000000000000000000000000000000"'}])
    assert _code(error) == ("InvalidPart", 400)
    with pytest.raises(ClientError) as error:
        complete([{"PartNumber": 3, "ETag": small}])
    assert _code(error) == ("InvalidPart", 400)
    # A single small part is fine: the last part has no minimum.
    complete([{"PartNumber": 1, "ETag": small}])
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"small"
    with pytest.raises(ClientError) as error:
        complete([{"PartNumber": 1, "ETag": small}])
    assert _code(error) == ("NoSuchUpload", 404)


def test_abort_and_upload_part_copy(s3, bucket) -> None:
    s3.put_object(Bucket=bucket, Key="source", Body=b"0123456789" * (MIB // 2))  # 5 MiB
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="copy")["UploadId"]
    first = s3.upload_part_copy(
        Bucket=bucket,
        Key="copy",
        UploadId=upload_id,
        PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "source"},
    )["CopyPartResult"]["ETag"]
    second = s3.upload_part_copy(
        Bucket=bucket,
        Key="copy",
        UploadId=upload_id,
        PartNumber=2,
        CopySource={"Bucket": bucket, "Key": "source"},
        CopySourceRange="bytes=0-9",
    )["CopyPartResult"]["ETag"]
    with pytest.raises(ClientError) as error:
        s3.upload_part_copy(
            Bucket=bucket,
            Key="copy",
            UploadId=upload_id,
            PartNumber=3,
            CopySource={"Bucket": bucket, "Key": "source"},
            CopySourceRange="bytes=0-99999999",
        )
    assert _code(error) == ("InvalidArgument", 400)
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="copy",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": first}, {"PartNumber": 2, "ETag": second}]},
    )
    body = s3.get_object(Bucket=bucket, Key="copy")["Body"].read()
    assert body == b"0123456789" * (MIB // 2) + b"0123456789"
    doomed = s3.create_multipart_upload(Bucket=bucket, Key="doomed")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="doomed", UploadId=doomed, PartNumber=1, Body=b"x")
    s3.abort_multipart_upload(Bucket=bucket, Key="doomed", UploadId=doomed)
    with pytest.raises(ClientError) as error:
        s3.abort_multipart_upload(Bucket=bucket, Key="doomed", UploadId=doomed)
    assert _code(error) == ("NoSuchUpload", 404)
    with pytest.raises(ClientError) as error:
        s3.head_object(Bucket=bucket, Key="doomed")
    assert _code(error) == ("404", 404)


def test_checksum_multipart_composite(s3, bucket) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="sum", ChecksumAlgorithm="SHA256")["UploadId"]
    part = s3.upload_part(
        Bucket=bucket,
        Key="sum",
        UploadId=upload_id,
        PartNumber=1,
        Body=b"payload",
        ChecksumAlgorithm="SHA256",
    )
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="sum",
        UploadId=upload_id,
        MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": part["ETag"], "ChecksumSHA256": part["ChecksumSHA256"]}]
        },
    )
    assert done["ChecksumSHA256"].endswith("-1")
    got = s3.get_object(Bucket=bucket, Key="sum", ChecksumMode="ENABLED")
    assert got["Body"].read() == b"payload"
