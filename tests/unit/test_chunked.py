"""aws-chunked decoding: AWS's published signed-chunk vectors, bodies boto3 really sends, and tampering."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import zlib
from datetime import UTC, datetime

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum, Sha1Checksum, Sha256Checksum

from onebox.aws.chunked import (
    DecodedBody,
    compute_checksum,
    crc32c,
    crc64nvme,
    decode_aws_chunked,
    decode_chunked_body,
    is_aws_chunked,
    verify_checksum,
)
from onebox.aws.credentials import Credential, CredentialStore
from onebox.aws.errors import AwsError
from onebox.aws.http import HttpRequest
from onebox.aws.sigv4 import (
    PAYLOAD_STREAMING_SIGNED_TRAILER,
    AuthContext,
    signing_key,
    verify_request,
)
from tests.unit.test_sigv4 import SIGNED_AT, STORE, capture, frozen_signing_time, to_http  # noqa: F401

# --- AWS's published example (docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html) ---

EXAMPLE_STORE = CredentialStore(
    [Credential("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "111122223333")]
)
EXAMPLE_NOW = datetime(2013, 5, 24, 0, 1, tzinfo=UTC)
SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
CHUNK_SIGNATURES = [
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
]
# The aws-crt test suite's trailer signature over first/second/third after the example's chunks.
TRAILER_SIGNATURE = "df5735bd9f3295cd9386572292562fefc93ba94e80a0a1ddcbd652c4e0a75e6c"


def example_body(*, corrupt: bool = False, trailer: bytes = b"\r\n") -> bytes:
    parts = []
    for size, signature in zip((65536, 1024, 0), CHUNK_SIGNATURES, strict=True):
        data = bytearray(b"a" * size)
        if corrupt and size == 1024:
            data[10] = ord("b")
        parts.append(b"%x;chunk-signature=%s\r\n" % (size, signature.encode()) + bytes(data))
        if size:
            parts.append(b"\r\n")
    return b"".join(parts[:-1]) + parts[-1] + trailer


def example_request(body: bytes, decoded_length: str = "66560") -> HttpRequest:
    headers = {
        "host": "s3.amazonaws.com",
        "x-amz-date": "20130524T000000Z",
        "x-amz-storage-class": "REDUCED_REDUNDANCY",
        "authorization": "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
        "SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
        f"x-amz-decoded-content-length;x-amz-storage-class,Signature={SEED}",
        "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": "66560",
        "content-length": "66824",
    }
    request = HttpRequest("PUT", "/examplebucket/chunkObject.txt", "", headers, body)
    # The seed signature covers the headers as published; a different decoded length is set afterwards.
    request.headers["x-amz-decoded-content-length"] = decoded_length
    return request


def example_auth(request: HttpRequest) -> AuthContext:
    saved = request.headers["x-amz-decoded-content-length"]
    request.headers["x-amz-decoded-content-length"] = "66560"
    auth = verify_request(request, EXAMPLE_STORE, EXAMPLE_NOW, "s3")
    request.headers["x-amz-decoded-content-length"] = saved
    assert auth is not None
    return auth


def test_aws_example_signed_chunks() -> None:
    request = example_request(example_body())
    assert len(request.body) == 66824
    decoded = decode_aws_chunked(request, example_auth(request))
    assert decoded == DecodedBody(b"a" * 66560, {})


def test_aws_example_tampered_chunk() -> None:
    request = example_request(example_body(corrupt=True))
    with pytest.raises(AwsError) as caught:
        decode_aws_chunked(request, example_auth(request))
    assert (caught.value.code, caught.value.status) == ("SignatureDoesNotMatch", 403)


def test_aws_example_reordered_chunks_break_the_chain() -> None:
    body = example_body().replace(CHUNK_SIGNATURES[2].encode(), CHUNK_SIGNATURES[1].encode())
    request = example_request(body)
    with pytest.raises(AwsError) as caught:
        decode_aws_chunked(request, example_auth(request))
    assert caught.value.code == "SignatureDoesNotMatch"


def test_aws_example_wrong_decoded_length() -> None:
    request = example_request(example_body(), decoded_length="66561")
    with pytest.raises(AwsError) as caught:
        decode_aws_chunked(request, example_auth(request))
    error = caught.value
    assert (error.code, error.status) == ("IncompleteBody", 400)
    assert (
        error.message == "You did not provide the number of bytes specified by the Content-Length HTTP header"
    )
    assert error.fields == {"NumberBytesExpected": "66561", "NumberBytesProvided": "66560"}


def test_truncated_body() -> None:
    request = example_request(example_body()[:60000])
    with pytest.raises(AwsError) as caught:
        decode_aws_chunked(request, example_auth(request))
    assert (caught.value.code, caught.value.message) == (
        "IncompleteBody",
        "The request body terminated unexpectedly",
    )


def test_signed_trailer_matches_the_crt_vector() -> None:
    # Continue the published chain into a signed trailer, as STREAMING-...-PAYLOAD-TRAILER does.
    trailer = (
        b"first:1st\r\nsecond:2nd\r\nthird:3rd\r\nx-amz-trailer-signature:%s\r\n\r\n"
        % TRAILER_SIGNATURE.encode()
    )
    request = example_request(example_body(trailer=trailer))
    request.headers["x-amz-trailer"] = "first,second,third"
    auth = _with_mode(example_auth(request), PAYLOAD_STREAMING_SIGNED_TRAILER)
    decoded = decode_aws_chunked(request, auth)
    assert decoded.trailers == {"first": "1st", "second": "2nd", "third": "3rd"}
    tampered = example_request(example_body(trailer=trailer.replace(b"2nd", b"3rd")))
    tampered.headers["x-amz-trailer"] = "first,second,third"
    with pytest.raises(AwsError) as caught:
        decode_aws_chunked(tampered, auth)
    assert caught.value.code == "SignatureDoesNotMatch"


def _with_mode(auth: AuthContext, mode: str) -> AuthContext:
    return AuthContext(
        access_key=auth.access_key,
        account_id=auth.account_id,
        region=auth.region,
        signing_service=auth.signing_service,
        payload_mode=mode,
        signature=auth.signature,
        signing_key=auth.signing_key,
        scope=auth.scope,
        amz_date=auth.amz_date,
    )


# --- signed streaming requests signed by botocore, chunks signed here -------------------------------


def _chunk_signature(key: bytes, amz_date: str, scope: str, previous: str, data: bytes) -> str:
    to_sign = (
        f"AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n{previous}\n"
        f"{hashlib.sha256(b'').hexdigest()}\n{hashlib.sha256(data).hexdigest()}"
    )
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def signed_streaming_request(
    payload: bytes, chunk_size: int, *, trailer_checksum: str | None = None, content_encoding: bool = True
) -> HttpRequest:
    """A streaming PUT as the Java/Go SDKs send it: botocore signs the headers, chunks are chained here."""
    mode = (
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
        if trailer_checksum
        else "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    )
    aws_request = AWSRequest("PUT", "http://localhost:4566/bucket/key")
    aws_request.headers["X-Amz-Content-SHA256"] = mode
    aws_request.headers["X-Amz-Decoded-Content-Length"] = str(len(payload))
    if content_encoding:
        aws_request.headers["Content-Encoding"] = "aws-chunked"
    if trailer_checksum:
        aws_request.headers["X-Amz-Trailer"] = f"x-amz-checksum-{trailer_checksum}"
    SigV4Auth(Credentials("test", "test"), "s3", "us-east-1").add_auth(aws_request)
    request = to_http(aws_request)
    seed = request.headers["authorization"].rsplit("Signature=", 1)[1]
    amz_date = request.headers["x-amz-date"]
    scope = f"{amz_date[:8]}/us-east-1/s3/aws4_request"
    key = signing_key("test", amz_date[:8], "us-east-1", "s3")
    body = bytearray()
    previous = seed
    chunks = [payload[i : i + chunk_size] for i in range(0, len(payload), chunk_size)] + [b""]
    for chunk in chunks:
        previous = _chunk_signature(key, amz_date, scope, previous, chunk)
        body += b"%x;chunk-signature=%s\r\n" % (len(chunk), previous.encode()) + chunk
        if chunk:
            body += b"\r\n"
    if trailer_checksum:
        value = compute_checksum(trailer_checksum, payload)
        name = f"x-amz-checksum-{trailer_checksum}"
        canonical = f"{name}:{value}\n"
        to_sign = (
            f"AWS4-HMAC-SHA256-TRAILER\n{amz_date}\n{scope}\n{previous}\n"
            f"{hashlib.sha256(canonical.encode()).hexdigest()}"
        )
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        body += f"{name}:{value}\r\nx-amz-trailer-signature:{signature}\r\n\r\n".encode()
    else:
        body += b"\r\n"
    request.body = bytes(body)
    return request


def test_signed_streaming_many_chunks() -> None:
    payload = bytes(range(256)) * 100
    request = signed_streaming_request(payload, 8192)
    auth = verify_request(request, STORE, SIGNED_AT, "s3")
    assert auth is not None and auth.payload_mode == "streaming-signed"
    assert decode_aws_chunked(request, auth).payload == payload


def test_signed_streaming_without_content_encoding_header() -> None:
    # minio-go marks streaming uploads with x-amz-content-sha256 alone.
    request = signed_streaming_request(b"hello", 8192, content_encoding=False)
    assert is_aws_chunked(request)
    auth = verify_request(request, STORE, SIGNED_AT, "s3")
    assert decode_aws_chunked(request, auth).payload == b"hello"


@pytest.mark.parametrize("algorithm", ["crc32", "crc32c", "crc64nvme", "sha1", "sha256"])
def test_signed_streaming_with_trailing_checksum(algorithm: str) -> None:
    payload = b"x" * 20000
    request = signed_streaming_request(payload, 8192, trailer_checksum=algorithm)
    auth = verify_request(request, STORE, SIGNED_AT, "s3")
    assert auth is not None and auth.payload_mode == PAYLOAD_STREAMING_SIGNED_TRAILER
    decoded = decode_aws_chunked(request, auth)
    assert decoded.payload == payload
    assert decoded.trailers == {f"x-amz-checksum-{algorithm}": compute_checksum(algorithm, payload)}


def test_signed_streaming_needs_the_seed() -> None:
    request = signed_streaming_request(b"hello", 8192)
    with pytest.raises(AwsError) as caught:
        decode_aws_chunked(request, None)
    assert caught.value.status == 403


def test_extra_blank_line_before_trailers_is_accepted() -> None:
    # Some encoders close the zero-length chunk with its own CRLF before the trailer block.
    body = (
        b"5\r\nhello\r\n0\r\n\r\nx-amz-checksum-crc32:"
        + compute_checksum("crc32", b"hello").encode()
        + b"\r\n\r\n"
    )
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
    assert decode_aws_chunked(request, None).payload == b"hello"


# --- what boto3 sends over HTTPS with default checksums ----------------------------------------------


def boto3_upload(operation: str, body: bytes, **params: object) -> tuple[HttpRequest, AuthContext]:
    request = capture(
        "s3",
        operation,
        {"Bucket": "b", "Key": "k", "Body": body, **params},
        endpoint="https://localhost:4566",
    )
    assert request.headers["x-amz-content-sha256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    assert request.headers["content-encoding"] == "aws-chunked"
    auth = verify_request(request, STORE, SIGNED_AT, "s3")
    assert auth is not None
    return request, auth


def test_boto3_put_object_default_crc32() -> None:
    payload = b"hello world " * 1000
    request, auth = boto3_upload("put_object", payload)
    assert request.headers["x-amz-trailer"] == "x-amz-checksum-crc32"
    assert request.headers["x-amz-decoded-content-length"] == str(len(payload))
    decoded = decode_aws_chunked(request, auth)
    assert decoded.payload == payload
    expected = base64.b64encode(zlib.crc32(payload).to_bytes(4, "big")).decode()
    assert decoded.trailers == {"x-amz-checksum-crc32": expected}


@pytest.mark.parametrize("algorithm", ["SHA1", "SHA256", "CRC32"])
def test_boto3_upload_part_with_chosen_checksum(algorithm: str) -> None:
    request, auth = boto3_upload(
        "upload_part", b"part data", UploadId="u1", PartNumber=2, ChecksumAlgorithm=algorithm
    )
    decoded = decode_aws_chunked(request, auth)
    assert decoded.payload == b"part data"
    assert list(decoded.trailers) == [f"x-amz-checksum-{algorithm.lower()}"]


def test_boto3_empty_body() -> None:
    request, auth = boto3_upload("put_object", b"")
    assert decode_aws_chunked(request, auth).payload == b""


def test_botocore_wrapper_with_small_chunks() -> None:
    payload = bytes(range(256)) * 40
    wrapper = AwsChunkedWrapper(
        io.BytesIO(payload),
        checksum_cls=Sha256Checksum,
        checksum_name="x-amz-checksum-sha256",
        chunk_size=1000,
    )
    request = HttpRequest(
        "PUT",
        "/b/k",
        "",
        {
            "content-encoding": "aws-chunked",
            "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            "x-amz-trailer": "x-amz-checksum-sha256",
            "x-amz-decoded-content-length": str(len(payload)),
        },
        wrapper.read(),
    )
    decoded = decode_aws_chunked(request, None)
    assert decoded.payload == payload
    assert (
        decoded.trailers["x-amz-checksum-sha256"]
        == base64.b64encode(hashlib.sha256(payload).digest()).decode()
    )


def _wrapped(payload: bytes, checksum_cls: type, name: str) -> HttpRequest:
    return HttpRequest(
        "PUT",
        "/b/k",
        "",
        {
            "content-encoding": "gzip,aws-chunked",
            "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            "x-amz-trailer": name,
            "x-amz-decoded-content-length": str(len(payload)),
            "content-length": "999",
        },
        AwsChunkedWrapper(io.BytesIO(payload), checksum_cls=checksum_cls, checksum_name=name).read(),
    )


def test_wrong_trailing_checksum_is_bad_digest() -> None:
    request = _wrapped(b"payload", Crc32Checksum, "x-amz-checksum-crc32")
    request.body = request.body.replace(compute_checksum("crc32", b"payload").encode(), b"AAAAAA==")
    with pytest.raises(AwsError) as caught:
        decode_aws_chunked(request, None)
    error = caught.value
    assert (error.code, error.status) == ("BadDigest", 400)
    assert error.message == "The CRC32 you specified did not match the calculated checksum."


def test_malformed_trailing_checksum_is_invalid_request() -> None:
    request = _wrapped(b"payload", Sha1Checksum, "x-amz-checksum-sha1")
    request.body = request.body.replace(compute_checksum("sha1", b"payload").encode(), b"not base64!")
    with pytest.raises(AwsError) as caught:
        decode_aws_chunked(request, None)
    assert (caught.value.code, caught.value.message) == (
        "InvalidRequest",
        "Value for x-amz-checksum-sha1 trailing header is invalid.",
    )


def test_undeclared_trailer_is_malformed() -> None:
    request = _wrapped(b"payload", Crc32Checksum, "x-amz-checksum-crc32")
    request.headers["x-amz-trailer"] = "x-amz-checksum-sha256"
    with pytest.raises(AwsError) as caught:
        decode_aws_chunked(request, None)
    assert (caught.value.code, caught.value.status) == ("MalformedTrailerError", 400)


def test_wrong_decoded_length_unsigned() -> None:
    request = _wrapped(b"payload", Crc32Checksum, "x-amz-checksum-crc32")
    request.headers["x-amz-decoded-content-length"] = "3"
    with pytest.raises(AwsError) as caught:
        decode_aws_chunked(request, None)
    assert caught.value.code == "IncompleteBody"


def test_garbage_chunk_size() -> None:
    request = _wrapped(b"payload", Crc32Checksum, "x-amz-checksum-crc32")
    request.body = b"zz\r\n" + request.body
    with pytest.raises(AwsError) as caught:
        decode_aws_chunked(request, None)
    assert caught.value.code == "IncompleteBody"


def test_decode_chunked_body_rewrites_the_framing_headers() -> None:
    request = _wrapped(b"payload", Crc32Checksum, "x-amz-checksum-crc32")
    assert decode_chunked_body(request, None) == b"payload"
    assert request.body == b"payload"
    assert request.headers["content-encoding"] == "gzip"
    assert request.headers["content-length"] == "7"
    assert request.headers["x-amz-checksum-crc32"] == compute_checksum("crc32", b"payload")
    assert "x-amz-trailer" not in request.headers
    assert not is_aws_chunked(request)


# --- checksums ---------------------------------------------------------------------------------


def test_crc_check_values() -> None:
    # The standard "123456789" check values of CRC-32C and CRC-64/NVME.
    assert crc32c(b"123456789") == 0xE3069283
    assert crc64nvme(b"123456789") == 0xAE8B14860A799888
    assert crc32c(b"") == 0 and crc64nvme(b"") == 0


def test_checksums_match_botocore() -> None:
    data = b"The quick brown fox jumps over the lazy dog"
    for algorithm, cls in [("crc32", Crc32Checksum), ("sha1", Sha1Checksum), ("sha256", Sha256Checksum)]:
        checksum = cls()
        checksum.update(data)
        assert compute_checksum(algorithm, data) == checksum.b64digest()
    assert compute_checksum("crc32c", data) == base64.b64encode(crc32c(data).to_bytes(4, "big")).decode()


def test_verify_checksum_header_form() -> None:
    verify_checksum("x-amz-checksum-sha256", compute_checksum("sha256", b"abc"), b"abc")
    with pytest.raises(AwsError) as caught:
        verify_checksum("x-amz-checksum-crc64nvme", compute_checksum("crc64nvme", b"abd"), b"abc")
    assert caught.value.message == "The CRC64NVME you specified did not match the calculated checksum."
    with pytest.raises(AwsError) as caught:
        verify_checksum("x-amz-checksum-crc32c", "AAAA", b"abc")
    assert caught.value.message == "Value for x-amz-checksum-crc32c header is invalid."
    verify_checksum("x-amz-checksum-xxhash64", "whatever", b"abc")  # not computable here: accepted


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"5\r\nhel",
        b"5\r\nhelloXX0\r\n\r\n",
        b"-5\r\nhello\r\n0\r\n\r\n",
        b"ffffffffffffffffffff\r\n",
        b"0\r\nno-colon-here\r\n\r\n",
        b"0\r\nx-amz-checksum-crc32:AAAAAA==\r\n",
        b"0\r\n\r\ntrailing garbage",
        "é\r\n".encode(),
    ],
)
def test_malformed_unsigned_bodies_are_aws_errors(body: bytes) -> None:
    request = HttpRequest(
        "PUT", "/b/k", "", {"x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER"}, body
    )
    with pytest.raises(AwsError) as caught:
        decode_aws_chunked(request, None)
    assert caught.value.status == 400


def test_malformed_signed_chunk_header() -> None:
    request = signed_streaming_request(b"hello", 8192)
    auth = verify_request(request, STORE, SIGNED_AT, "s3")
    request.body = request.body.replace(b";chunk-signature=", b";chunk-signature=\xff", 1)
    with pytest.raises(AwsError) as caught:
        decode_aws_chunked(request, auth)
    assert caught.value.code == "SignatureDoesNotMatch"
    request.body = b"5\r\nhello\r\n0\r\n\r\n"  # no signatures at all
    with pytest.raises(AwsError) as caught:
        decode_aws_chunked(request, auth)
    assert caught.value.code == "IncompleteBody"
