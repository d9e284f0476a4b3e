"""aws-chunked bodies spooled to disk: decoded file to file, signatures and trailing checksums checked."""

from __future__ import annotations

import base64
import hashlib
import zlib
from pathlib import Path

import pytest

from onebox.aws.chunked import decode_chunked_file
from onebox.aws.errors import AwsError
from onebox.aws.http import HttpRequest, SpooledBody
from onebox.aws.sigv4 import verify_request
from tests.unit.test_chunked import signed_streaming_request
from tests.unit.test_sigv4 import SIGNED_AT, STORE, frozen_signing_time  # noqa: F401 - autouse fixture


def _spool(request: HttpRequest, tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.write_bytes(request.body)
    request.spooled = SpooledBody(raw, len(request.body), b"", None, {})
    request.body = b""


def test_signed_chunks_with_trailer_decode_to_a_file(tmp_path: Path) -> None:
    payload = bytes(range(256)) * 4000  # ~1 MiB over many chunks
    request = signed_streaming_request(payload, 65536, trailer_checksum="crc32")
    auth = verify_request(request, STORE, SIGNED_AT, "s3")
    _spool(request, tmp_path)
    decoded = decode_chunked_file(request, auth, tmp_path / "out")
    assert decoded.path.read_bytes() == payload
    assert decoded.md5 == hashlib.md5(payload).digest()
    assert decoded.checksums == {"crc32": base64.b64encode(zlib.crc32(payload).to_bytes(4, "big")).decode()}
    assert request.spooled is decoded and not (tmp_path / "raw").exists()
    assert request.headers["content-length"] == str(len(payload))
    assert request.headers["x-amz-checksum-crc32"] == decoded.checksums["crc32"]
    assert "content-encoding" not in request.headers


def test_a_tampered_chunk_is_refused(tmp_path: Path) -> None:
    request = signed_streaming_request(b"a" * 200_000, 65536)
    auth = verify_request(request, STORE, SIGNED_AT, "s3")
    request.body = request.body.replace(b"a" * 10, b"b" * 10, 1)
    _spool(request, tmp_path)
    with pytest.raises(AwsError) as error:
        decode_chunked_file(request, auth, tmp_path / "out")
    assert (error.value.code, error.value.status) == ("SignatureDoesNotMatch", 403)
    assert not any((tmp_path / "out").iterdir())


def test_a_wrong_trailing_checksum_is_bad_digest(tmp_path: Path) -> None:
    body = b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"
    request = HttpRequest(
        "PUT",
        "/b/k",
        "",
        {
            "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            "x-amz-trailer": "x-amz-checksum-crc32",
        },
        body,
    )
    _spool(request, tmp_path)
    with pytest.raises(AwsError) as error:
        decode_chunked_file(request, None, tmp_path / "out")
    assert (error.value.code, error.value.status) == ("BadDigest", 400)


def test_truncated_framing_is_incomplete_body(tmp_path: Path) -> None:
    request = HttpRequest(
        "PUT", "/b/k", "", {"x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER"}, b"10\r\nshort"
    )
    _spool(request, tmp_path)
    with pytest.raises(AwsError) as error:
        decode_chunked_file(request, None, tmp_path / "out")
    assert error.value.code == "IncompleteBody"
