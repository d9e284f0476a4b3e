"""Plain HTTP request and response values passed between the gateway and the protocol layer."""

from __future__ import annotations

import hashlib
import os
import secrets
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl


@dataclass
class SpooledBody:
    """A large request body (an S3 object upload) written to a file as it arrived, never held in
    memory. The digests were computed on the way: MD5 always, SHA-256 when the signature covers
    the payload, and the `x-amz-checksum-*` algorithms the client named."""

    path: Path
    size: int
    md5: bytes
    sha256: str | None
    checksums: dict[str, str]


class _Crc:
    def __init__(self, function: Callable[[bytes, int], int], width: int) -> None:
        self._function, self._width, self._value = function, width, 0

    def update(self, data: bytes) -> None:
        self._value = self._function(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(self._width, "big")


def checksum_hasher(algorithm: str) -> Any:
    """A running hasher (update/digest) for an S3 checksum algorithm name (crc32, sha256, ...)."""
    if algorithm == "crc32":
        return _Crc(zlib.crc32, 4)
    if algorithm in ("crc32c", "crc64nvme"):
        from onebox.aws import chunked

        return _Crc(chunked.crc32c, 4) if algorithm == "crc32c" else _Crc(chunked.crc64nvme, 8)
    return hashlib.new(algorithm)


CHECKSUM_ALGORITHMS = ("crc32", "crc32c", "crc64nvme", "sha1", "sha256", "sha512", "md5")


class BodySpool:
    """Writes a body to `directory` chunk by chunk, hashing as it goes (call `write` from a worker
    thread: hashlib and zlib release the GIL, so hashing overlaps the event loop)."""

    def __init__(self, directory: Path, want_sha256: bool, checksums: tuple[str, ...]) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"spool-{secrets.token_hex(12)}"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._sha256 = hashlib.sha256() if want_sha256 else None
        self._checksums = {name: checksum_hasher(name) for name in checksums}
        self.size = 0

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self._md5.update(data)
        if self._sha256 is not None:
            self._sha256.update(data)
        for hasher in self._checksums.values():
            hasher.update(data)
        self.size += len(data)

    def finish(self) -> SpooledBody:
        os.close(self._fd)
        import base64

        return SpooledBody(
            path=self.path,
            size=self.size,
            md5=self._md5.digest(),
            sha256=self._sha256.hexdigest() if self._sha256 is not None else None,
            checksums={name: base64.b64encode(h.digest()).decode() for name, h in self._checksums.items()},
        )

    def discard(self) -> None:
        try:
            os.close(self._fd)
        except OSError:
            pass
        self.path.unlink(missing_ok=True)


@dataclass
class HttpRequest:
    """One HTTP request as received.

    `path` is the raw (still percent-encoded) path, `query_string` the raw query without '?',
    `headers` maps lower-case names to values (repeated headers joined with ',').
    """

    method: str
    path: str
    query_string: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    client_ip: str = "127.0.0.1"
    scheme: str = "http"
    # Set instead of `body` for large S3 uploads (see gateway: bodies stream to disk).
    spooled: SpooledBody | None = None

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def query_items(self) -> list[tuple[str, str]]:
        """Decoded query parameters in order, blank values kept."""
        return parse_qsl(self.query_string, keep_blank_values=True)

    def query_params(self) -> dict[str, str]:
        """Decoded query parameters; the first value wins for repeated names."""
        params: dict[str, str] = {}
        for key, value in self.query_items():
            params.setdefault(key, value)
        return params


@dataclass
class HttpResponse:
    """One HTTP response. `body` is bytes, or an async iterator of bytes for streamed payloads."""

    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | AsyncIterator[bytes] = b""

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None

    def set_header(self, name: str, value: str) -> None:
        lowered = name.lower()
        self.headers = [(k, v) for k, v in self.headers if k.lower() != lowered]
        self.headers.append((name, value))
