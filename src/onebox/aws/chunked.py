"""Decoding `aws-chunked` request bodies and verifying their chunk signatures and trailing checksums.

Three framings reach S3 PutObject/UploadPart (docs/sigv4.md has the wire format of each):

- `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: every chunk signed, each signature chained to the last,
  starting from the request's seed signature (Java/Go SDKs, minio-go).
- `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`: the same plus signed trailing headers.
- `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: plain chunks plus a trailing checksum; what boto3 and the
  AWS CLI send over HTTPS for uploads with the default CRC32 checksum.

Checksums are computed with the standard library (zlib, hashlib) plus small table-driven CRC32C
and CRC64/NVME implementations, so no new dependency is needed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from onebox.aws.errors import AwsError
from onebox.aws.http import BodySpool, HttpRequest, SpooledBody
from onebox.aws.sigv4 import (
    EMPTY_SHA256,
    PAYLOAD_STREAMING_SIGNED,
    PAYLOAD_STREAMING_SIGNED_TRAILER,
    PAYLOAD_STREAMING_UNSIGNED_TRAILER,
    STREAMING_MODES,
    STREAMING_SIGNED_PAYLOAD,
    STREAMING_SIGNED_PAYLOAD_TRAILER,
    STREAMING_UNSIGNED_PAYLOAD_TRAILER,
    AuthContext,
)

TRAILER_SIGNATURE = "x-amz-trailer-signature"
CHECKSUM_PREFIX = "x-amz-checksum-"
_MAX_SIZE_DIGITS = 16
_HEX_DIGITS = (
    b"0123456789abcdefABCDEF"  # a chunk of 2**64 bytes is already absurd; longer size lines are garbage
)
_MODE_BY_HEADER = {
    STREAMING_SIGNED_PAYLOAD: PAYLOAD_STREAMING_SIGNED,
    STREAMING_SIGNED_PAYLOAD_TRAILER: PAYLOAD_STREAMING_SIGNED_TRAILER,
    STREAMING_UNSIGNED_PAYLOAD_TRAILER: PAYLOAD_STREAMING_UNSIGNED_TRAILER,
}
_SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method."
)


@dataclass(frozen=True, slots=True)
class DecodedBody:
    """The payload an aws-chunked body carries, and its trailing headers (lower-case names)."""

    payload: bytes
    trailers: dict[str, str]


# --- checksums -------------------------------------------------------------------------------


def _reflected_table(polynomial: int) -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ polynomial if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC32C_TABLE = _reflected_table(0x82F63B78)
_CRC64NVME_TABLE = _reflected_table(0x9A6C9329AC4BC9B5)
_MASK32 = 0xFFFFFFFF
_MASK64 = 0xFFFFFFFFFFFFFFFF


def crc32c(data: bytes, crc: int = 0) -> int:
    """CRC-32C (Castagnoli), as S3's CRC32C checksum."""
    table = _CRC32C_TABLE
    crc ^= _MASK32
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ _MASK32


def crc64nvme(data: bytes, crc: int = 0) -> int:
    """CRC-64/NVME, as S3's CRC64NVME checksum."""
    table = _CRC64NVME_TABLE
    crc ^= _MASK64
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ _MASK64


def _crc32_digest(data: bytes) -> bytes:
    return zlib.crc32(data).to_bytes(4, "big")


def _crc32c_digest(data: bytes) -> bytes:
    return crc32c(data).to_bytes(4, "big")


def _crc64nvme_digest(data: bytes) -> bytes:
    return crc64nvme(data).to_bytes(8, "big")


def _hashlib_digest(name: str) -> Callable[[bytes], bytes]:
    def digest(data: bytes) -> bytes:
        return hashlib.new(name, data).digest()

    return digest


# algorithm (lower case, as in `x-amz-checksum-<algorithm>`) -> (S3's name for it, digest function)
CHECKSUMS: dict[str, tuple[str, Callable[[bytes], bytes]]] = {
    "crc32": ("CRC32", _crc32_digest),
    "crc32c": ("CRC32C", _crc32c_digest),
    "crc64nvme": ("CRC64NVME", _crc64nvme_digest),
    "sha1": ("SHA1", _hashlib_digest("sha1")),
    "sha256": ("SHA256", _hashlib_digest("sha256")),
    "sha512": ("SHA512", _hashlib_digest("sha512")),
    "md5": ("MD5", _hashlib_digest("md5")),
}
# Algorithms S3 accepts that need a library we do not ship; their values are taken unverified.
UNVERIFIED_CHECKSUMS = frozenset({"xxhash64", "xxhash3", "xxhash128"})


def compute_checksum(algorithm: str, data: bytes) -> str:
    """The base64 value S3 puts in `x-amz-checksum-<algorithm>` for `data`."""
    _, digest = CHECKSUMS[algorithm.lower()]
    return base64.b64encode(digest(data)).decode("ascii")


def verify_checksum(name: str, value: str, data: bytes, *, trailing: bool = False) -> None:
    """Check an `x-amz-checksum-*` header or trailer against the payload, as S3 does.

    Raises S3's `InvalidRequest` for a value that cannot be a checksum of that algorithm and
    `BadDigest` for one that does not match. Algorithms onebox cannot compute pass unchecked.
    """
    algorithm = name.lower().removeprefix(CHECKSUM_PREFIX)
    entry = CHECKSUMS.get(algorithm)
    if entry is None:
        return
    label, digest = entry
    expected = digest(data)
    where = "trailing header" if trailing else "header"
    try:
        provided = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        provided = b""
    if len(provided) != len(expected):
        raise AwsError("InvalidRequest", f"Value for {name.lower()} {where} is invalid.", 400)
    if not hmac.compare_digest(provided, expected):
        raise AwsError("BadDigest", f"The {label} you specified did not match the calculated checksum.", 400)


# --- aws-chunked -----------------------------------------------------------------------------


def is_aws_chunked(request: HttpRequest) -> bool:
    """Whether the body is aws-chunked framed (some clients omit `Content-Encoding: aws-chunked`)."""
    if "aws-chunked" in request.headers.get("content-encoding", ""):
        return True
    return request.headers.get("x-amz-content-sha256", "").startswith("STREAMING-")


def remaining_content_encoding(value: str) -> str:
    """`Content-Encoding` without `aws-chunked`: what S3 stores as the object's encoding."""
    kept = [part.strip() for part in value.split(",") if part.strip() and part.strip() != "aws-chunked"]
    return ",".join(kept)


def decode_aws_chunked(request: HttpRequest, auth: AuthContext | None) -> DecodedBody:
    """Decode an aws-chunked body, verifying chunk signatures, trailers and the decoded length.

    `auth` is what `sigv4.verify_request` returned for the request; signed framings need it to
    continue the signature chain.
    """
    mode = auth.payload_mode if auth is not None and auth.payload_mode in STREAMING_MODES else None
    if mode is None:
        mode = _MODE_BY_HEADER.get(request.headers.get("x-amz-content-sha256", "").strip())
    signed = mode in (PAYLOAD_STREAMING_SIGNED, PAYLOAD_STREAMING_SIGNED_TRAILER)
    if signed and (auth is None or auth.payload_mode != mode):
        raise AwsError("AccessDenied", "Signed aws-chunked payloads need a signed request.", 403)

    reader = _ChunkReader(request.body, auth if signed else None)
    payload = reader.read_chunks()
    trailers = reader.read_trailers()
    _check_trailers(request, trailers, payload)
    declared = request.headers.get("x-amz-decoded-content-length")
    if declared is not None:
        _check_decoded_length(declared, len(payload))
    return DecodedBody(payload, trailers)


def decode_chunked_body(request: HttpRequest, auth: AuthContext | None) -> bytes:
    """Decode in place for the stages after authentication: returns the payload and rewrites the
    request's framing headers so it reads as a plain request.

    `aws-chunked` leaves `Content-Encoding`, the trailers become ordinary headers (so a parser
    maps `x-amz-checksum-crc32` to `ChecksumCRC32`), `Content-Length` becomes the decoded length,
    and `x-amz-content-sha256` becomes `UNSIGNED-PAYLOAD`: the chunks are already verified, and
    no later stage may mistake the plain body for framing again.
    """
    decoded = decode_aws_chunked(request, auth)
    headers = request.headers
    encoding = remaining_content_encoding(headers.get("content-encoding", ""))
    if encoding:
        headers["content-encoding"] = encoding
    else:
        headers.pop("content-encoding", None)
    for name in ("x-amz-trailer", "x-amz-decoded-content-length", "transfer-encoding"):
        headers.pop(name, None)
    headers.update(decoded.trailers)
    headers["content-length"] = str(len(decoded.payload))
    headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
    request.body = decoded.payload
    return decoded.payload


# The gateway's name for the framing test.
is_chunked = is_aws_chunked


def _incomplete_body() -> AwsError:
    return AwsError("IncompleteBody", "The request body terminated unexpectedly", 400)


def _malformed_trailer() -> AwsError:
    return AwsError(
        "MalformedTrailerError",
        "The request contained trailing data that was not well-formed or did not conform to our published schema.",
        400,
    )


class _ChunkReader:
    """Walks the framing in one pass over the body; `auth` set means chunks are signed."""

    def __init__(self, body: bytes, auth: AuthContext | None) -> None:
        self._body = body
        self._view = memoryview(body)
        self._pos = 0
        self._auth = auth
        self._previous = auth.signature if auth is not None else ""

    def _line(self) -> bytes:
        end = self._body.find(b"\r\n", self._pos)
        if end < 0:
            raise _incomplete_body()
        line = self._body[self._pos : end]
        self._pos = end + 2
        return line

    def read_chunks(self) -> bytes:
        pieces: list[memoryview] = []
        while True:
            size, signature = self._chunk_header(self._line())
            end = self._pos + size
            if end > len(self._body):
                raise _incomplete_body()
            data = self._view[self._pos : end]
            self._pos = end
            if self._auth is not None:
                self._verify_chunk(data, signature)
            if size == 0:
                return b"".join(pieces)
            if self._body[self._pos : self._pos + 2] != b"\r\n":
                raise _incomplete_body()
            self._pos += 2
            pieces.append(data)

    def _chunk_header(self, line: bytes) -> tuple[int, str]:
        size_text, _, extensions = line.partition(b";")
        size_text = size_text.strip()
        # int(..., 16) would also take "-5", "0x5" and "1_0"; the framing allows hex digits only.
        if not size_text or len(size_text) > _MAX_SIZE_DIGITS or size_text.strip(_HEX_DIGITS):
            raise _incomplete_body()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise _incomplete_body() from None
        signature = ""
        for extension in extensions.split(b";"):
            key, _, value = extension.partition(b"=")
            if key.strip() == b"chunk-signature":
                signature = value.strip().decode("ascii", "replace")
        if self._auth is not None and not signature:
            raise _incomplete_body()
        return size, signature

    def _verify_chunk(self, data: memoryview, signature: str) -> None:
        auth = self._auth
        assert auth is not None
        to_sign = (
            f"AWS4-HMAC-SHA256-PAYLOAD\n{auth.amz_date}\n{auth.scope}\n{self._previous}\n"
            f"{EMPTY_SHA256}\n{hashlib.sha256(data).hexdigest()}"
        )
        expected = hmac.digest(auth.signing_key, to_sign.encode(), "sha256").hex()
        if not hmac.compare_digest(expected.encode(), signature.lower().encode("utf-8", "replace")):
            raise AwsError("SignatureDoesNotMatch", _SIGNATURE_MISMATCH, 403)
        self._previous = expected

    def read_trailers(self) -> dict[str, str]:
        """Trailing headers after the last chunk; a signed trailer's signature is checked and dropped."""
        lines = self._trailer_lines()
        if not lines and self._pos < len(self._body):
            # Some encoders close the zero-length chunk with its own CRLF before the trailers.
            lines = self._trailer_lines()
        if self._pos != len(self._body):
            raise _malformed_trailer()
        trailers: dict[str, str] = {}
        signature: str | None = None
        for line in lines:
            name, sep, value = line.partition(b":")
            if not sep or not name.strip():
                raise _malformed_trailer()
            key = name.strip().decode("latin-1").lower()
            text = value.strip().decode("latin-1")
            if key == TRAILER_SIGNATURE:
                signature = text
            else:
                trailers[key] = text
        if self._auth is not None and trailers:
            self._verify_trailer(trailers, signature)
        return trailers

    def _trailer_lines(self) -> list[bytes]:
        lines: list[bytes] = []
        while self._pos < len(self._body):
            line = self._line()
            if not line:
                return lines
            lines.append(line)
        if lines:
            raise _malformed_trailer()  # trailers must end with an empty line
        return lines

    def _verify_trailer(self, trailers: dict[str, str], signature: str | None) -> None:
        auth = self._auth
        assert auth is not None
        if signature is None:
            raise _malformed_trailer()
        canonical = "".join(f"{name}:{trailers[name]}\n" for name in sorted(trailers))
        to_sign = (
            f"AWS4-HMAC-SHA256-TRAILER\n{auth.amz_date}\n{auth.scope}\n{self._previous}\n"
            f"{hashlib.sha256(canonical.encode('latin-1')).hexdigest()}"
        )
        expected = hmac.digest(auth.signing_key, to_sign.encode(), "sha256").hex()
        if not hmac.compare_digest(expected.encode(), signature.lower().encode("utf-8", "replace")):
            raise AwsError("SignatureDoesNotMatch", _SIGNATURE_MISMATCH, 403)


def _check_trailers(request: HttpRequest, trailers: dict[str, str], payload: bytes) -> None:
    declared_header = request.headers.get("x-amz-trailer")
    if declared_header is not None:
        declared = {name.strip().lower() for name in declared_header.split(",") if name.strip()}
        if declared != set(trailers):
            raise _malformed_trailer()
    for name, value in trailers.items():
        if name.startswith(CHECKSUM_PREFIX):
            verify_checksum(name, value, payload, trailing=True)


def _check_decoded_length(declared: str, provided: int) -> None:
    try:
        expected = int(declared.strip())
    except ValueError:
        raise AwsError(
            "InvalidArgument",
            "x-amz-decoded-content-length must be a number",
            400,
            fields={"ArgumentName": "x-amz-decoded-content-length", "ArgumentValue": declared},
        ) from None
    if expected != provided:
        raise AwsError(
            "IncompleteBody",
            "You did not provide the number of bytes specified by the Content-Length HTTP header",
            400,
            fields={"NumberBytesExpected": str(expected), "NumberBytesProvided": str(provided)},
        )


# --- aws-chunked bodies spooled to disk (large S3 uploads) -----------------------------------

_MAX_TRAILER_BYTES = 64 * 1024


class _FileChunkReader(_ChunkReader):
    """`_ChunkReader` over a file: chunks stream to a sink (never the whole payload in memory);
    the small remainder after the last chunk is read into memory for the trailer logic."""

    def __init__(self, auth: AuthContext | None) -> None:
        super().__init__(b"", auth)

    def stream_chunks(self, source: BinaryIO, sink: Callable[[bytes], None]) -> None:
        while True:
            line = source.readline(256)
            if not line.endswith(b"\r\n"):
                raise _incomplete_body()
            size, signature = self._chunk_header(line[:-2])
            data = source.read(size) if size else b""
            if len(data) != size:
                raise _incomplete_body()
            if self._auth is not None:
                self._verify_chunk(memoryview(data), signature)
            if size == 0:
                break
            if source.read(2) != b"\r\n":
                raise _incomplete_body()
            sink(data)
        rest = source.read(_MAX_TRAILER_BYTES + 1)
        if len(rest) > _MAX_TRAILER_BYTES:
            raise _malformed_trailer()
        self._body = rest
        self._view = memoryview(rest)
        self._pos = 0


def decode_chunked_file(request: HttpRequest, auth: AuthContext | None, directory: Path) -> SpooledBody:
    """`decode_chunked_body` for a body the gateway spooled to disk (`request.spooled`): the decoded
    payload goes to a new spool file in `directory`, hashed on the way (MD5 and the checksums the
    trailers name, which are verified here), and the framing headers are rewritten the same way.
    Blocking: call it from a worker thread."""
    raw = request.spooled
    assert raw is not None
    mode = auth.payload_mode if auth is not None and auth.payload_mode in STREAMING_MODES else None
    if mode is None:
        mode = _MODE_BY_HEADER.get(request.headers.get("x-amz-content-sha256", "").strip())
    signed = mode in (PAYLOAD_STREAMING_SIGNED, PAYLOAD_STREAMING_SIGNED_TRAILER)
    if signed and (auth is None or auth.payload_mode != mode):
        raise AwsError("AccessDenied", "Signed aws-chunked payloads need a signed request.", 403)
    declared_trailers = {
        name.strip().lower() for name in request.headers.get("x-amz-trailer", "").split(",") if name.strip()
    }
    algorithms = tuple(
        name[len(CHECKSUM_PREFIX) :]
        for name in declared_trailers
        if name.startswith(CHECKSUM_PREFIX) and name[len(CHECKSUM_PREFIX) :] in CHECKSUMS
    )
    spool = BodySpool(directory, False, algorithms)
    reader = _FileChunkReader(auth if signed else None)
    try:
        with open(raw.path, "rb") as source:
            reader.stream_chunks(source, spool.write)
        trailers = reader.read_trailers()
        decoded = spool.finish()
    except BaseException:
        spool.discard()
        raise
    try:
        if request.headers.get("x-amz-trailer") is not None and declared_trailers != set(trailers):
            raise _malformed_trailer()
        for name, value in trailers.items():
            algorithm = name[len(CHECKSUM_PREFIX) :]
            if name.startswith(CHECKSUM_PREFIX) and algorithm in decoded.checksums:
                computed = decoded.checksums[algorithm]
                if len(value.strip()) != len(computed):
                    raise AwsError("InvalidRequest", f"Value for {name} trailing header is invalid.", 400)
                if value.strip() != computed:
                    label = CHECKSUMS[algorithm][0]
                    raise AwsError(
                        "BadDigest", f"The {label} you specified did not match the calculated checksum.", 400
                    )
        declared = request.headers.get("x-amz-decoded-content-length")
        if declared is not None:
            _check_decoded_length(declared, decoded.size)
    except BaseException:
        decoded.path.unlink(missing_ok=True)
        raise
    headers = request.headers
    encoding = remaining_content_encoding(headers.get("content-encoding", ""))
    if encoding:
        headers["content-encoding"] = encoding
    else:
        headers.pop("content-encoding", None)
    for name in ("x-amz-trailer", "x-amz-decoded-content-length", "transfer-encoding"):
        headers.pop(name, None)
    headers.update(trailers)
    headers["content-length"] = str(decoded.size)
    headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
    raw.path.unlink(missing_ok=True)
    request.spooled = decoded
    return decoded
