"""Static website hosting: the bucket configuration operations and the website endpoint itself.

The endpoint (`http://BUCKET.s3-website.localhost:PORT/`) is a data plane in front of the AWS
pipeline: anonymous GET/HEAD only, index documents, the trailing-slash 302, error documents for
4xx, object and bucket redirects, routing rules, HTML errors, 403 versus 404 by list permission.
"""

from __future__ import annotations

import hashlib
import uuid
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote, unquote

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.aws.http import HttpRequest, HttpResponse
from onebox.services.s3 import access
from onebox.services.s3.buckets import update_bucket
from onebox.services.s3.common import ANONYMOUS, bucket_for, find_bucket, storage, timestamp
from onebox.services.s3.conditions import check_read_conditions, parse_range
from onebox.services.s3.objects import open_body
from onebox.services.s3.storage import Version
from onebox.store import Record

api = ServiceApi("s3")

MAX_ROUTING_RULES = 50


@api.operation("PutBucketWebsite")
def put_bucket_website(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket = bucket_for(ctx, params["Bucket"], "s3:PutBucketWebsite")
    configuration = params.get("WebsiteConfiguration") or {}
    redirect_all = configuration.get("RedirectAllRequestsTo")
    index = (configuration.get("IndexDocument") or {}).get("Suffix")
    if redirect_all:
        if index or configuration.get("ErrorDocument") or configuration.get("RoutingRules"):
            raise AwsError(
                "InvalidArgument",
                "RedirectAllRequestsTo cannot be provided in conjunction with other Routing Rules.",
                400,
            )
    else:
        if index is None:
            raise AwsError(
                "InvalidArgument",
                "A value for IndexDocument Suffix must be provided if RedirectAllRequestsTo is empty",
                400,
            )
        if not index or "/" in index:
            raise AwsError("InvalidArgument", "The IndexDocument Suffix is not well formed", 400)
    rules = configuration.get("RoutingRules") or []
    if len(rules) > MAX_ROUTING_RULES:
        raise AwsError(
            "InvalidArgument", "The number of routing rules must not exceed the allowed limit of 50.", 400
        )
    for rule in rules:
        redirect = rule.get("Redirect") or {}
        if redirect.get("ReplaceKeyPrefixWith") is not None and redirect.get("ReplaceKeyWith") is not None:
            raise AwsError(
                "InvalidRequest",
                "You can only define ReplaceKeyPrefix or ReplaceKey but not both.",
                400,
            )
        if not redirect:
            raise AwsError("InvalidArgument", "Invalid Redirect", 400)
    update_bucket(ctx, bucket, Website=configuration)
    return {}


@api.operation("GetBucketWebsite")
def get_bucket_website(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket = bucket_for(ctx, params["Bucket"], "s3:GetBucketWebsite")
    configuration = bucket.spec.get("Website")
    if not configuration:
        raise AwsError(
            "NoSuchWebsiteConfiguration",
            "The specified bucket does not have a website configuration",
            404,
            fields={"BucketName": bucket.id},
        )
    return configuration


@api.operation("DeleteBucketWebsite")
def delete_bucket_website(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket = bucket_for(ctx, params["Bucket"], "s3:DeleteBucketWebsite")
    update_bucket(ctx, bucket, Website=None)
    return {}


# -- the endpoint ------------------------------------------------------------------------------------

_REASONS = {
    301: "Moved Permanently",
    302: "Found",
    304: "Not Modified",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    412: "Precondition Failed",
    416: "Requested Range Not Satisfiable",
    500: "Internal Server Error",
}


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _host_id(request_id: str) -> str:
    import base64

    return base64.b64encode(hashlib.sha256(request_id.encode()).digest()).decode()


def error_page(
    status: int, code: str, message: str, request_id: str, extra: dict[str, str] | None = None, note: str = ""
) -> bytes:
    """S3's HTML error page for website endpoints."""
    title = f"{status} {_REASONS.get(status, '')}".strip()
    items = [f"<li>Code: {_html_escape(code)}</li>", f"<li>Message: {_html_escape(message)}</li>"]
    items += [f"<li>{name}: {_html_escape(value)}</li>" for name, value in (extra or {}).items()]
    items += [f"<li>RequestId: {request_id}</li>", f"<li>HostId: {_host_id(request_id)}</li>"]
    nested = ""
    if note:
        nested = f"<h3>{_html_escape(note)}</h3>\n"
    return (
        f"<html>\n<head><title>{title}</title></head>\n<body>\n<h1>{title}</h1>\n<ul>\n"
        + "\n".join(items)
        + f"\n</ul>\n{nested}<hr/>\n</body>\n</html>\n"
    ).encode()


class _WebsiteError(Exception):
    def __init__(self, status: int, code: str, message: str, extra: dict[str, str] | None = None) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra or {}


def _headers(request_id: str) -> list[tuple[str, str]]:
    return [("x-amz-request-id", request_id), ("x-amz-id-2", _host_id(request_id))]


def _anonymous_context(runtime: Any, request: HttpRequest, request_id: str) -> RequestContext:
    return RequestContext(
        runtime=runtime,
        service="s3",
        operation="GetObject",
        account_id=ANONYMOUS,
        region=runtime.config.region,
        request_id=request_id,
        request=request,
    )


async def serve(runtime: Any, request: HttpRequest, bucket_name: str) -> HttpResponse:
    """Answer one website-endpoint request."""
    request_id = uuid.uuid4().hex[:16].upper()
    ctx = _anonymous_context(runtime, request, request_id)
    try:
        return await _serve(ctx, request, bucket_name)
    except _WebsiteError as error:
        return _error_response(error, request, request_id)


def _error_response(
    error: _WebsiteError, request: HttpRequest, request_id: str, note: str = ""
) -> HttpResponse:
    body = error_page(error.status, error.code, error.message, request_id, error.extra, note)
    headers = [("Content-Type", "text/html; charset=utf-8"), *_headers(request_id)]
    return HttpResponse(error.status, headers, b"" if request.method == "HEAD" else body)


async def _serve(ctx: RequestContext, request: HttpRequest, bucket_name: str) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        raise _WebsiteError(
            405,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
            {"Method": request.method, "ResourceType": "OBJECT"},
        )
    bucket = find_bucket(ctx, bucket_name)
    if bucket is None:
        raise _WebsiteError(
            404, "NoSuchBucket", "The specified bucket does not exist", {"BucketName": bucket_name}
        )
    configuration = bucket.spec.get("Website")
    if not configuration:
        raise _WebsiteError(
            404,
            "NoSuchWebsiteConfiguration",
            "The specified bucket does not have a website configuration",
            {"BucketName": bucket_name},
        )
    try:
        path = unquote(request.path, errors="strict")
    except UnicodeDecodeError:
        raise _WebsiteError(400, "InvalidURI", "Couldn't parse the specified URI.") from None
    redirect_all = configuration.get("RedirectAllRequestsTo")
    if redirect_all:
        protocol = redirect_all.get("Protocol") or request.scheme
        query = f"?{request.query_string}" if request.query_string else ""
        return _redirect(301, f"{protocol}://{redirect_all['HostName']}{quote(path)}{query}", ctx.request_id)
    key = path.lstrip("/")
    rules = configuration.get("RoutingRules") or []
    rule = _matching_rule(rules, key, None)
    if rule is not None:
        return _rule_redirect(rule, key, request, ctx.request_id)
    suffix = configuration["IndexDocument"]["Suffix"]
    lookup = key + suffix if key == "" or key.endswith("/") else key
    try:
        version = _readable(ctx, bucket, lookup)
        if version is None and not (key == "" or key.endswith("/")):
            # `folder` without its slash: S3 redirects to `folder/` when `folder/index.html` exists.
            if _readable(ctx, bucket, key + "/" + suffix) is not None:
                return _redirect(302, "/" + quote(key) + "/", ctx.request_id)
        if version is None:
            if access.decide(ctx, bucket, "s3:ListBucket"):
                raise _WebsiteError(404, "NoSuchKey", "The specified key does not exist.", {"Key": lookup})
            raise _WebsiteError(403, "AccessDenied", "Access Denied")
    except _WebsiteError as error:
        return await _error_document(ctx, bucket, configuration, rules, key, request, error)
    redirect_location = version.info.get("WebsiteRedirectLocation")
    if redirect_location:
        return _redirect(301, redirect_location, ctx.request_id)
    return await _object_response(ctx, request, version)


def _readable(ctx: RequestContext, bucket: Record, key: str) -> Version | None:
    """The current object at `key` if anonymous callers may read it; None if there is none;
    403 if there is one they may not read."""
    version = storage(ctx.runtime).get(bucket.spec["Id"], key)
    if version is None or version.is_marker:
        return None
    if access.decide(ctx, bucket, "s3:GetObject", key):
        return version
    if access.object_acl_allows(ctx, bucket, version.info.get("ACL"), "s3:GetObject"):
        return version
    raise _WebsiteError(403, "AccessDenied", "Access Denied")


async def _error_document(
    ctx: RequestContext,
    bucket: Record,
    configuration: dict[str, Any],
    rules: list[dict[str, Any]],
    key: str,
    request: HttpRequest,
    error: _WebsiteError,
) -> HttpResponse:
    rule = _matching_rule(rules, key, error.status)
    if rule is not None:
        return _rule_redirect(rule, key, request, ctx.request_id)
    document = (configuration.get("ErrorDocument") or {}).get("Key")
    if document and 400 <= error.status < 500:
        try:
            version = _readable(ctx, bucket, document)
        except _WebsiteError:
            version = None
        if version is not None:
            response = await _object_response(ctx, request, version, status=error.status)
            return response
        return _error_response(
            error,
            request,
            ctx.request_id,
            note="An Error Occurred While Attempting to Retrieve a Custom Error Document",
        )
    return _error_response(error, request, ctx.request_id)


async def _object_response(
    ctx: RequestContext, request: HttpRequest, version: Version, status: int = 200
) -> HttpResponse:
    headers = [
        ("Content-Type", version.info.get("ContentType", "binary/octet-stream")),
        ("ETag", version.etag),
        ("Last-Modified", format_datetime(timestamp(int(version.last_modified)), usegmt=True)),
        *_headers(ctx.request_id),
    ]
    for name, header in (
        ("ContentEncoding", "Content-Encoding"),
        ("ContentDisposition", "Content-Disposition"),
        ("ContentLanguage", "Content-Language"),
        ("CacheControl", "Cache-Control"),
    ):
        if version.info.get(name):
            headers.append((header, version.info[name]))
    for name, value in (version.info.get("Metadata") or {}).items():
        headers.append((f"x-amz-meta-{name}", value))
    start, length = 0, version.size
    if status == 200:
        try:
            check_read_conditions(
                version,
                request.header("if-match"),
                request.header("if-none-match"),
                _http_date(request.header("if-modified-since")),
                _http_date(request.header("if-unmodified-since")),
            )
            selected = parse_range(request.header("range"), version.size)
        except AwsError as error:
            if error.status == 304:
                return HttpResponse(304, headers, b"")
            raise _WebsiteError(error.status or 400, error.code, error.message) from None
        if selected is not None:
            start, end = selected
            length = end - start + 1
            status = 206
            headers.append(("Content-Range", f"bytes {start}-{end}/{version.size}"))
    headers.append(("Content-Length", str(length)))
    if request.method == "HEAD" or length == 0:
        return HttpResponse(status, headers, b"")
    body = open_body(storage(ctx.runtime), version, start, length)
    if body is None:
        raise _WebsiteError(404, "NoSuchKey", "The specified key does not exist.", {"Key": version.key})
    return HttpResponse(status, headers, body)


def _http_date(value: str | None) -> Any:
    if not value:
        return None
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


def _matching_rule(rules: list[dict[str, Any]], key: str, error_status: int | None) -> dict[str, Any] | None:
    """The first rule whose condition holds. Rules with an error-code condition apply only to errors."""
    for rule in rules:
        condition = rule.get("Condition") or {}
        prefix = condition.get("KeyPrefixEquals")
        code = condition.get("HttpErrorCodeReturnedEquals")
        if code is not None and (error_status is None or str(error_status) != str(code)):
            continue
        if code is None and error_status is not None and prefix is not None:
            continue  # prefix-only rules were applied before the lookup
        if prefix is not None and not key.startswith(prefix):
            continue
        if code is None and prefix is None and error_status is not None:
            continue
        return rule
    return None


def _rule_redirect(rule: dict[str, Any], key: str, request: HttpRequest, request_id: str) -> HttpResponse:
    redirect = rule.get("Redirect") or {}
    prefix = (rule.get("Condition") or {}).get("KeyPrefixEquals") or ""
    if redirect.get("ReplaceKeyWith") is not None:
        new_key = redirect["ReplaceKeyWith"]
    elif redirect.get("ReplaceKeyPrefixWith") is not None:
        new_key = redirect["ReplaceKeyPrefixWith"] + key[len(prefix) :]
    else:
        new_key = key
    protocol = redirect.get("Protocol") or request.scheme
    host = redirect.get("HostName") or request.header("host") or "localhost"
    code = int(redirect.get("HttpRedirectCode") or 301)
    return _redirect(code, f"{protocol}://{host}/{quote(new_key)}", request_id)


def _redirect(status: int, location: str, request_id: str) -> HttpResponse:
    return HttpResponse(status, [("Location", location), ("Content-Length", "0"), *_headers(request_id)], b"")
