"""Objects: put, get, head, delete (one or many), copy, tagging."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.services.s3 import access, bodies, notifications
from onebox.services.s3.common import (
    ANONYMOUS,
    access_denied,
    bucket_for,
    check_key,
    find_bucket,
    in_thread,
    no_such_bucket,
    no_such_key,
    now,
    quote_etag,
    storage,
    timestamp,
    versioning_state,
)
from onebox.services.s3.conditions import (
    check_read_conditions,
    check_write_conditions,
    parse_range,
    read_condition_params,
)
from onebox.services.s3.storage import INLINE_MAX, NULL_VERSION, Blob, Storage, Version
from onebox.services.s3.tagging import check_tag_set, tag_list, tags_from_header
from onebox.store import Record

api = ServiceApi("s3")

# Content headers stored with an object and returned by GET/HEAD.
CONTENT_HEADERS = ("ContentType", "ContentEncoding", "ContentDisposition", "ContentLanguage", "CacheControl")
DEFAULT_CONTENT_TYPE = "binary/octet-stream"


def new_version_id() -> str:
    """Version ids are opaque URL-safe strings (32 characters, like S3's)."""
    return secrets.token_urlsafe(24)


def object_info(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """What S3 keeps beside the bytes: content headers, user metadata, storage class, owner."""
    info: dict[str, Any] = {name: params[name] for name in CONTENT_HEADERS if params.get(name) is not None}
    info.setdefault("ContentType", DEFAULT_CONTENT_TYPE)
    if params.get("Expires") is not None:
        info["Expires"] = params["Expires"].timestamp()
    if params.get("Metadata"):
        info["Metadata"] = dict(params["Metadata"])
    if params.get("WebsiteRedirectLocation"):
        info["WebsiteRedirectLocation"] = params["WebsiteRedirectLocation"]
    info["StorageClass"] = params.get("StorageClass") or "STANDARD"
    info["Owner"] = ctx.account_id
    if params.get("ACL"):
        info["ACL"] = params["ACL"]
    return info


def check_object_acl(bucket: Record, acl: str | None) -> None:
    """A canned ACL on a write: refused where the bucket disables ACLs or blocks public ones."""
    if acl is None or acl in ("private", "bucket-owner-full-control"):
        return
    if not access.acls_enabled(bucket):
        raise AwsError("AccessControlListNotSupported", "The bucket does not allow ACLs", 400)
    if acl in access.PUBLIC_ACLS and (bucket.spec.get("PublicAccessBlock") or {}).get("BlockPublicAcls"):
        raise access_denied()


def _check_metadata_size(params: dict[str, Any]) -> None:
    metadata = params.get("Metadata") or {}
    size = sum(len(k.encode()) + len(v.encode()) for k, v in metadata.items())
    if size > 2048:
        raise AwsError(
            "MetadataTooLarge",
            "Your metadata headers exceed the maximum allowed metadata size",
            400,
            fields={"Size": str(size), "MaxSizeAllowed": "2048"},
        )


async def store_version(
    ctx: RequestContext,
    bucket: Record,
    key: str,
    blob: Blob,
    etag: str,
    info: dict[str, Any],
    tags: dict[str, str],
    conditions: tuple[str | None, str | None] = (None, None),
    upload_id: str | None = None,
) -> Version:
    """Commit a written blob as the key's newest version; on any refusal the blob is removed."""
    objects = storage(ctx.runtime)
    state = versioning_state(bucket)
    version = Version(
        bucket=bucket.spec["Id"],
        key=key,
        version_id=new_version_id() if state == "Enabled" else NULL_VERSION,
        is_latest=True,
        is_marker=False,
        blob=blob.blob_id,
        size=blob.size,
        etag=etag,
        last_modified=now(ctx),
        info=info,
        tags=tags,
        data=blob.data,
    )
    if_match, if_none_match = conditions

    def check(current: Version | None) -> None:
        check_write_conditions(current, if_match, if_none_match)

    conditional = if_match is not None or if_none_match is not None
    try:
        # Awaited straight from the group committer: no worker thread waits for the commit.
        freed = await asyncio.wrap_future(
            objects.put_future(version, state, check if conditional else None, upload_id)
        )
    except KeyError:
        await in_thread(objects.remove_blobs, [blob.blob_id])
        from onebox.services.s3.multipart import no_such_upload

        raise no_such_upload(upload_id or "") from None
    except BaseException:
        if blob.blob_id is not None:
            await in_thread(objects.remove_blobs, [blob.blob_id])
        raise
    if freed:
        await in_thread(objects.remove_blobs, freed)
    return version


def version_id_output(bucket: Record, version: Version) -> dict[str, Any]:
    return {"VersionId": version.version_id} if versioning_state(bucket) else {}


def checksum_output(info: dict[str, Any]) -> dict[str, Any]:
    output: dict[str, Any] = {}
    for name, value in (info.get("Checksums") or {}).items():
        output[bodies.CHECKSUM_MEMBERS[name]] = value
    if output:
        output["ChecksumType"] = info.get("ChecksumType", "FULL_OBJECT")
    return output


async def write_body(
    ctx: RequestContext, params: dict[str, Any], objects: Storage, inline: bool = True
) -> Blob:
    """The request body as a durable blob (or, small and `inline`, bytes for the index row), its
    Content-MD5 and checksums verified."""
    algorithms = bodies.checksum_algorithms(params)
    md5 = bodies.content_md5(params)
    spooled = ctx.request.spooled
    data = params.get("Body") or b""
    if spooled is not None:
        blob = await in_thread(bodies.adopt_spooled, objects, spooled, algorithms)
    elif inline and len(data) <= INLINE_MAX:
        blob = bodies.inline_blob(data, algorithms)
    else:
        blob = await in_thread(bodies.write_bytes, objects, data, algorithms)
    try:
        bodies.check_digests(blob, md5, bodies.requested_checksums(params))
    except AwsError:
        await in_thread(objects.remove_blobs, [blob.blob_id])
        raise
    return blob


@api.operation("PutObject")
async def put_object(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    key = params["Key"]
    bucket = bucket_for(ctx, params["Bucket"], "s3:PutObject", key)
    check_key(key)
    _check_metadata_size(params)
    check_object_acl(bucket, params.get("ACL"))
    tags = tags_from_header(params.get("Tagging"))
    info = object_info(ctx, params)
    objects = storage(ctx.runtime)
    blob = await write_body(ctx, params, objects)
    if blob.checksums:
        info["Checksums"] = blob.checksums
    version = await store_version(
        ctx,
        bucket,
        key,
        blob,
        quote_etag(blob.md5.hex()),
        info,
        tags,
        (params.get("IfMatch"), params.get("IfNoneMatch")),
    )
    notifications.notify(ctx, bucket, "ObjectCreated:Put", key, **_created(version))
    return {"ETag": version.etag, **version_id_output(bucket, version), **checksum_output(info)}


def _created(version: Version) -> dict[str, Any]:
    return {"size": version.size, "etag": version.etag, "version_id": version.version_id}


def _marker_error(version: Version, key: str, by_id: bool, bucket: Record) -> AwsError:
    headers = {"x-amz-delete-marker": "true", "x-amz-version-id": version.version_id}
    if by_id:
        headers["Last-Modified"] = format_datetime(timestamp(version.last_modified), usegmt=True)
        headers["Allow"] = "DELETE"
        return AwsError(
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
            405,
            fields={"Method": "GET", "ResourceType": "DeleteMarker"},
            headers=headers,
        )
    error = no_such_key(key)
    error.headers.update(headers)
    return error


def find_version(ctx: RequestContext, bucket: Record, key: str, version_id: str | None) -> Version:
    """The version a read names; 404 NoSuchKey / NoSuchVersion, 405 for a delete marker by id."""
    version = storage(ctx.runtime).get(bucket.spec["Id"], key, version_id)
    if version is None:
        if version_id is not None:
            if version_id != NULL_VERSION and not _plausible_version_id(version_id):
                raise AwsError(
                    "InvalidArgument",
                    "Invalid version id specified",
                    400,
                    fields={"ArgumentName": "versionId", "ArgumentValue": version_id},
                )
            raise AwsError(
                "NoSuchVersion",
                "The specified version does not exist.",
                404,
                fields={"Key": key, "VersionId": version_id},
            )
        raise no_such_key(key)
    if version.is_marker:
        raise _marker_error(version, key, version_id is not None, bucket)
    return version


def readable_version(
    ctx: RequestContext, bucket_name: str, key: str, version_id: str | None, action: str = "s3:GetObject"
) -> tuple[Record, Version]:
    """The bucket and version a read names, once the caller may read it: by policy or ownership,
    else by the object's ACL. A missing key is 404 only for callers who may list the bucket, else
    403, so that nobody learns which keys exist without s3:ListBucket."""
    bucket = find_bucket(ctx, bucket_name)
    if bucket is None:
        raise no_such_bucket(bucket_name)
    if version_id is not None:
        action += "Version"
    allowed = access.decide(ctx, bucket, action, key)
    try:
        version = find_version(ctx, bucket, key, version_id)
    except AwsError as error:
        if error.status == 404 and not access.decide(ctx, bucket, "s3:ListBucket"):
            raise access_denied() from None
        if not allowed:
            raise access_denied() from None
        raise
    if not allowed and not access.object_acl_allows(ctx, bucket, version.info.get("ACL"), action):
        raise access_denied()
    return bucket, version


def _plausible_version_id(version_id: str) -> bool:
    return 0 < len(version_id) <= 1024 and all(c.isalnum() or c in "-_.=" for c in version_id)


def object_headers(bucket: Record, version: Version, params: dict[str, Any]) -> dict[str, Any]:
    info = version.info
    output: dict[str, Any] = {
        "ETag": version.etag,
        "LastModified": timestamp(int(version.last_modified)),
        "ContentLength": version.size,
        "AcceptRanges": "bytes",
    }
    for name in CONTENT_HEADERS:
        if info.get(name) is not None:
            output[name] = info[name]
    if info.get("Expires") is not None:
        output["Expires"] = timestamp(info["Expires"])
    if info.get("Metadata"):
        output["Metadata"] = info["Metadata"]
    if info.get("WebsiteRedirectLocation"):
        output["WebsiteRedirectLocation"] = info["WebsiteRedirectLocation"]
    if info.get("StorageClass", "STANDARD") != "STANDARD":
        output["StorageClass"] = info["StorageClass"]
    if info.get("PartsCount") and params.get("PartNumber"):
        output["PartsCount"] = info["PartsCount"]
    if version.tags:
        output["TagCount"] = len(version.tags)
    if versioning_state(bucket):
        output["VersionId"] = version.version_id
    if params.get("ChecksumMode") == "ENABLED":
        output.update(checksum_output(info))
    output["ServerSideEncryption"] = "AES256"
    return output


def _response_overrides(ctx: RequestContext, params: dict[str, Any], output: dict[str, Any]) -> None:
    overrides = {
        "ResponseContentType": "ContentType",
        "ResponseContentLanguage": "ContentLanguage",
        "ResponseContentDisposition": "ContentDisposition",
        "ResponseContentEncoding": "ContentEncoding",
        "ResponseCacheControl": "CacheControl",
        "ResponseExpires": "Expires",
    }
    for name, target in overrides.items():
        if params.get(name) is not None:
            if ctx.account_id == ANONYMOUS:
                raise AwsError(
                    "InvalidRequest",
                    "Request specific response headers cannot be used for anonymous GET requests.",
                    400,
                )
            output[target] = params[name]


def _part_range(version: Version, part_number: int | None) -> tuple[int, int] | None:
    if part_number is None:
        return None
    parts = version.info.get("PartSizes")
    if not parts:
        if part_number == 1:
            return None
        raise AwsError(
            "InvalidPartNumber",
            "The requested partnumber is not satisfiable",
            416,
            fields={"PartNumberRequested": str(part_number), "ActualPartCount": "1"},
        )
    if part_number > len(parts):
        raise AwsError(
            "InvalidPartNumber",
            "The requested partnumber is not satisfiable",
            416,
            fields={"PartNumberRequested": str(part_number), "ActualPartCount": str(len(parts))},
        )
    start = sum(parts[: part_number - 1])
    return start, start + parts[part_number - 1] - 1


def _read(
    ctx: RequestContext, params: dict[str, Any], action: str
) -> tuple[Record, Version, dict[str, Any], tuple[int, int] | None]:
    key = params["Key"]
    version_id = params.get("VersionId")
    bucket, version = readable_version(ctx, params["Bucket"], key, version_id, action)
    check_read_conditions(version, *read_condition_params(params))
    output = object_headers(bucket, version, params)
    _response_overrides(ctx, params, output)
    selected = _part_range(version, params.get("PartNumber"))
    if selected is None:
        selected = parse_range(params.get("Range"), version.size)
    if selected is not None:
        start, end = selected
        # A checksum describes the whole object; S3 sends none with part of it.
        for name in [*bodies.CHECKSUM_MEMBERS.values(), "ChecksumType"]:
            output.pop(name, None)
        output["ContentRange"] = f"bytes {start}-{end}/{version.size}"
        output["ContentLength"] = end - start + 1
    return bucket, version, output, selected


@api.operation("GetObject")
async def get_object(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    for _ in range(3):
        bucket, version, output, selected = _read(ctx, params, "s3:GetObject")
        start, end = selected if selected is not None else (0, version.size - 1)
        if version.size == 0:
            output["Body"] = b""
            return output
        body = open_body(storage(ctx.runtime), version, start, end - start + 1)
        if body is None:
            continue  # overwritten between the index read and the open: read the index again
        output["Body"] = body
        return output
    raise AwsError("InternalError", "We encountered an internal error. Please try again.", 500)


def open_body(
    objects: Storage, version: Version, start: int, length: int
) -> bytes | AsyncIterator[bytes] | None:
    """`length` bytes of a version from `start`: inline bytes, or a stream of its blob file
    (opened now, so a later overwrite cannot cut it short). None if the version vanished."""
    if version.blob is None:
        data = objects.inline_data(version.seq)
        return None if data is None else data[start : start + length]
    try:
        handle = open(objects.blob_path(version.blob), "rb")  # noqa: SIM115 - closed by the stream
    except FileNotFoundError:
        return None
    return bodies.stream_file(handle, start, length)


def version_bytes(objects: Storage, version: Version) -> tuple[Path | None, bytes | None]:
    """Where a version's bytes are: its blob file, or (inline) the bytes themselves."""
    if version.blob is None:
        return None, objects.inline_data(version.seq) or b""
    return objects.blob_path(version.blob), None


@api.operation("HeadObject")
def head_object(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _, _, output, _ = _read(ctx, params, "s3:GetObject")
    return output


@api.operation("DeleteObject")
async def delete_object(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    key = params["Key"]
    version_id = params.get("VersionId")
    action = "s3:DeleteObject" if version_id is None else "s3:DeleteObjectVersion"
    bucket = bucket_for(ctx, params["Bucket"], action, key)
    return await delete_one(ctx, bucket, key, version_id)


async def delete_one(ctx: RequestContext, bucket: Record, key: str, version_id: str | None) -> dict[str, Any]:
    """Delete a version permanently, or (without one) the current object as versioning dictates."""
    objects = storage(ctx.runtime)
    bucket_id = bucket.spec["Id"]
    if version_id is not None:
        if version_id != NULL_VERSION and not _plausible_version_id(version_id):
            raise AwsError("InvalidArgument", "Invalid version id specified", 400)
        removed, freed = await in_thread(objects.delete_version, bucket_id, key, version_id)
        await in_thread(objects.remove_blobs, freed)
        output: dict[str, Any] = {"VersionId": version_id}
        notifications.notify(ctx, bucket, "ObjectRemoved:Delete", key, version_id=version_id)
        if removed is not None and removed.is_marker:
            output["DeleteMarker"] = True
        return output
    state = versioning_state(bucket)
    if not state:
        _, freed = await in_thread(objects.delete_version, bucket_id, key, NULL_VERSION)
        await in_thread(objects.remove_blobs, freed)
        notifications.notify(ctx, bucket, "ObjectRemoved:Delete", key)
        return {}
    marker = Version(
        bucket=bucket_id,
        key=key,
        version_id=new_version_id() if state == "Enabled" else NULL_VERSION,
        is_latest=True,
        is_marker=True,
        blob=None,
        size=0,
        etag="",
        last_modified=now(ctx),
        info={"Owner": ctx.account_id},
    )
    freed = await in_thread(objects.put, marker, state)
    await in_thread(objects.remove_blobs, freed)
    notifications.notify(ctx, bucket, "ObjectRemoved:DeleteMarkerCreated", key, version_id=marker.version_id)
    return {"DeleteMarker": True, "VersionId": marker.version_id}


@api.operation("DeleteObjects")
async def delete_objects(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket = bucket_for(ctx, params["Bucket"], "s3:DeleteObject")
    request = params["Delete"]
    entries = request.get("Objects") or []
    if len(entries) > 1000 or not entries:
        raise AwsError(
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published schema",
            400,
        )
    deleted: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for entry in entries:
        key = entry["Key"]
        version_id = entry.get("VersionId")
        try:
            result = await delete_one(ctx, bucket, key, version_id)
        except AwsError as error:
            errors.append({"Key": key, "VersionId": version_id, "Code": error.code, "Message": error.message})
            continue
        if request.get("Quiet"):
            continue
        item: dict[str, Any] = {"Key": key}
        if version_id is not None:
            item["VersionId"] = version_id
            if result.get("DeleteMarker"):
                item["DeleteMarker"] = True
        elif result.get("DeleteMarker"):
            item["DeleteMarker"] = True
            item["DeleteMarkerVersionId"] = result["VersionId"]
        deleted.append(item)
    output: dict[str, Any] = {}
    if deleted:
        output["Deleted"] = deleted
    if errors:
        output["Errors"] = errors
    return output


def parse_copy_source(copy_source: str) -> tuple[str, str, str | None]:
    """`bucket/key[?versionId=...]`, URL-encoded, an optional leading slash."""
    source, _, query = copy_source.partition("?")
    source = unquote(source).lstrip("/")
    bucket, _, key = source.partition("/")
    version_id = None
    if query.startswith("versionId="):
        version_id = unquote(query[len("versionId=") :])
    if not bucket or not key:
        raise AwsError("InvalidArgument", "Invalid copy source object key", 400)
    return bucket, key, version_id


def read_copy_source(ctx: RequestContext, params: dict[str, Any]) -> tuple[Record, Version]:
    source_bucket_name, source_key, source_version = parse_copy_source(params["CopySource"])
    action = "s3:GetObject" if source_version is None else "s3:GetObjectVersion"
    source_bucket = bucket_for(ctx, source_bucket_name, action, source_key)
    try:
        version = find_version(ctx, source_bucket, source_key, source_version)
    except AwsError as error:
        if error.status == 405:
            raise AwsError(
                "InvalidRequest",
                "The source of a copy request may not specifically refer to a delete marker by version id.",
                400,
            ) from None
        raise
    check_read_conditions(
        version,
        params.get("CopySourceIfMatch"),
        params.get("CopySourceIfNoneMatch"),
        params.get("CopySourceIfModifiedSince"),
        params.get("CopySourceIfUnmodifiedSince"),
        names=(
            "x-amz-copy-source-If-Match",
            "x-amz-copy-source-If-None-Match",
            "x-amz-copy-source-If-Modified-Since",
            "x-amz-copy-source-If-Unmodified-Since",
        ),
        not_modified_status=412,
    )
    return source_bucket, version


@api.operation("CopyObject")
async def copy_object(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    key = params["Key"]
    bucket = bucket_for(ctx, params["Bucket"], "s3:PutObject", key)
    check_key(key)
    _check_metadata_size(params)
    source_bucket, source = read_copy_source(ctx, params)
    replace_metadata = params.get("MetadataDirective") == "REPLACE"
    replace_tags = params.get("TaggingDirective") == "REPLACE"
    if replace_metadata:
        info = object_info(ctx, params)
    else:
        info = {
            name: value
            for name, value in source.info.items()
            if name not in ("Checksums", "ChecksumType", "PartSizes", "PartsCount")
        }
        info["Owner"] = ctx.account_id
        if params.get("StorageClass"):
            info["StorageClass"] = params["StorageClass"]
        if params.get("WebsiteRedirectLocation"):
            info["WebsiteRedirectLocation"] = params["WebsiteRedirectLocation"]
    same_object = source_bucket.id == bucket.id and source.key == key
    if (
        same_object
        and not replace_metadata
        and not params.get("StorageClass")
        and not params.get("WebsiteRedirectLocation")
        and not params.get("ServerSideEncryption")
    ):
        raise AwsError(
            "InvalidRequest",
            "This copy request is illegal because it is trying to copy an object to itself without changing the"
            " object's metadata, storage class, website redirect location or encryption attributes.",
            400,
        )
    tags = tags_from_header(params.get("Tagging")) if replace_tags else dict(source.tags)
    objects = storage(ctx.runtime)
    algorithms: tuple[str, ...] = ()
    algorithm = (params.get("ChecksumAlgorithm") or "").lower()
    if algorithm in bodies.CHECKSUM_MEMBERS:
        algorithms = (algorithm,)
    elif source.info.get("Checksums") and source.info.get("ChecksumType", "FULL_OBJECT") == "FULL_OBJECT":
        algorithms = tuple(source.info["Checksums"])
    path, data = version_bytes(objects, source)
    try:
        if path is None:
            blob = await in_thread(bodies.write_bytes, objects, data or b"", algorithms, True)
        else:
            blob = await in_thread(bodies.copy_blob, objects, path, 0, source.size, algorithms)
    except FileNotFoundError:
        raise no_such_key(source.key) from None
    if blob.checksums:
        info["Checksums"] = blob.checksums
    version = await store_version(
        ctx,
        bucket,
        key,
        blob,
        quote_etag(blob.md5.hex()),
        info,
        tags,
        (params.get("IfMatch"), params.get("IfNoneMatch")),
    )
    notifications.notify(ctx, bucket, "ObjectCreated:Copy", key, **_created(version))
    output: dict[str, Any] = {
        "CopyObjectResult": {
            "ETag": version.etag,
            "LastModified": timestamp(version.last_modified),
            **{k: v for k, v in checksum_output(info).items() if k != "ChecksumType"},
        },
        **version_id_output(bucket, version),
    }
    if versioning_state(source_bucket):
        output["CopySourceVersionId"] = source.version_id
    return output


# -- tagging ---------------------------------------------------------------------------------------


def _tag_target(ctx: RequestContext, params: dict[str, Any], action: str) -> tuple[Record, Version]:
    key = params["Key"]
    version_id = params.get("VersionId")
    bucket = bucket_for(
        ctx,
        params["Bucket"],
        action if version_id is None else action.replace("Tagging", "VersionTagging"),
        key,
    )
    return bucket, find_version(ctx, bucket, key, version_id)


@api.operation("GetObjectTagging")
def get_object_tagging(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket, version = _tag_target(ctx, params, "s3:GetObjectTagging")
    return {"TagSet": tag_list(version.tags), **version_id_output(bucket, version)}


@api.operation("PutObjectTagging")
async def put_object_tagging(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket, version = _tag_target(ctx, params, "s3:PutObjectTagging")
    tags = check_tag_set(params["Tagging"].get("TagSet") or [], limit=10)
    await in_thread(storage(ctx.runtime).set_tags, bucket.spec["Id"], version.key, version.version_id, tags)
    return version_id_output(bucket, version)


@api.operation("DeleteObjectTagging")
async def delete_object_tagging(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket, version = _tag_target(ctx, params, "s3:DeleteObjectTagging")
    await in_thread(storage(ctx.runtime).set_tags, bucket.spec["Id"], version.key, version.version_id, {})
    return version_id_output(bucket, version)
