"""ListObjects (v1 and v2) and ListObjectVersions: key order, prefixes, delimiters, pages."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.services.s3.common import bucket_for, in_thread, owner, storage, timestamp
from onebox.services.s3.storage import Storage, Version

api = ServiceApi("s3")

# Sorts after every character a key may continue with: "after this common prefix".
_PAST = "\U0010ffff"
_BATCH = 1000


def _max_keys(params: dict[str, Any]) -> int:
    value = params.get("MaxKeys")
    if value is None:
        return 1000
    if value < 0:
        raise AwsError(
            "InvalidArgument",
            "Argument maxKeys must be an integer between 0 and 2147483647",
            400,
            fields={"ArgumentName": "maxKeys", "ArgumentValue": str(value)},
        )
    return min(value, 1000)


def _walk(
    fetch: Callable[[str, int | None], list[Version]],
    start: str,
    start_seq: int | None,
    prefix: str,
    delimiter: str,
) -> Iterator[tuple[Version | None, str | None]]:
    """Entries in order: (version, None) for keys, (None, prefix) for rolled-up common prefixes."""
    cursor, cursor_seq = start, start_seq
    while True:
        batch = fetch(cursor, cursor_seq)
        if not batch:
            return
        jumped = False
        for version in batch:
            if delimiter:
                position = version.key.find(delimiter, len(prefix))
                if position >= 0:
                    common = version.key[: position + len(delimiter)]
                    yield None, common
                    # Skip every other key under this prefix with a fresh query.
                    cursor, cursor_seq, jumped = common + _PAST, None, True
                    break
            yield version, None
            cursor, cursor_seq = version.key, version.seq
        if not jumped and len(batch) < _BATCH:
            return


def _page(
    entries: Iterator[tuple[Version | None, str | None]], max_keys: int
) -> tuple[list[tuple[Version | None, str | None]], bool]:
    page: list[tuple[Version | None, str | None]] = []
    for entry in entries:
        if len(page) == max_keys:
            return page, True
        page.append(entry)
    return page, False


def _encoder(params: dict[str, Any]) -> Callable[[str], str]:
    encoding = params.get("EncodingType")
    if encoding is None:
        return lambda text: text
    if encoding != "url":
        raise AwsError("InvalidArgument", "Invalid Encoding Method specified in Request", 400)
    return lambda text: quote(text, safe="/")


def _latest_fetch(
    objects: Storage, bucket_id: str, prefix: str
) -> Callable[[str, int | None], list[Version]]:
    return lambda after, _seq: objects.list_latest(bucket_id, after, prefix, _BATCH)


def _content(version: Version, encode: Callable[[str], str], with_owner: bool) -> dict[str, Any]:
    item: dict[str, Any] = {
        "Key": encode(version.key),
        "LastModified": timestamp(version.last_modified),
        "ETag": version.etag,
        "Size": version.size,
        "StorageClass": version.info.get("StorageClass", "STANDARD"),
    }
    checksums = version.info.get("Checksums") or {}
    if checksums:
        item["ChecksumAlgorithm"] = [name.upper() for name in checksums]
        item["ChecksumType"] = version.info.get("ChecksumType", "FULL_OBJECT")
    if with_owner:
        item["Owner"] = owner(version.info.get("Owner", ""))
    return item


def _list(
    objects: Storage, bucket_id: str, prefix: str, delimiter: str, after: str, max_keys: int
) -> tuple[list[Any], bool]:
    if max_keys == 0:
        return [], False
    return _page(_walk(_latest_fetch(objects, bucket_id, prefix), after, None, prefix, delimiter), max_keys)


@api.operation("ListObjectsV2")
async def list_objects_v2(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket = bucket_for(ctx, params["Bucket"], "s3:ListBucket")
    encode = _encoder(params)
    prefix = params.get("Prefix") or ""
    delimiter = params.get("Delimiter") or ""
    max_keys = _max_keys(params)
    token = params.get("ContinuationToken")
    start_after = params.get("StartAfter") or ""
    after = _decode_token(token) if token is not None else start_after
    page, truncated = await in_thread(
        _list, storage(ctx.runtime), bucket.spec["Id"], prefix, delimiter, after, max_keys
    )
    with_owner = bool(params.get("FetchOwner"))
    output: dict[str, Any] = {
        "Name": bucket.id,
        "Prefix": encode(prefix),
        "MaxKeys": max_keys,
        "KeyCount": len(page),
        "IsTruncated": truncated,
        "Contents": [_content(v, encode, with_owner) for v, _ in page if v is not None],
        "CommonPrefixes": [{"Prefix": encode(p)} for _, p in page if p is not None],
    }
    if delimiter:
        output["Delimiter"] = encode(delimiter)
    if params.get("EncodingType"):
        output["EncodingType"] = params["EncodingType"]
    if token is not None:
        output["ContinuationToken"] = token
    if start_after:
        output["StartAfter"] = encode(start_after)
    if truncated:
        output["NextContinuationToken"] = _encode_token(_resume_after(page[-1]))
    return output


def _resume_after(entry: tuple[Version | None, str | None]) -> str:
    version, common = entry
    return version.key if version is not None else (common or "") + _PAST


def _encode_token(after: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"a": after}).encode()).decode()


def _decode_token(token: str) -> str:
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode()))
        return str(value["a"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise AwsError(
            "InvalidArgument",
            "The continuation token provided is incorrect",
            400,
            fields={"ArgumentName": "continuation-token"},
        ) from None


@api.operation("ListObjects")
async def list_objects(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket = bucket_for(ctx, params["Bucket"], "s3:ListBucket")
    encode = _encoder(params)
    prefix = params.get("Prefix") or ""
    delimiter = params.get("Delimiter") or ""
    max_keys = _max_keys(params)
    marker = params.get("Marker") or ""
    after = marker
    if delimiter and marker.endswith(delimiter) and marker.startswith(prefix):
        after = marker + _PAST  # a NextMarker that named a common prefix: continue past all of it
    page, truncated = await in_thread(
        _list, storage(ctx.runtime), bucket.spec["Id"], prefix, delimiter, after, max_keys
    )
    output: dict[str, Any] = {
        "Name": bucket.id,
        "Prefix": encode(prefix),
        "Marker": encode(marker),
        "MaxKeys": max_keys,
        "IsTruncated": truncated,
        "Contents": [_content(v, encode, True) for v, _ in page if v is not None],
        "CommonPrefixes": [{"Prefix": encode(p)} for _, p in page if p is not None],
    }
    if delimiter:
        output["Delimiter"] = encode(delimiter)
    if params.get("EncodingType"):
        output["EncodingType"] = params["EncodingType"]
    if truncated and delimiter:
        version, common = page[-1]
        output["NextMarker"] = encode(version.key if version is not None else common or "")
    return output


@api.operation("ListObjectVersions")
async def list_object_versions(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket = bucket_for(ctx, params["Bucket"], "s3:ListBucketVersions")
    encode = _encoder(params)
    prefix = params.get("Prefix") or ""
    delimiter = params.get("Delimiter") or ""
    max_keys = _max_keys(params)
    key_marker = params.get("KeyMarker") or ""
    version_marker = params.get("VersionIdMarker")
    objects = storage(ctx.runtime)
    bucket_id = bucket.spec["Id"]
    if version_marker and not key_marker:
        raise AwsError(
            "InvalidArgument",
            "A version-id marker cannot be specified without a key marker.",
            400,
            fields={"ArgumentName": "version-id-marker", "ArgumentValue": version_marker},
        )
    start_seq: int | None = None
    after = key_marker
    if version_marker:
        marked = objects.get(bucket_id, key_marker, version_marker)
        if marked is None:
            raise AwsError(
                "InvalidArgument",
                "Invalid version id specified",
                400,
                fields={"ArgumentName": "version-id-marker", "ArgumentValue": version_marker},
            )
        start_seq = marked.seq
    elif delimiter and key_marker.endswith(delimiter):
        after = key_marker + _PAST

    def fetch(cursor: str, seq: int | None) -> list[Version]:
        return objects.list_versions(bucket_id, cursor, seq, prefix, _BATCH)

    def run() -> tuple[list[Any], bool]:
        if max_keys == 0:
            return [], False
        return _page(_walk(fetch, after, start_seq, prefix, delimiter), max_keys)

    page, truncated = await in_thread(run)
    versions: list[dict[str, Any]] = []
    markers: list[dict[str, Any]] = []
    for version, _ in page:
        if version is None:
            continue
        base = {
            "Key": encode(version.key),
            "VersionId": version.version_id,
            "IsLatest": version.is_latest,
            "LastModified": timestamp(version.last_modified),
            "Owner": owner(version.info.get("Owner", "")),
        }
        if version.is_marker:
            markers.append(base)
        else:
            versions.append(
                {
                    **base,
                    "ETag": version.etag,
                    "Size": version.size,
                    "StorageClass": version.info.get("StorageClass", "STANDARD"),
                }
            )
    output: dict[str, Any] = {
        "Name": bucket.id,
        "Prefix": encode(prefix),
        "KeyMarker": encode(key_marker),
        "MaxKeys": max_keys,
        "IsTruncated": truncated,
        "Versions": versions,
        "DeleteMarkers": markers,
        "CommonPrefixes": [{"Prefix": encode(p)} for _, p in page if p is not None],
    }
    if version_marker:
        output["VersionIdMarker"] = version_marker
    if delimiter:
        output["Delimiter"] = encode(delimiter)
    if params.get("EncodingType"):
        output["EncodingType"] = params["EncodingType"]
    if truncated:
        last_version, last_common = page[-1]
        if last_version is not None:
            output["NextKeyMarker"] = encode(last_version.key)
            output["NextVersionIdMarker"] = last_version.version_id
        else:
            output["NextKeyMarker"] = encode(last_common or "")
    return output
