"""Object bodies in and out: writing a payload to a blob with its digests checked, reading one back."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, BinaryIO

from onebox.aws import chunked
from onebox.aws.errors import AwsError
from onebox.aws.http import SpooledBody, checksum_hasher
from onebox.services.s3.storage import INLINE_MAX, Blob, Storage

# Checksum members of S3 shapes, by algorithm name as x-amz-checksum-<name> spells it.
CHECKSUM_MEMBERS = {
    "crc32": "ChecksumCRC32",
    "crc32c": "ChecksumCRC32C",
    "crc64nvme": "ChecksumCRC64NVME",
    "sha1": "ChecksumSHA1",
    "sha256": "ChecksumSHA256",
    "sha512": "ChecksumSHA512",
    "md5": "ChecksumMD5",
}

CHUNK = 1024 * 1024


def requested_checksums(params: dict[str, Any]) -> dict[str, str]:
    """Checksums the client sent (header or trailer), by algorithm: verified, then stored."""
    return {name: params[member] for name, member in CHECKSUM_MEMBERS.items() if params.get(member)}


def checksum_algorithms(params: dict[str, Any]) -> tuple[str, ...]:
    """Which checksums to compute while writing: the ones sent, or the one named by ChecksumAlgorithm."""
    names = list(requested_checksums(params))
    algorithm = (params.get("ChecksumAlgorithm") or "").lower()
    if algorithm in CHECKSUM_MEMBERS and algorithm not in names:
        names.append(algorithm)
    return tuple(names)


def content_md5(params: dict[str, Any]) -> bytes | None:
    value = params.get("ContentMD5")
    if value is None:
        return None
    try:
        digest = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 16:
        raise AwsError(
            "InvalidDigest", "The Content-MD5 you specified was invalid.", 400, fields={"Content-MD5": value}
        )
    return digest


def check_digests(blob: Blob, md5: bytes | None, sent: dict[str, str]) -> None:
    """BadDigest for a Content-MD5 or x-amz-checksum-* that does not match what arrived."""
    if md5 is not None and md5 != blob.md5:
        raise AwsError(
            "BadDigest",
            "The Content-MD5 you specified did not match what we received.",
            400,
            fields={
                "ExpectedDigest": base64.b64encode(md5).decode(),
                "CalculatedDigest": base64.b64encode(blob.md5).decode(),
            },
        )
    for name, value in sent.items():
        computed = blob.checksums.get(name)
        if computed is None:
            continue
        if len(value.strip()) != len(computed):
            raise AwsError("InvalidRequest", f"Value for x-amz-checksum-{name} header is invalid.", 400)
        if value.strip() != computed:
            label = chunked.CHECKSUMS[name][0]
            raise AwsError(
                "BadDigest", f"The {label} you specified did not match the calculated checksum.", 400
            )


def inline_blob(data: bytes, algorithms: tuple[str, ...]) -> Blob:
    """A small payload kept in the index: its digests, no file."""
    checksums: dict[str, str] = {}
    for name in algorithms:
        if name in CHECKSUM_MEMBERS:
            hasher = checksum_hasher(name)
            hasher.update(data)
            checksums[name] = base64.b64encode(hasher.digest()).decode()
    return Blob(None, len(data), hashlib.md5(data, usedforsecurity=False).digest(), checksums, bytes(data))


def write_bytes(storage: Storage, data: bytes, algorithms: tuple[str, ...], inline: bool = False) -> Blob:
    """A whole in-memory payload to a new durable blob (run in a thread); small ones stay inline
    when `inline` (they are committed with the index row)."""
    if inline and len(data) <= INLINE_MAX:
        return inline_blob(data, algorithms)
    writer = storage.writer(algorithms)
    try:
        view = memoryview(data)
        for offset in range(0, len(view), CHUNK):
            writer.write(view[offset : offset + CHUNK])
        return writer.commit()
    except BaseException:
        writer.abort()
        raise


def adopt_spooled(storage: Storage, spooled: SpooledBody, algorithms: tuple[str, ...]) -> Blob:
    """A request body the gateway spooled to disk becomes the blob itself (no copy); checksums the
    spool did not compute are computed from the file (run in a thread)."""
    checksums = dict(spooled.checksums)
    missing = [name for name in algorithms if name not in checksums and name in CHECKSUM_MEMBERS]
    if missing:
        hashers = {name: checksum_hasher(name) for name in missing}
        with open(spooled.path, "rb") as source:
            while chunk := source.read(CHUNK):
                for hasher in hashers.values():
                    hasher.update(chunk)
        checksums.update({name: base64.b64encode(h.digest()).decode() for name, h in hashers.items()})
    return storage.adopt(spooled.path, spooled.size, spooled.md5, checksums)


def copy_blob(storage: Storage, source: Path, offset: int, length: int, algorithms: tuple[str, ...]) -> Blob:
    writer = storage.writer(algorithms)
    try:
        writer.copy_from(source, offset, length)
        return writer.commit()
    except BaseException:
        writer.abort()
        raise


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


async def stream_file(handle: BinaryIO, start: int, length: int) -> AsyncIterator[bytes]:
    """Send `length` bytes of an already open blob from `start`, one chunk at a time.

    The file was opened before the handler returned, so an overwrite or delete meanwhile (which
    unlinks the blob) cannot cut the response short: the open handle keeps the bytes readable."""
    try:
        handle.seek(start)
        remaining = length
        while remaining > 0:
            chunk = handle.read(min(remaining, CHUNK))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk
    finally:
        handle.close()
