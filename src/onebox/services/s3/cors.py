"""CORS: the bucket configuration operations and how a request is matched against its rules."""

from __future__ import annotations

from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.aws.http import HttpRequest, HttpResponse
from onebox.services.s3.buckets import update_bucket
from onebox.services.s3.common import bucket_for
from onebox.services.s3.policy import _wild
from onebox.store import Record

api = ServiceApi("s3")

_METHODS = frozenset({"GET", "PUT", "POST", "DELETE", "HEAD"})


@api.operation("PutBucketCors")
def put_bucket_cors(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket = bucket_for(ctx, params["Bucket"], "s3:PutBucketCORS")
    rules = (params.get("CORSConfiguration") or {}).get("CORSRules") or []
    if not rules or len(rules) > 100:
        raise AwsError(
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published schema",
            400,
        )
    for rule in rules:
        for method in rule.get("AllowedMethods") or []:
            if method not in _METHODS:
                raise AwsError(
                    "InvalidRequest",
                    f"Found unsupported HTTP method in CORS config. Unsupported method is {method}",
                    400,
                )
        for origin in rule.get("AllowedOrigins") or []:
            if origin.count("*") > 1:
                raise AwsError(
                    "InvalidRequest",
                    f'AllowedOrigin "{origin}" can not have more than one wildcard.',
                    400,
                )
    update_bucket(ctx, bucket, Cors=rules)
    return {}


@api.operation("GetBucketCors")
def get_bucket_cors(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket = bucket_for(ctx, params["Bucket"], "s3:GetBucketCORS")
    if not bucket.spec.get("Cors"):
        raise AwsError(
            "NoSuchCORSConfiguration",
            "The CORS configuration does not exist",
            404,
            fields={"BucketName": bucket.id},
        )
    return {"CORSRules": bucket.spec["Cors"]}


@api.operation("DeleteBucketCors")
def delete_bucket_cors(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket = bucket_for(ctx, params["Bucket"], "s3:PutBucketCORS")
    update_bucket(ctx, bucket, Cors=None)
    return {}


def matching_rule(
    bucket: Record, origin: str, method: str, request_headers: list[str]
) -> dict[str, Any] | None:
    """The first rule allowing this origin, method and (for preflights) request headers."""
    for rule in bucket.spec.get("Cors") or []:
        if not any(_wild(pattern, origin) for pattern in rule.get("AllowedOrigins") or []):
            continue
        if method not in (rule.get("AllowedMethods") or []):
            continue
        allowed = [h.lower() for h in rule.get("AllowedHeaders") or []]
        if not all(any(_wild(pattern, header.lower()) for pattern in allowed) for header in request_headers):
            continue
        return rule
    return None


def cors_headers(
    rule: dict[str, Any], origin: str, preflight: bool, request_headers: list[str]
) -> list[tuple[str, str]]:
    wildcard = "*" in (rule.get("AllowedOrigins") or [])
    headers = [
        ("Access-Control-Allow-Origin", "*" if wildcard else origin),
        ("Access-Control-Allow-Methods", ", ".join(rule.get("AllowedMethods") or [])),
        ("Vary", "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"),
    ]
    if not wildcard:
        headers.append(("Access-Control-Allow-Credentials", "true"))
    if preflight and request_headers:
        headers.append(("Access-Control-Allow-Headers", ", ".join(request_headers)))
    if rule.get("ExposeHeaders"):
        headers.append(("Access-Control-Expose-Headers", ", ".join(rule["ExposeHeaders"])))
    if preflight and rule.get("MaxAgeSeconds") is not None:
        headers.append(("Access-Control-Max-Age", str(rule["MaxAgeSeconds"])))
    return headers


def _forbidden(message: str) -> HttpResponse:
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessForbidden</Code><Message>{message}</Message>'
        "<Method>OPTIONS</Method><ResourceType>CORSRESPONSE</ResourceType></Error>"
    ).encode()
    return HttpResponse(403, [("Content-Type", "application/xml")], body)


def preflight(
    bucket: Record | None, origin: str | None, method: str | None, headers_line: str
) -> HttpResponse:
    """An OPTIONS preflight answered from the bucket's CORS rules, as S3 does (403 when none match)."""
    if origin is None or method is None:
        return HttpResponse(
            400,
            [("Content-Type", "application/xml")],
            b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>BadRequest</Code><Message>Insufficient'
            b" information. Origin request header needed.</Message></Error>",
        )
    if bucket is None or not bucket.spec.get("Cors"):
        return _forbidden("CORSResponse: CORS is not enabled for this bucket.")
    request_headers = [h.strip().lower() for h in headers_line.split(",") if h.strip()]
    rule = matching_rule(bucket, origin, method, request_headers)
    if rule is None:
        return _forbidden(
            "CORSResponse: This CORS request is not allowed. This is usually because the evalution"
            " of Origin, request method / Access-Control-Request-Method or"
            " Access-Control-Request-Headers are not whitelisted by the resource's CORS spec."
        )
    return HttpResponse(200, cors_headers(rule, origin, True, request_headers), b"")


def _bucket_of(runtime: Any, request: HttpRequest) -> Record | None:
    from onebox.services.s3.common import BUCKET
    from onebox.store import NameScope

    name = request.path.lstrip("/").split("/", 1)[0]
    if not name:
        return None
    return runtime.store.get_by_name(BUCKET, "", "", name, scope=NameScope.GLOBAL)


def answer_preflight(runtime: Any, request: HttpRequest) -> HttpResponse:
    """An S3 OPTIONS request (path style; virtual-hosted requests were rewritten by routing)."""
    return preflight(
        _bucket_of(runtime, request),
        request.header("origin"),
        request.header("access-control-request-method"),
        request.header("access-control-request-headers") or "",
    )


def add_cors_headers(runtime: Any, request: HttpRequest, response: HttpResponse) -> None:
    """Browsers' actual requests (with Origin) get the headers of the first matching rule."""
    origin = request.header("origin")
    if origin is None:
        return
    bucket = _bucket_of(runtime, request)
    if bucket is None or not bucket.spec.get("Cors"):
        return
    rule = matching_rule(bucket, origin, request.method, [])
    if rule is not None:
        response.headers.extend(cors_headers(rule, origin, False, []))
