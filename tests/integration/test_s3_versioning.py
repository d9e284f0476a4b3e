"""Versioning exactly as S3 does it: Enabled, Suspended, the null version, delete markers."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError


def _error(error: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, dict[str, str]]:
    response = error.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["ResponseMetadata"]["HTTPHeaders"],
    )


@pytest.fixture
def s3(onebox):
    return onebox.client("s3")


@pytest.fixture
def bucket(s3) -> str:
    name = f"ver-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def _versions(s3, bucket: str, key: str) -> list[tuple[str, str, bool]]:
    """(kind, version id, is latest), newest first."""
    listed = s3.list_object_versions(Bucket=bucket, Prefix=key)
    entries = [
        ("v", v["VersionId"], v["IsLatest"], v["LastModified"], v["Key"]) for v in listed.get("Versions", [])
    ]
    entries += [
        ("m", m["VersionId"], m["IsLatest"], m["LastModified"], m["Key"])
        for m in listed.get("DeleteMarkers", [])
    ]
    return [(kind, vid, latest) for kind, vid, latest, _, k in entries if k == key]


def test_unversioned_bucket_has_null_versions_only(s3, bucket) -> None:
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"1")
    assert "VersionId" not in put
    s3.put_object(Bucket=bucket, Key="k", Body=b"2")
    assert _versions(s3, bucket, "k") == [("v", "null", True)]
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"2"


def test_enabled_keeps_every_version_and_delete_markers(s3, bucket) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"before")  # the pre-versioning null version
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"two")["VersionId"]
    assert v1 != v2 and "null" not in (v1, v2)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"two"
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=v1)["Body"].read() == b"one"
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"before"
    deleted = s3.delete_object(Bucket=bucket, Key="k")
    assert deleted["DeleteMarker"] is True
    marker = deleted["VersionId"]
    with pytest.raises(ClientError) as error:
        s3.get_object(Bucket=bucket, Key="k")
    code, status, headers = _error(error)
    assert (code, status) == ("NoSuchKey", 404) and headers["x-amz-delete-marker"] == "true"
    with pytest.raises(ClientError) as error:
        s3.head_object(Bucket=bucket, Key="k")
    assert _error(error)[1] == 404 and _error(error)[2]["x-amz-delete-marker"] == "true"
    with pytest.raises(ClientError) as error:
        s3.get_object(Bucket=bucket, Key="k", VersionId=marker)
    code, status, headers = _error(error)
    assert (code, status) == ("MethodNotAllowed", 405) and headers["x-amz-delete-marker"] == "true"
    assert _versions(s3, bucket, "k") == [
        ("v", v2, False),
        ("v", v1, False),
        ("v", "null", False),
        ("m", marker, True),
    ]
    assert "k" not in [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    # Deleting the marker by id brings the object back.
    removed = s3.delete_object(Bucket=bucket, Key="k", VersionId=marker)
    assert removed["DeleteMarker"] is True and removed["VersionId"] == marker
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"two"
    # Deleting a version by id removes it for good.
    s3.delete_object(Bucket=bucket, Key="k", VersionId=v2)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"one"
    with pytest.raises(ClientError) as error:
        s3.get_object(Bucket=bucket, Key="k", VersionId=v2)
    assert _error(error)[:2] == ("NoSuchVersion", 404)
    with pytest.raises(ClientError) as error:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Off"})
    assert _error(error)[1] == 400


def test_suspended_writes_and_deletes_the_null_version(s3, bucket) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    kept = s3.put_object(Bucket=bucket, Key="k", Body=b"kept")["VersionId"]
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    assert s3.put_object(Bucket=bucket, Key="k", Body=b"null-1")["VersionId"] == "null"
    s3.put_object(Bucket=bucket, Key="k", Body=b"null-2")  # overwrites the null version
    assert _versions(s3, bucket, "k") == [("v", "null", True), ("v", kept, False)]
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"null-2"
    # A plain DELETE removes the null version and leaves a null delete marker instead.
    deleted = s3.delete_object(Bucket=bucket, Key="k")
    assert deleted["DeleteMarker"] is True and deleted["VersionId"] == "null"
    assert _versions(s3, bucket, "k") == [("v", kept, False), ("m", "null", True)]
    # Another DELETE keeps exactly one null marker.
    s3.delete_object(Bucket=bucket, Key="k")
    assert _versions(s3, bucket, "k") == [("v", kept, False), ("m", "null", True)]
    # A PUT replaces the null marker with a null version; older versions are untouched.
    s3.put_object(Bucket=bucket, Key="k", Body=b"null-3")
    assert _versions(s3, bucket, "k") == [("v", "null", True), ("v", kept, False)]
    # DELETE by version id still removes that version permanently.
    s3.delete_object(Bucket=bucket, Key="k", VersionId=kept)
    assert _versions(s3, bucket, "k") == [("v", "null", True)]


def test_list_object_versions_pages_keep_is_latest(s3, bucket) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    ids = {
        key: [s3.put_object(Bucket=bucket, Key=key, Body=str(i).encode())["VersionId"] for i in range(3)]
        for key in ("a", "b")
    }
    seen: list[tuple[str, str, bool]] = []
    kwargs: dict[str, str | int] = {"Bucket": bucket, "MaxKeys": 2}
    while True:
        page = s3.list_object_versions(**kwargs)
        seen += [(v["Key"], v["VersionId"], v["IsLatest"]) for v in page.get("Versions", [])]
        if not page["IsTruncated"]:
            break
        kwargs["KeyMarker"] = page["NextKeyMarker"]
        kwargs["VersionIdMarker"] = page["NextVersionIdMarker"]
    expected = [(key, vid, i == 0) for key in ("a", "b") for i, vid in enumerate(reversed(ids[key]))]
    assert seen == expected


def test_delete_objects_with_versions(s3, bucket) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="x", Body=b"1")["VersionId"]
    result = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "x"}, {"Key": "x", "VersionId": v1}]}
    )
    by_version = {d.get("VersionId"): d for d in result["Deleted"]}
    assert by_version[v1]["Key"] == "x"
    assert result["Deleted"][0]["DeleteMarker"] is True and result["Deleted"][0]["DeleteMarkerVersionId"]
    assert _versions(s3, bucket, "x") == [("m", result["Deleted"][0]["DeleteMarkerVersionId"], True)]


def test_lifecycle_configuration_and_a_past_expiration_date(s3, bucket) -> None:
    import time
    from datetime import UTC, datetime

    with pytest.raises(ClientError) as error:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert _error(error)[:2] == ("NoSuchLifecycleConfiguration", 404)
    with pytest.raises(ClientError) as error:
        s3.put_bucket_lifecycle_configuration(
            Bucket=bucket,
            LifecycleConfiguration={
                "Rules": [{"ID": "bad", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 0}}]
            },
        )
    assert _error(error)[:2] == ("InvalidArgument", 400)
    s3.put_object(Bucket=bucket, Key="old/report.csv", Body=b"old")
    s3.put_object(Bucket=bucket, Key="new/report.csv", Body=b"new")
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "old",
                    "Status": "Enabled",
                    "Filter": {"Prefix": "old/"},
                    "Expiration": {"Date": midnight},
                },
                {
                    "ID": "mpu",
                    "Status": "Enabled",
                    "Filter": {},
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
                },
            ]
        },
    )
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert [r["ID"] for r in rules] == ["old", "mpu"] and rules[0]["Expiration"]["Date"] == midnight
    # The sweeper runs when the configuration changes: the expired object goes, the other stays.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        if keys == ["new/report.csv"]:
            break
        time.sleep(0.1)
    assert keys == ["new/report.csv"]
    s3.delete_bucket_lifecycle(Bucket=bucket)
    with pytest.raises(ClientError):
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
