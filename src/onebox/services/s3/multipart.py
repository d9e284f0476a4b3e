"""Multipart uploads: create, upload (or copy) parts, complete, abort, list, with S3's limits."""

from __future__ import annotations

import base64
import hashlib
import secrets
import zlib
from typing import Any

from onebox.aws import chunked
from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.services.s3 import bodies, notifications
from onebox.services.s3.common import bucket_for, check_key, in_thread, now, owner, storage, timestamp
from onebox.services.s3.objects import (
    _check_metadata_size,
    object_info,
    read_copy_source,
    store_version,
    version_bytes,
    version_id_output,
)
from onebox.services.s3.storage import Blob, Part, Storage, Upload
from onebox.services.s3.tagging import tags_from_header
from onebox.store import Record

api = ServiceApi("s3")

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PART_SIZE = 5 * 1024 * 1024 * 1024
MAX_PARTS = 10000


def no_such_upload(upload_id: str) -> AwsError:
    return AwsError(
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted"
        " or completed.",
        404,
        fields={"UploadId": upload_id},
    )


def _upload(ctx: RequestContext, bucket: Record, key: str, upload_id: str) -> Upload:
    upload = storage(ctx.runtime).get_upload(upload_id)
    if upload is None or upload.bucket != bucket.spec["Id"] or upload.key != key:
        raise no_such_upload(upload_id)
    return upload


def _part_number(value: int) -> int:
    if not 1 <= value <= MAX_PARTS:
        raise AwsError(
            "InvalidArgument",
            "Part number must be an integer between 1 and 10000, inclusive",
            400,
            fields={"ArgumentName": "partNumber", "ArgumentValue": str(value)},
        )
    return value


@api.operation("CreateMultipartUpload")
async def create_multipart_upload(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    key = params["Key"]
    bucket = bucket_for(ctx, params["Bucket"], "s3:PutObject", key)
    check_key(key)
    _check_metadata_size(params)
    info = object_info(ctx, params)
    info["Tags"] = tags_from_header(params.get("Tagging"))
    algorithm = (params.get("ChecksumAlgorithm") or "").lower()
    output: dict[str, Any] = {"Bucket": bucket.id, "Key": key}
    if algorithm:
        checksum_type = params.get("ChecksumType") or (
            "FULL_OBJECT" if algorithm == "crc64nvme" else "COMPOSITE"
        )
        if checksum_type == "FULL_OBJECT" and algorithm not in ("crc32", "crc32c", "crc64nvme"):
            raise AwsError(
                "InvalidRequest",
                f"The FULL_OBJECT checksum type cannot be used with the {algorithm} checksum algorithm.",
                400,
            )
        info["ChecksumAlgorithm"] = algorithm
        info["ChecksumType"] = checksum_type
        output["ChecksumAlgorithm"] = algorithm.upper()
        output["ChecksumType"] = checksum_type
    upload_id = base64.urlsafe_b64encode(secrets.token_bytes(48)).decode().rstrip("=")
    upload = Upload(upload_id, bucket.spec["Id"], key, now(ctx), info)
    await in_thread(storage(ctx.runtime).create_upload, upload)
    output["UploadId"] = upload_id
    return output


async def _store_part(
    ctx: RequestContext, upload_id: str, number: int, blob: Blob, info: dict[str, Any]
) -> Part:
    objects = storage(ctx.runtime)
    part = Part(number, blob.blob_id, blob.size, f'"{blob.md5.hex()}"', now(ctx), info)
    try:
        freed = await in_thread(objects.put_part, upload_id, part)
    except KeyError:
        await in_thread(objects.remove_blobs, [blob.blob_id])
        raise no_such_upload(upload_id) from None
    await in_thread(objects.remove_blobs, freed)
    return part


@api.operation("UploadPart")
async def upload_part(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    from onebox.services.s3.objects import write_body

    key = params["Key"]
    bucket = bucket_for(ctx, params["Bucket"], "s3:PutObject", key)
    number = _part_number(params["PartNumber"])
    upload = _upload(ctx, bucket, key, params["UploadId"])
    algorithm = upload.info.get("ChecksumAlgorithm")
    if algorithm and not params.get("ChecksumAlgorithm") and not bodies.requested_checksums(params):
        params = {**params, "ChecksumAlgorithm": algorithm}
    objects = storage(ctx.runtime)
    blob = await write_body(ctx, params, objects, inline=False)  # parts are files, to assemble
    if blob.size > MAX_PART_SIZE:
        await in_thread(objects.remove_blobs, [blob.blob_id])
        raise AwsError("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size", 400)
    part = await _store_part(ctx, upload.upload_id, number, blob, {"Checksums": blob.checksums})
    output: dict[str, Any] = {"ETag": part.etag}
    for name, value in blob.checksums.items():
        output[bodies.CHECKSUM_MEMBERS[name]] = value
    return output


@api.operation("UploadPartCopy")
async def upload_part_copy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    key = params["Key"]
    bucket = bucket_for(ctx, params["Bucket"], "s3:PutObject", key)
    number = _part_number(params["PartNumber"])
    upload = _upload(ctx, bucket, key, params["UploadId"])
    source_bucket, source = read_copy_source(ctx, params)
    start, length = 0, source.size
    if params.get("CopySourceRange"):
        start, length = _copy_range(params["CopySourceRange"], source.size)
    objects = storage(ctx.runtime)
    algorithm = upload.info.get("ChecksumAlgorithm")
    algorithms = (algorithm,) if algorithm else ()
    path, data = version_bytes(objects, source)
    try:
        if path is None:
            blob = await in_thread(
                bodies.write_bytes, objects, (data or b"")[start : start + length], algorithms
            )
        else:
            blob = await in_thread(bodies.copy_blob, objects, path, start, length, algorithms)
    except FileNotFoundError:
        raise AwsError("NoSuchKey", "The specified key does not exist.", 404) from None
    part = await _store_part(ctx, upload.upload_id, number, blob, {"Checksums": blob.checksums})
    result: dict[str, Any] = {"ETag": part.etag, "LastModified": timestamp(part.last_modified)}
    for name, value in blob.checksums.items():
        result[bodies.CHECKSUM_MEMBERS[name]] = value
    output: dict[str, Any] = {"CopyPartResult": result}
    if source_bucket.spec.get("Versioning"):
        output["CopySourceVersionId"] = source.version_id
    return output


def _copy_range(text: str, size: int) -> tuple[int, int]:
    invalid = AwsError(
        "InvalidArgument",
        f"Range specified is not valid for source object of size: {size}",
        400,
        fields={"ArgumentName": "x-amz-copy-source-range", "ArgumentValue": text},
    )
    if not text.startswith("bytes="):
        raise invalid
    first, _, last = text[len("bytes=") :].partition("-")
    if not first.isdigit() or not last.isdigit():
        raise invalid
    start, end = int(first), int(last)
    if start > end or end >= size:
        raise invalid
    return start, end - start + 1


def _invalid_part(upload_id: str, number: int, etag: str) -> AwsError:
    return AwsError(
        "InvalidPart",
        "One or more of the specified parts could not be found.  The part may not have been uploaded, or the"
        " specified entity tag may not match the part's entity tag.",
        400,
        fields={"UploadId": upload_id, "PartNumber": str(number), "ETag": etag},
    )


def _assemble(objects: Storage, parts: list[Part], full_checksum: str | None) -> Blob:
    """Concatenate the parts into one new durable blob (in the kernel unless a full-object CRC is needed)."""
    writer = objects.writer((full_checksum,) if full_checksum else ())
    try:
        for part in parts:
            path = objects.blob_path(part.blob)
            if full_checksum:
                writer.copy_from(path)
            else:
                writer.append_unhashed(path)
        return writer.commit()
    except BaseException:
        writer.abort()
        raise


def _composite(algorithm: str, parts: list[Part]) -> str:
    """A COMPOSITE checksum: the checksum of the parts' checksums, then `-N`."""
    joined = b"".join(base64.b64decode(part.info["Checksums"][algorithm]) for part in parts)
    if algorithm == "crc32":
        digest = zlib.crc32(joined).to_bytes(4, "big")
    elif algorithm == "crc32c":
        digest = chunked.crc32c(joined).to_bytes(4, "big")
    else:
        digest = hashlib.new(algorithm, joined).digest()
    return f"{base64.b64encode(digest).decode()}-{len(parts)}"


@api.operation("CompleteMultipartUpload")
async def complete_multipart_upload(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    key = params["Key"]
    bucket = bucket_for(ctx, params["Bucket"], "s3:PutObject", key)
    upload_id = params["UploadId"]
    upload = _upload(ctx, bucket, key, upload_id)
    requested = (params.get("MultipartUpload") or {}).get("Parts") or []
    if not requested:
        raise AwsError(
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published schema",
            400,
        )
    objects = storage(ctx.runtime)
    stored = {part.part_number: part for part in await in_thread(objects.list_parts, upload_id)}
    chosen: list[Part] = []
    previous = 0
    for entry in requested:
        number = entry.get("PartNumber") or 0
        if number <= previous:
            raise AwsError(
                "InvalidPartOrder",
                "The list of parts was not in ascending order. Parts must be ordered by part number.",
                400,
                fields={"UploadId": upload_id},
            )
        previous = number
        etag = str(entry.get("ETag") or "")
        part = stored.get(number)
        if part is None or etag.strip('"') != part.etag.strip('"'):
            raise _invalid_part(upload_id, number, etag)
        for name, value in bodies.requested_checksums(entry).items():
            if part.info.get("Checksums", {}).get(name) not in (None, value):
                raise _invalid_part(upload_id, number, etag)
        chosen.append(part)
    for part in chosen[:-1]:
        if part.size < MIN_PART_SIZE:
            raise AwsError(
                "EntityTooSmall",
                "Your proposed upload is smaller than the minimum allowed size",
                400,
                fields={
                    "ProposedSize": str(part.size),
                    "MinSizeAllowed": str(MIN_PART_SIZE),
                    "PartNumber": str(part.part_number),
                    "ETag": part.etag,
                },
            )
    info = dict(upload.info)
    tags = info.pop("Tags", {})
    algorithm = info.pop("ChecksumAlgorithm", None)
    checksum_type = info.pop("ChecksumType", None)
    full = algorithm if checksum_type == "FULL_OBJECT" else None
    blob = await in_thread(_assemble, objects, chosen, full)
    if algorithm:
        if full:
            info["Checksums"] = blob.checksums
        elif all(algorithm in part.info.get("Checksums", {}) for part in chosen):
            info["Checksums"] = {algorithm: _composite(algorithm, chosen)}
        info["ChecksumType"] = checksum_type
    info["PartSizes"] = [part.size for part in chosen]
    info["PartsCount"] = len(chosen)
    md5s = b"".join(bytes.fromhex(part.etag.strip('"')) for part in chosen)
    etag = f'"{hashlib.md5(md5s, usedforsecurity=False).hexdigest()}-{len(chosen)}"'
    version = await store_version(
        ctx,
        bucket,
        key,
        blob,
        etag,
        info,
        tags,
        (params.get("IfMatch"), params.get("IfNoneMatch")),
        upload_id,
    )
    notifications.notify(
        ctx,
        bucket,
        "ObjectCreated:CompleteMultipartUpload",
        key,
        size=version.size,
        etag=version.etag,
        version_id=version.version_id,
    )
    output: dict[str, Any] = {
        "Location": f"{ctx.runtime.config.endpoint}/{bucket.id}/{key}",
        "Bucket": bucket.id,
        "Key": key,
        "ETag": version.etag,
        **version_id_output(bucket, version),
    }
    for name, value in (info.get("Checksums") or {}).items():
        output[bodies.CHECKSUM_MEMBERS[name]] = value
    if info.get("Checksums"):
        output["ChecksumType"] = checksum_type
    return output


@api.operation("AbortMultipartUpload")
async def abort_multipart_upload(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    key = params["Key"]
    bucket = bucket_for(ctx, params["Bucket"], "s3:AbortMultipartUpload", key)
    upload = _upload(ctx, bucket, key, params["UploadId"])
    objects = storage(ctx.runtime)
    try:
        freed = await in_thread(objects.finish_upload, upload.upload_id, None, "")
    except KeyError:
        raise no_such_upload(upload.upload_id) from None
    await in_thread(objects.remove_blobs, freed)
    return {}


@api.operation("ListParts")
async def list_parts(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    key = params["Key"]
    bucket = bucket_for(ctx, params["Bucket"], "s3:ListMultipartUploadParts", key)
    upload = _upload(ctx, bucket, key, params["UploadId"])
    marker = params.get("PartNumberMarker") or 0
    max_parts = min(params.get("MaxParts") if params.get("MaxParts") is not None else 1000, 1000)
    parts = [
        p
        for p in await in_thread(storage(ctx.runtime).list_parts, upload.upload_id)
        if p.part_number > marker
    ]
    page = parts[:max_parts]
    truncated = len(parts) > max_parts
    initiator = owner(upload.info.get("Owner", ""))
    output: dict[str, Any] = {
        "Bucket": bucket.id,
        "Key": key,
        "UploadId": upload.upload_id,
        "PartNumberMarker": marker,
        "MaxParts": max_parts,
        "IsTruncated": truncated,
        "Initiator": initiator,
        "Owner": initiator,
        "StorageClass": upload.info.get("StorageClass", "STANDARD"),
        "Parts": [
            {
                "PartNumber": p.part_number,
                "LastModified": timestamp(p.last_modified),
                "ETag": p.etag,
                "Size": p.size,
                **{bodies.CHECKSUM_MEMBERS[n]: v for n, v in (p.info.get("Checksums") or {}).items()},
            }
            for p in page
        ],
    }
    if page:
        output["NextPartNumberMarker"] = page[-1].part_number
    if upload.info.get("ChecksumAlgorithm"):
        output["ChecksumAlgorithm"] = upload.info["ChecksumAlgorithm"].upper()
        output["ChecksumType"] = upload.info.get("ChecksumType")
    return output


@api.operation("ListMultipartUploads")
async def list_multipart_uploads(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket = bucket_for(ctx, params["Bucket"], "s3:ListBucketMultipartUploads")
    prefix = params.get("Prefix") or ""
    delimiter = params.get("Delimiter") or ""
    key_marker = params.get("KeyMarker") or ""
    upload_marker = params.get("UploadIdMarker") or ""
    max_uploads = min(params.get("MaxUploads") if params.get("MaxUploads") is not None else 1000, 1000)
    uploads = await in_thread(storage(ctx.runtime).list_uploads, bucket.spec["Id"])
    entries: list[tuple[Upload | None, str | None]] = []
    seen_prefixes: set[str] = set()
    passed_marker = not upload_marker
    for upload in uploads:
        if not upload.key.startswith(prefix):
            continue
        if key_marker:
            if upload.key < key_marker:
                continue
            if upload.key == key_marker:
                if not upload_marker:
                    continue
                if not passed_marker:
                    passed_marker = upload.upload_id == upload_marker
                    continue
        if delimiter:
            position = upload.key.find(delimiter, len(prefix))
            if position >= 0:
                common = upload.key[: position + len(delimiter)]
                if common not in seen_prefixes:
                    seen_prefixes.add(common)
                    entries.append((None, common))
                continue
        entries.append((upload, None))
    page = entries[:max_uploads]
    truncated = len(entries) > max_uploads
    output: dict[str, Any] = {
        "Bucket": bucket.id,
        "KeyMarker": key_marker,
        "UploadIdMarker": upload_marker,
        "Prefix": prefix,
        "MaxUploads": max_uploads,
        "IsTruncated": truncated,
        "Uploads": [
            {
                "UploadId": u.upload_id,
                "Key": u.key,
                "Initiated": timestamp(u.initiated),
                "StorageClass": u.info.get("StorageClass", "STANDARD"),
                "Owner": owner(u.info.get("Owner", "")),
                "Initiator": owner(u.info.get("Owner", "")),
                **(
                    {"ChecksumAlgorithm": u.info["ChecksumAlgorithm"].upper()}
                    if u.info.get("ChecksumAlgorithm")
                    else {}
                ),
            }
            for u, _ in page
            if u is not None
        ],
        "CommonPrefixes": [{"Prefix": p} for _, p in page if p is not None],
    }
    if delimiter:
        output["Delimiter"] = delimiter
    if truncated and page:
        last_upload, last_prefix = page[-1]
        output["NextKeyMarker"] = last_upload.key if last_upload else last_prefix
        if last_upload:
            output["NextUploadIdMarker"] = last_upload.upload_id
    return output
