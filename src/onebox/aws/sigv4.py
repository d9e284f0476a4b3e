"""Server-side AWS Signature Version 4: the `Authorization` header and presigned (query) requests.

The canonical request is rebuilt exactly as botocore's signers build it (botocore/auth.py):
`SigV4Auth` normalises the path and percent-encodes it again, `S3SigV4Auth` signs the path as
sent. Errors carry the code, status and message the real service answers with; the choices and
their sources are in docs/sigv4.md.

Hot-path notes: signing keys are cached per (secret, date, region, service); the canonical URI
of non-S3 paths is cached; query components already in canonical form are not re-encoded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any
from urllib.parse import quote, unquote, unquote_to_bytes

from onebox.aws.credentials import DEFAULT_REGION, Credential, CredentialStore
from onebox.aws.errors import AwsError
from onebox.aws.http import HttpRequest

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_SKEW_SECONDS = 15 * 60
MAX_PRESIGNED_EXPIRES = 7 * 24 * 3600

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED_PAYLOAD = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_PAYLOAD_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_PAYLOAD_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"

# AuthContext.payload_mode values.
PAYLOAD_HASHED = "hashed"
PAYLOAD_UNSIGNED = "unsigned"
PAYLOAD_STREAMING_SIGNED = "streaming-signed"
PAYLOAD_STREAMING_SIGNED_TRAILER = "streaming-signed-trailer"
PAYLOAD_STREAMING_UNSIGNED_TRAILER = "streaming-unsigned-trailer"

_PAYLOAD_LITERALS: dict[str, str] = {
    UNSIGNED_PAYLOAD: PAYLOAD_UNSIGNED,
    STREAMING_SIGNED_PAYLOAD: PAYLOAD_STREAMING_SIGNED,
    STREAMING_SIGNED_PAYLOAD_TRAILER: PAYLOAD_STREAMING_SIGNED_TRAILER,
    STREAMING_UNSIGNED_PAYLOAD_TRAILER: PAYLOAD_STREAMING_UNSIGNED_TRAILER,
}
STREAMING_MODES = frozenset(
    {PAYLOAD_STREAMING_SIGNED, PAYLOAD_STREAMING_SIGNED_TRAILER, PAYLOAD_STREAMING_UNSIGNED_TRAILER}
)

_PRESIGN_PARAMS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-Date",
    "X-Amz-SignedHeaders",
)
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
# Characters SigV4 leaves unencoded in query components (RFC 3986 unreserved).
_CANONICAL_COMPONENT = re.compile(r"[A-Za-z0-9\-._~]*")
_ISO_BASIC = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True, slots=True)
class AuthContext:
    """Who signed a request and what chunk verification needs to continue the signature chain."""

    access_key: str
    account_id: str
    region: str
    signing_service: str
    payload_mode: str
    signature: str  # the seed signature for aws-chunked bodies
    signing_key: bytes = field(repr=False)
    scope: str  # "20130524/us-east-1/s3/aws4_request"
    amz_date: str  # "20130524T000000Z"
    presigned: bool = False
    security_token: str | None = field(default=None, repr=False)


# --- error styles -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Style:
    """How a family of services names authentication failures: (code, status) per kind."""

    name: str
    unknown_key: tuple[str, int]
    mismatch: tuple[str, int]
    incomplete: tuple[str, int]
    expired: tuple[str, int]
    # Query and JSON services append the canonical request and string-to-sign to a mismatch.
    explain_mismatch: bool


_QUERY = _Style(
    "query",
    ("InvalidClientTokenId", 403),
    ("SignatureDoesNotMatch", 403),
    ("IncompleteSignature", 400),
    ("SignatureDoesNotMatch", 403),
    True,
)
_JSON = _Style(
    "json",
    ("UnrecognizedClientException", 400),
    ("InvalidSignatureException", 400),
    ("IncompleteSignatureException", 400),
    ("InvalidSignatureException", 400),
    True,
)
_EC2 = _Style(
    "ec2",
    ("AuthFailure", 401),
    ("AuthFailure", 401),
    ("IncompleteSignature", 400),
    ("RequestExpired", 400),
    False,
)
_S3 = _Style(
    "s3",
    ("InvalidAccessKeyId", 403),
    ("SignatureDoesNotMatch", 403),
    ("AuthorizationHeaderMalformed", 400),
    ("RequestTimeTooSkewed", 403),
    False,
)

_TOKEN_INVALID = "The security token included in the request is invalid."
_EC2_AUTH_FAILURE = "AWS was not able to validate the provided access credentials"
_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)
_S3_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method."
)
_S3_HEADER_MALFORMED = "The authorization header is malformed; "
_S3_QUERY_CREDENTIAL = "Error parsing the X-Amz-Credential parameter; "
_S3_CREDENTIAL_SHAPE = (
    'the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".'
)
_S3_NO_DATE = "AWS authentication requires a valid Date or x-amz-date header"
_S3_V2_UNSUPPORTED = (
    "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."
)
_S3_ONE_MECHANISM = (
    "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string "
    "parameter or the Authorization header should be specified"
)
_S3_CONTENT_SHA256_VALUES = (
    "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, "
    "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER "
    "or a valid sha256 value."
)


@lru_cache(maxsize=64)
def _style_of(service_name: str) -> _Style:
    if service_name == "s3":
        return _S3
    if service_name == "ec2":
        return _EC2
    try:
        from onebox.aws.specs import protocols_of, service_model

        model = service_model(service_name)
    except Exception:  # an unknown service still gets a sensible family
        return _QUERY
    protocols = protocols_of(model)
    if "awsQueryCompatible" in model.metadata or "query" in protocols or "rest-xml" in protocols:
        return _QUERY
    return _JSON


@lru_cache(maxsize=64)
def _signing_names(service_name: str) -> frozenset[str]:
    """The credential-scope service names a botocore service accepts (empty: accept any)."""
    try:
        from onebox.aws.specs import service_model, signing_name

        return frozenset({signing_name(service_model(service_name))})
    except Exception:
        return frozenset()


def _error(
    style: _Style, kind: str, message: str, fields: dict[str, Any] | None = None, code: str | None = None
) -> AwsError:
    default_code, status = getattr(style, kind)
    return AwsError(code or default_code, message, status, fields=fields)


def _format_time(moment: datetime) -> str:
    return moment.strftime(_ISO_BASIC)


def _skew_error(style: _Style, amz_date: str, request_time: datetime, now: datetime) -> AwsError:
    if style is _S3:
        return _error(
            style,
            "expired",
            "The difference between the request time and the current time is too large.",
            {
                "RequestTime": amz_date,
                "ServerTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "MaxAllowedSkewMilliseconds": str(MAX_SKEW_SECONDS * 1000),
            },
        )
    if style is _EC2:
        return _error(style, "expired", "Request has expired.")
    window = timedelta(seconds=MAX_SKEW_SECONDS)
    if request_time < now:
        message = (
            f"Signature expired: {amz_date} is now earlier than {_format_time(now - window)} "
            f"({_format_time(now)} - 15 min.)"
        )
    else:
        message = (
            f"Signature not yet current: {amz_date} is still later than {_format_time(now + window)} "
            f"({_format_time(now)} + 15 min.)"
        )
    return _error(style, "expired", message)


def _unknown_key_error(style: _Style, access_key: str) -> AwsError:
    if style is _S3:
        return _error(
            style,
            "unknown_key",
            "The AWS Access Key Id you provided does not exist in our records.",
            {"AWSAccessKeyId": access_key},
        )
    if style is _EC2:
        return _error(style, "unknown_key", _EC2_AUTH_FAILURE)
    return _error(style, "unknown_key", _TOKEN_INVALID)


def _mismatch_error(
    style: _Style, access_key: str, provided: str, canonical_request: str, string_to_sign: str
) -> AwsError:
    if style is _S3:
        return _error(
            style,
            "mismatch",
            _S3_MISMATCH,
            {
                "AWSAccessKeyId": access_key,
                "StringToSign": string_to_sign,
                "SignatureProvided": provided,
                "StringToSignBytes": _hex_bytes(string_to_sign),
                "CanonicalRequest": canonical_request,
                "CanonicalRequestBytes": _hex_bytes(canonical_request),
            },
        )
    if style is _EC2:
        return _error(style, "mismatch", _EC2_AUTH_FAILURE)
    message = _MISMATCH
    if style.explain_mismatch:
        message += (
            f"\n\nThe Canonical String for this request should have been\n'{canonical_request}'\n\n"
            f"The String-to-Sign should have been\n'{string_to_sign}'\n"
        )
    return _error(style, "mismatch", message)


def _hex_bytes(text: str) -> str:
    return " ".join(f"{byte:02x}" for byte in text.encode("utf-8"))


# --- canonical request pieces ----------------------------------------------------------------


@lru_cache(maxsize=4096)
def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = hmac.digest(f"AWS4{secret}".encode(), date.encode(), "sha256")
    key = hmac.digest(key, region.encode(), "sha256")
    key = hmac.digest(key, service.encode(), "sha256")
    return hmac.digest(key, TERMINATOR.encode(), "sha256")


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The SigV4 signing key for a credential scope (cached)."""
    return _signing_key(secret, date, region, service)


def _remove_dot_segments(path: str) -> str:
    # RFC 3986 section 5.2.4, and, like botocore, empty segments collapse ("//" -> "/").
    output: list[str] = []
    for segment in path.split("/"):
        if not segment or segment == ".":
            continue
        if segment == "..":
            if output:
                output.pop()
        else:
            output.append(segment)
    first = "/" if path.startswith("/") else ""
    last = "/" if path.endswith("/") and output else ""
    return first + "/".join(output) + last


@lru_cache(maxsize=4096)
def _normalized_uri(path: str) -> str:
    """Canonical URI for every service but S3: dot segments removed, then percent-encoded again."""
    if not path:
        return "/"
    return quote(_remove_dot_segments(path), safe="/~")


def canonical_uri(path: str, service_name: str) -> str:
    if service_name == "s3":
        # S3 signs the path exactly as sent (botocore S3SigV4Auth._normalize_url_path).
        return path or "/"
    if path == "/":
        return path
    return _normalized_uri(path)


def _encode_component(text: str) -> str:
    if _CANONICAL_COMPONENT.fullmatch(text):
        return text
    # '+' is a space in a query (form encoding; botocore's own AWSRequest.prepare sends it that way).
    # Decode to bytes so invalid UTF-8 escapes survive byte-exact.
    return quote(unquote_to_bytes(text.replace("+", " ")), safe="-_.~")


def canonical_query_string(raw_query: str, *, drop_signature: bool = False) -> str:
    """Sorted, RFC 3986-encoded `key=value` pairs of the raw query (botocore's canonical form)."""
    if not raw_query:
        return ""
    pairs: list[tuple[str, str]] = []
    for part in raw_query.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        if drop_signature and key == "X-Amz-Signature":
            continue
        pairs.append((_encode_component(key), _encode_component(value)))
    pairs.sort()
    return "&".join(f"{key}={value}" for key, value in pairs)


def _canonical_headers(headers: dict[str, str], signed_headers: list[str]) -> str:
    lines = []
    for name in signed_headers:
        value = headers.get(name, "")
        # Trimall: outer whitespace gone, inner runs folded to one space (botocore _header_value).
        lines.append(f"{name}:{' '.join(value.split())}")
    return "\n".join(lines)


def canonical_request(
    method: str, uri: str, query: str, headers: dict[str, str], signed_headers: list[str], payload_hash: str
) -> str:
    return (
        f"{method.upper()}\n{uri}\n{query}\n{_canonical_headers(headers, signed_headers)}\n\n"
        f"{';'.join(signed_headers)}\n{payload_hash}"
    )


def string_to_sign(amz_date: str, scope: str, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


def _same(expected: str, provided: str) -> bool:
    """Constant-time hex comparison; bytes, because compare_digest refuses non-ASCII text."""
    return hmac.compare_digest(expected.encode(), provided.lower().encode("utf-8", "replace"))


def _same_exact(expected: str, provided: str) -> bool:
    return hmac.compare_digest(expected.encode(), provided.encode("utf-8", "replace"))


def sign(key: bytes, message: str) -> str:
    return hmac.digest(key, message.encode("utf-8"), "sha256").hex()


# --- parsing ---------------------------------------------------------------------------------


@lru_cache(maxsize=1024)  # clients send the same second many times over
def _parse_amz_date(value: str) -> datetime | None:
    """`YYYYMMDDTHHMMSSZ` as an aware datetime, or None if it is not one."""
    if len(value) != 16 or value[8] != "T" or value[15] != "Z":
        return None
    digits = value[:8] + value[9:15]
    if not (digits.isascii() and digits.isdigit()):
        return None
    try:
        return datetime(
            int(value[0:4]),
            int(value[4:6]),
            int(value[6:8]),
            int(value[9:11]),
            int(value[11:13]),
            int(value[13:15]),
            tzinfo=UTC,
        )
    except ValueError:
        return None


def _request_date(headers: dict[str, str]) -> tuple[str, datetime] | None:
    """The signing timestamp: `x-amz-date`, else the HTTP `Date` header (botocore may send either)."""
    amz_date = headers.get("x-amz-date")
    if amz_date is not None:
        parsed = _parse_amz_date(amz_date.strip())
        return (amz_date.strip(), parsed) if parsed else None
    http_date = headers.get("date")
    if http_date is None:
        return None
    try:
        parsed_http = parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed_http.tzinfo is None:
        parsed_http = parsed_http.replace(tzinfo=UTC)
    parsed_http = parsed_http.astimezone(UTC)
    return _format_time(parsed_http), parsed_http


def _query_params(raw_query: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for part in raw_query.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        params.setdefault(unquote(key.replace("+", " ")), unquote(value.replace("+", " ")))
    return params


@dataclass(slots=True)
class _Parsed:
    """What the client claims: the pieces of the Authorization header or the presign query."""

    credential: str
    signed_headers: str
    signature: str
    amz_date: str
    request_time: datetime
    presigned: bool
    security_token: str | None = None
    expires: int | None = None


def _parse_authorization(style: _Style, authorization: str) -> tuple[str, str, str]:
    """(credential, signed headers, signature) of an `AWS4-HMAC-SHA256 ...` header value."""
    parts: dict[str, str] = {}
    body = authorization[len(ALGORITHM) :]
    for raw in body.split(","):
        item = raw.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep:
            if style is _S3:
                raise _s3_malformed(
                    "the authorization header requires three components: Credential, SignedHeaders, "
                    "and Signature."
                )
            raise _error(
                style,
                "incomplete",
                f"'{item}' not a valid key=value pair (missing equal-sign) in Authorization header: "
                f"'{authorization}'.",
            )
        parts[key.strip()] = value.strip()
    missing = [name for name in ("Credential", "Signature", "SignedHeaders") if not parts.get(name)]
    if missing:
        if style is _S3:
            raise _s3_malformed(
                "the authorization header requires three components: Credential, SignedHeaders, and Signature."
            )
        message = " ".join(f"Authorization header requires '{name}' parameter." for name in missing)
        raise _error(style, "incomplete", f"{message} Authorization={authorization}")
    return parts["Credential"], parts["SignedHeaders"], parts["Signature"]


def _s3_malformed(detail: str, fields: dict[str, Any] | None = None) -> AwsError:
    return AwsError("AuthorizationHeaderMalformed", _S3_HEADER_MALFORMED + detail, 400, fields=fields)


def _s3_query_error(message: str) -> AwsError:
    return AwsError("AuthorizationQueryParametersError", message, 400)


def _check_scope(
    style: _Style, credential: str, amz_date: str, service_name: str, presigned: bool
) -> tuple[str, str, str, str]:
    """Validate `AKID/YYYYMMDD/region/service/aws4_request`; returns (access key, date, region, service)."""
    bits = credential.split("/")
    if style is _S3:
        prefix = _S3_QUERY_CREDENTIAL if presigned else _S3_HEADER_MALFORMED

        def fail(detail: str) -> AwsError:
            code = "AuthorizationQueryParametersError" if presigned else "AuthorizationHeaderMalformed"
            return AwsError(code, prefix + detail, 400)

        if len(bits) != 5:
            raise fail(_S3_CREDENTIAL_SHAPE)
        if not bits[2]:
            raise fail("a non-empty region must be provided in the credential.")
        if bits[3] != "s3":
            raise fail(f'incorrect service "{bits[3]}". This endpoint belongs to "s3".')
        if bits[4] != TERMINATOR:
            raise fail(f'incorrect terminal "{bits[4]}". This endpoint uses "{TERMINATOR}".')
        if bits[1] != amz_date[:8]:
            if presigned:
                raise _s3_query_error(
                    f'Invalid credential date "{bits[1]}". This date is not the same as X-Amz-Date: '
                    f'"{amz_date[:8]}".'
                )
            raise _s3_malformed("Invalid credential date. Date is not the same as X-Amz-Date.")
        return bits[0], bits[1], bits[2], bits[3]

    if len(bits) != 5:
        raise _error(
            style,
            "incomplete",
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, "
            f"got '{credential}'",
        )
    access_key, date, region, service, terminator = bits
    if terminator != TERMINATOR:
        raise _error(
            style,
            "mismatch",
            f"Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{terminator}'. ",
        )
    if not region:
        raise _error(style, "mismatch", "Credential should be scoped to a valid region. ")
    expected = _signing_names(service_name)
    if expected and service not in expected:
        raise _error(
            style, "mismatch", f"Credential should be scoped to correct service: '{min(expected)}'. "
        )
    if date != amz_date[:8]:
        raise _error(
            style,
            "mismatch",
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{date}' != '{amz_date[:8]}', from '{amz_date}'.",
        )
    return access_key, date, region, service


# --- the entry point -------------------------------------------------------------------------


def verify_request(
    request: HttpRequest, credentials: CredentialStore, now: datetime, service_name: str
) -> AuthContext | None:
    """Verify a request's SigV4 signature; None for an anonymous request.

    `service_name` is the botocore service name the gateway routed to; it picks the canonical
    URI rules (S3 or the rest) and the error codes. Raises AwsError on any failure.
    """
    style = _style_of(service_name)
    headers = request.headers
    authorization = headers.get("authorization")
    query = request.query_string
    params = _query_params(query) if "X-Amz-" in query or "Signature=" in query else {}
    presigned = "X-Amz-Algorithm" in params or "X-Amz-Signature" in params or "X-Amz-Credential" in params

    v2_query = style is _S3 and "Signature" in params and not presigned
    if authorization is not None:
        if style is _S3 and (presigned or v2_query):
            raise AwsError(
                "InvalidArgument",
                _S3_ONE_MECHANISM,
                400,
                fields={"ArgumentName": "Authorization", "ArgumentValue": authorization},
            )
        if style is _S3 and authorization.startswith("AWS "):
            return _verify_s3_v2_header(request, credentials, authorization, now)
        parsed = _parse_header_auth(style, authorization, headers, now)
    elif presigned:
        parsed = _parse_presigned(style, params, now)
    elif v2_query:
        return _verify_s3_v2_query(request, credentials, params, now)
    else:
        return None

    access_key, date, region, scope_service = _check_scope(
        style, parsed.credential, parsed.amz_date, service_name, parsed.presigned
    )
    credential = credentials.lookup(access_key)
    if credential is None:
        raise _unknown_key_error(style, access_key)

    payload_hash, payload_mode = _payload(style, request, params, parsed.presigned)
    key = _signing_key(credential.secret_key, date, region, scope_service)
    scope = f"{date}/{region}/{scope_service}/{TERMINATOR}"
    signed_headers = [name.strip().lower() for name in parsed.signed_headers.split(";") if name.strip()]
    canonical_query = canonical_query_string(query, drop_signature=parsed.presigned)
    uri = canonical_uri(request.path, service_name)
    canonical = canonical_request(request.method, uri, canonical_query, headers, signed_headers, payload_hash)
    to_sign = string_to_sign(parsed.amz_date, scope, canonical)
    expected = sign(key, to_sign)
    provided = parsed.signature
    if not _same(expected, provided):
        if not _matches_alternative(
            style, request, key, parsed, uri, canonical_query, signed_headers, payload_hash, scope
        ):
            raise _mismatch_error(style, access_key, provided, canonical, to_sign)

    if payload_mode == PAYLOAD_HASHED:
        spooled = request.spooled
        _check_body_hash(
            style,
            request.body,
            payload_hash,
            access_key,
            provided,
            canonical,
            to_sign,
            spooled.sha256 if spooled is not None else None,
        )

    return _context(credential, region, scope_service, payload_mode, provided.lower(), key, scope, parsed)


def _context(
    credential: Credential,
    region: str,
    service: str,
    payload_mode: str,
    signature: str,
    key: bytes,
    scope: str,
    parsed: _Parsed,
) -> AuthContext:
    return AuthContext(
        access_key=credential.access_key,
        account_id=credential.account_id,
        region=region,
        signing_service=service,
        payload_mode=payload_mode,
        signature=signature,
        signing_key=key,
        scope=scope,
        amz_date=parsed.amz_date,
        presigned=parsed.presigned,
        security_token=parsed.security_token,
    )


def _matches_alternative(
    style: _Style,
    request: HttpRequest,
    key: bytes,
    parsed: _Parsed,
    uri: str,
    canonical_query: str,
    signed_headers: list[str],
    payload_hash: str,
    scope: str,
) -> bool:
    """Other spellings of the same request, tried only after a mismatch (so never on the hot path).

    - S3: a client may send a character raw but sign it encoded (or the reverse); AWS re-encodes
      the decoded path, so the re-encoded path is tried too.
    - A header sent several times reaches us joined with ',' and loses where each value began;
      botocore trims each value before joining, so the per-value trimmed form is tried too.
    """
    uris = [uri]
    if style is _S3:
        reencoded = quote(unquote_to_bytes(request.path or "/"), safe="/~")
        if reencoded != uri:
            uris.append(reencoded)
    header_forms = [request.headers]
    if any("," in request.headers.get(name, "") for name in signed_headers):
        split = dict(request.headers)
        for name in signed_headers:
            value = split.get(name)
            if value is not None and "," in value:
                split[name] = ",".join(" ".join(part.split()) for part in value.split(","))
        header_forms.append(split)
    provided = parsed.signature.lower()
    for index_uri, candidate_uri in enumerate(uris):
        for index_headers, headers in enumerate(header_forms):
            if index_uri == 0 and index_headers == 0:
                continue  # the form that already failed
            canonical = canonical_request(
                request.method, candidate_uri, canonical_query, headers, signed_headers, payload_hash
            )
            expected = sign(key, string_to_sign(parsed.amz_date, scope, canonical))
            if _same(expected, provided):
                return True
    return False


def _parse_header_auth(style: _Style, authorization: str, headers: dict[str, str], now: datetime) -> _Parsed:
    scheme = authorization.split(" ", 1)[0]
    if scheme != ALGORITHM:
        if style is _S3:
            raise AwsError(
                "InvalidArgument",
                "Unsupported Authorization Type",
                400,
                fields={"ArgumentName": "Authorization", "ArgumentValue": authorization},
            )
        message = " ".join(
            f"Authorization header requires '{name}' parameter."
            for name in ("Credential", "Signature", "SignedHeaders")
        )
        if "x-amz-date" not in headers and "date" not in headers:
            message += " Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        raise _error(style, "incomplete", f"{message} Authorization={authorization}")

    if style is _S3:
        # S3 checks the date and the clock before it reads the header's components.
        dated = _request_date(headers)
        if dated is None:
            raise AwsError("AccessDenied", _S3_NO_DATE, 403)
        _check_skew(style, dated[0], dated[1], now)
        credential, signed_headers, signature = _parse_authorization(style, authorization)
    else:
        credential, signed_headers, signature = _parse_authorization(style, authorization)
        dated = _request_date(headers)
        if dated is None:
            raise _error(
                style,
                "incomplete",
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
                f"Authorization={authorization}",
            )
        _check_skew(style, dated[0], dated[1], now)
    return _Parsed(
        credential=credential,
        signed_headers=signed_headers,
        signature=signature,
        amz_date=dated[0],
        request_time=dated[1],
        presigned=False,
        security_token=headers.get("x-amz-security-token"),
    )


def _check_skew(style: _Style, amz_date: str, request_time: datetime, now: datetime) -> None:
    delta = (request_time - now).total_seconds()
    if delta > MAX_SKEW_SECONDS or delta < -MAX_SKEW_SECONDS:
        raise _skew_error(style, amz_date, request_time, now)


def _parse_presigned(style: _Style, params: dict[str, str], now: datetime) -> _Parsed:
    if style is _S3:
        return _parse_presigned_s3(params, now)
    algorithm = params.get("X-Amz-Algorithm")
    for name in (*_PRESIGN_PARAMS, "X-Amz-Expires"):
        if not params.get(name):
            raise _error(
                style,
                "incomplete",
                f"AWS query-string parameters must include '{name}'. Re-examine the query-string parameters.",
            )
    if algorithm != ALGORITHM:
        raise _error(style, "incomplete", f"Unsupported AWS 'algorithm': '{algorithm}'")
    amz_date = params["X-Amz-Date"]
    request_time = _parse_amz_date(amz_date)
    if request_time is None:
        raise _error(style, "incomplete", f"Invalid X-Amz-Date '{amz_date}': expecting yyyyMMdd'T'HHmmss'Z'.")
    expires = _int_or_none(params["X-Amz-Expires"])
    if expires is None or expires < 1 or expires > MAX_PRESIGNED_EXPIRES:
        raise _error(
            style,
            "incomplete",
            f"X-Amz-Expires must be an integer between 1 and {MAX_PRESIGNED_EXPIRES}, "
            f"got '{params['X-Amz-Expires']}'.",
        )
    # Outside S3 a presigned request lives only as long as the 15-minute signature window,
    # whatever X-Amz-Expires says (STS behaves this way; see docs/sigv4.md).
    _check_skew(style, amz_date, request_time, now)
    return _Parsed(
        credential=params["X-Amz-Credential"],
        signed_headers=params["X-Amz-SignedHeaders"],
        signature=params["X-Amz-Signature"],
        amz_date=amz_date,
        request_time=request_time,
        presigned=True,
        security_token=params.get("X-Amz-Security-Token"),
        expires=expires,
    )


def _parse_presigned_s3(params: dict[str, str], now: datetime) -> _Parsed:
    # Checked in the order real S3 checks them (see docs/sigv4.md).
    if params.get("X-Amz-Algorithm") != ALGORITHM:
        raise _s3_query_error('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"')
    if any(name not in params for name in (*_PRESIGN_PARAMS, "X-Amz-Expires")):
        raise _s3_query_error(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
            "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."
        )
    amz_date = params["X-Amz-Date"]
    request_time = _parse_amz_date(amz_date)
    if request_time is None:
        raise _s3_query_error("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
    expires = _int_or_none(params["X-Amz-Expires"])
    if expires is None:
        raise _s3_query_error("X-Amz-Expires should be a number")
    if expires < 0:
        raise _s3_query_error("X-Amz-Expires must be non-negative")
    if expires > MAX_PRESIGNED_EXPIRES:
        raise _s3_query_error(
            "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be "
            f"less than {MAX_PRESIGNED_EXPIRES} seconds"
        )
    expires_at = (request_time + timedelta(seconds=expires)).strftime("%Y-%m-%dT%H:%M:%SZ")
    server_time = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    if (request_time - now).total_seconds() > MAX_SKEW_SECONDS:
        raise AwsError(
            "AccessDenied",
            "Request is not yet valid",
            403,
            fields={"X-Amz-Date": amz_date, "Expires": expires_at, "ServerTime": server_time},
        )
    if (now - request_time).total_seconds() > expires:
        raise AwsError(
            "AccessDenied",
            "Request has expired",
            403,
            fields={"X-Amz-Expires": str(expires), "Expires": expires_at, "ServerTime": server_time},
        )
    return _Parsed(
        credential=params["X-Amz-Credential"],
        signed_headers=params["X-Amz-SignedHeaders"],
        signature=params["X-Amz-Signature"],
        amz_date=amz_date,
        request_time=request_time,
        presigned=True,
        security_token=params.get("X-Amz-Security-Token"),
        expires=expires,
    )


def _int_or_none(text: str) -> int | None:
    stripped = text.strip()
    if not stripped.lstrip("-").isdigit():
        return None
    return int(stripped)


def _is_sha256_hex(value: str) -> bool:
    return _SHA256_HEX.fullmatch(value) is not None


def _payload(style: _Style, request: HttpRequest, params: dict[str, str], presigned: bool) -> tuple[str, str]:
    """(the payload line of the canonical request, the payload mode)."""
    declared = request.headers.get("x-amz-content-sha256")
    if presigned and style is _S3:
        # A presigned URL cannot know its body: S3 signs UNSIGNED-PAYLOAD unless the URL says otherwise.
        declared = params.get("X-Amz-Content-Sha256", UNSIGNED_PAYLOAD)
    if declared is None:
        if style is _S3:
            raise AwsError(
                "InvalidRequest", "Missing required header for this request: x-amz-content-sha256", 400
            )
        # Query and JSON clients put the body's hash only into the canonical request.
        return hashlib.sha256(request.body).hexdigest(), PAYLOAD_HASHED
    declared = declared.strip()
    mode = _PAYLOAD_LITERALS.get(declared)
    if mode is not None:
        return declared, mode
    if _is_sha256_hex(declared):
        return declared, PAYLOAD_HASHED
    if style is _S3:
        raise AwsError(
            "InvalidArgument",
            _S3_CONTENT_SHA256_VALUES,
            400,
            fields={"ArgumentName": "x-amz-content-sha256", "ArgumentValue": declared},
        )
    raise _error(style, "incomplete", f"Invalid x-amz-content-sha256 value '{declared}'.")


def _check_body_hash(
    style: _Style,
    body: bytes,
    declared: str,
    access_key: str,
    provided: str,
    canonical: str,
    to_sign: str,
    precomputed: str | None = None,
) -> None:
    """`precomputed`: the SHA-256 of a body spooled to disk as it arrived (S3 uploads)."""
    if precomputed is None and len(declared) == 64 and declared.lower() == EMPTY_SHA256 and not body:
        return
    computed = precomputed or hashlib.sha256(body).hexdigest()
    if computed == declared.lower():
        return
    if style is _S3:
        raise AwsError(
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
            400,
            fields={"ClientComputedContentSHA256": declared, "S3ComputedContentSHA256": computed},
        )
    # Other services fold the body hash into the signature, so a wrong body is a wrong signature.
    raise _mismatch_error(style, access_key, provided, canonical, to_sign)


def missing_authentication_error(service_name: str) -> AwsError:
    """What a service answers to an unsigned request for an operation that needs a signature."""
    style = _style_of(service_name)
    if style is _S3:
        return AwsError("AccessDenied", "Access Denied", 403)
    if style is _EC2:
        return AwsError(
            "MissingAuthenticationToken",
            "The request must contain either a valid (registered) AWS access key ID or X.509 certificate.",
            403,
        )
    return AwsError("MissingAuthenticationToken", "Request is missing Authentication Token", 403)


# --- S3 Signature Version 2 ----------------------------------------------------------------------
# boto3 still presigns S3 URLs with Signature Version 2 unless told `signature_version="s3v4"`,
# and older tools sign headers with it, so S3 accepts both forms (HMAC-SHA1, no scope, no region).

# Query parameters that name a sub-resource and so belong to the string to sign (botocore's
# HmacV1Auth.QSAOfInterest).
_V2_SUBRESOURCES = frozenset(
    {
        "accelerate", "acl", "analytics", "cors", "defaultObjectAcl", "delete", "inventory", "lifecycle",
        "location", "logging", "metrics", "notification", "object-lock", "partNumber", "policy",
        "replication", "requestPayment", "response-cache-control", "response-content-disposition",
        "response-content-encoding", "response-content-language", "response-content-type",
        "response-expires", "restore", "select", "select-type", "storageClass", "tagging", "torrent",
        "uploadId", "uploads", "versionId", "versioning", "versions", "website",
    }
)  # fmt: skip
_V2_INT32 = 2**31


def _v2_string_to_sign(
    method: str, path: str, raw_query: str, headers: dict[str, str], date_line: str
) -> str:
    amz = {
        name: ",".join(part.strip() for part in value.split(","))
        for name, value in headers.items()
        if name.startswith("x-amz-")
    }
    lines = [
        method.upper(),
        headers.get("content-md5", "").strip(),
        headers.get("content-type", "").strip(),
        date_line,
    ]
    lines.extend(f"{name}:{amz[name]}" for name in sorted(amz))
    subresources = []
    for part in raw_query.split("&"):
        key, sep, value = part.partition("=")
        if key in _V2_SUBRESOURCES:
            subresources.append((key, f"{key}={unquote(value)}" if sep else key))
    resource = path or "/"
    if subresources:
        subresources.sort(key=lambda item: item[0])
        resource += "?" + "&".join(text for _, text in subresources)
    lines.append(resource)
    return "\n".join(lines)


def _v2_sign(secret: str, text: str) -> str:
    digest = hmac.digest(secret.encode("utf-8"), text.encode("utf-8"), "sha1")
    return base64.b64encode(digest).decode("ascii")


def _v2_check(
    request: HttpRequest,
    credential: Credential,
    access_key: str,
    provided: str,
    headers: dict[str, str],
    date_line: str,
    presigned: bool,
    amz_date: str,
) -> AuthContext:
    path = request.path or "/"
    candidates = [path]
    # Virtual-hosted requests sign "/bucket/key"; the bucket is the host's first label.
    host = headers.get("host", "").split(":", 1)[0]
    label = host.split(".", 1)[0]
    if "." in host and not host.replace(".", "").isdigit():
        candidates.append(f"/{label}{path}")
    provided = provided.replace(" ", "+")
    first = ""
    for candidate in candidates:
        text = _v2_string_to_sign(request.method, candidate, request.query_string, headers, date_line)
        first = first or text
        if _same_exact(_v2_sign(credential.secret_key, text), provided):
            return AuthContext(
                access_key=credential.access_key,
                account_id=credential.account_id,
                region=DEFAULT_REGION,
                signing_service="s3",
                payload_mode=PAYLOAD_UNSIGNED,
                signature=provided,
                signing_key=b"",
                scope="",
                amz_date=amz_date,
                presigned=presigned,
                security_token=headers.get("x-amz-security-token"),
            )
    raise AwsError(
        "SignatureDoesNotMatch",
        _S3_MISMATCH,
        403,
        fields={
            "AWSAccessKeyId": access_key,
            "StringToSign": first,
            "SignatureProvided": provided,
            "StringToSignBytes": _hex_bytes(first),
        },
    )


def _verify_s3_v2_header(
    request: HttpRequest, credentials: CredentialStore, authorization: str, now: datetime
) -> AuthContext:
    argument = {"ArgumentName": "Authorization", "ArgumentValue": authorization}
    rest = authorization[len("AWS ") :]
    access_key, colon, signature = rest.partition(":")
    if rest.startswith(" ") or not colon or not signature or ":" in signature:
        raise AwsError(
            "InvalidArgument",
            "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature",
            400,
            fields=argument,
        )
    headers = request.headers
    dated = _request_date(headers)
    if dated is None:
        raise AwsError("AccessDenied", _S3_NO_DATE, 403)
    _check_skew(_S3, dated[0], dated[1], now)
    credential = credentials.lookup(access_key)
    if credential is None:
        raise _unknown_key_error(_S3, access_key)
    # With x-amz-date present the Date line is empty: x-amz-date is signed among the x-amz headers.
    date_line = "" if "x-amz-date" in headers else headers.get("date", "").strip()
    return _v2_check(request, credential, access_key, signature, headers, date_line, False, dated[0])


def _verify_s3_v2_query(
    request: HttpRequest, credentials: CredentialStore, params: dict[str, str], now: datetime
) -> AuthContext:
    if "Expires" not in params or "AWSAccessKeyId" not in params:
        raise AwsError(
            "AccessDenied",
            "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters",
            403,
        )
    raw = params["Expires"]
    expires = _int_or_none(raw)
    if expires is None or not -_V2_INT32 <= expires < _V2_INT32:
        raise AwsError("AccessDenied", f"Invalid date (should be seconds since epoch): {raw}", 403)
    if now.timestamp() > expires:
        raise AwsError(
            "AccessDenied",
            "Request has expired",
            403,
            fields={
                "Expires": datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "ServerTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        )
    access_key = params["AWSAccessKeyId"]
    credential = credentials.lookup(access_key)
    if credential is None:
        raise _unknown_key_error(_S3, access_key)
    # botocore moves x-amz-* headers, Content-Type and Content-MD5 into the query when presigning.
    headers = {name: value for name, value in request.headers.items() if name.startswith("x-amz-")}
    for name, value in params.items():
        lowered = name.lower()
        if lowered.startswith("x-amz-") or lowered in ("content-type", "content-md5"):
            headers[lowered] = value
    for name in ("content-type", "content-md5", "host"):
        if name not in headers and name in request.headers:
            headers[name] = request.headers[name]
    return _v2_check(request, credential, access_key, params["Signature"], headers, raw, True, "")
