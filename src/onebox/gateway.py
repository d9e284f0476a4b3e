"""The one ASGI application in front of every service: route, authenticate, parse, dispatch, serialize."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import re
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from onebox.aws import specs
from onebox.aws.chunked import decode_chunked_body, decode_chunked_file, is_chunked
from onebox.aws.dispatch import RequestContext
from onebox.aws.errors import AwsError, internal_error, not_implemented
from onebox.aws.http import CHECKSUM_ALGORITHMS, BodySpool, HttpRequest, HttpResponse, SpooledBody
from onebox.aws.protocols import get_protocol
from onebox.aws.routing import Route, route_request, website_bucket
from onebox.aws.sigv4 import missing_authentication_error, verify_request
from onebox.aws.validate import gateway_validates, takes_raw_json, validate_input
from onebox.runtime import Runtime

log = logging.getLogger("onebox.gateway")

INTERNAL_PREFIX = "/_onebox/"

# Internal routes a service module adds at import (e.g. SNS's signing certificate and confirmation
# links): path -> async handler(runtime, request). Unauthenticated, like the URLs AWS puts in messages.
SERVICE_ROUTES: dict[str, Callable[[Runtime, HttpRequest], Awaitable[HttpResponse]]] = {}


class Gateway:
    """ASGI app. `internal_routes` serve `/_onebox/...` (health, status) outside the AWS pipeline."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.internal_routes: dict[str, Any] = {
            "/_onebox/health": self._health,
            "/_onebox/status": self._status,
        }

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request_id = str(uuid.uuid4())
        try:
            request = _request_from_scope(scope)
            internal = (
                self.internal_routes.get(request.path) if request.path.startswith(INTERNAL_PREFIX) else None
            )
            service_route = SERVICE_ROUTES.get(request.path) if internal is None else None
            website = website_bucket(request) if internal is None else None
            if internal is not None:
                response = await internal(request)
            elif website is not None:
                # S3 website endpoints are a data plane of their own, not an AWS API (docs/s3.md).
                from onebox.services.s3 import website as s3_website

                response = await s3_website.serve(self.runtime, request, website)
            elif service_route is not None:
                response = await service_route(self.runtime, request)
            elif _streams_to_disk(request):
                try:
                    request.spooled = await _spool_body(
                        receive, self._body_limit(request), self._spool_dir(), request
                    )
                    response = await self.handle(request, request_id)
                finally:
                    # A handler that keeps the upload has moved the file; anything else is dropped.
                    if request.spooled is not None:
                        request.spooled.path.unlink(missing_ok=True)
            else:
                body = await _read_body(receive, self._body_limit(request))
                request.body = body
                response = await self.handle(request, request_id)
        except _BodyTooLarge as too_large:
            response = _plain_error(413, "RequestEntityTooLarge", str(too_large), request_id)
        except _ClientGone:
            return  # the client left mid-upload: nobody to answer
        except Exception:  # the last line of defence: log it, answer 500, keep serving
            log.exception("unhandled error before dispatch")
            response = _plain_error(500, "InternalFailure", "internal error", request_id)
        await _send_response(send, response, scope.get("method") == "HEAD")

    async def handle(self, request: HttpRequest, request_id: str) -> HttpResponse:
        """Route, authenticate, parse, validate, dispatch and serialize one AWS API request."""
        try:
            route = route_request(request)
        except AwsError as error:
            return _plain_error(error.status or 400, error.code, error.message, request_id)
        if route.service == "s3":
            return await self._handle_s3(request, request_id, route)
        return await self._handle_aws(request, request_id, route)

    async def _handle_s3(self, request: HttpRequest, request_id: str, route: Route) -> HttpResponse:
        """S3's additions around the pipeline: CORS preflights (OPTIONS is no S3 operation) and
        CORS headers on browser requests."""
        from onebox.services.s3 import cors

        if request.method == "OPTIONS":
            return cors.answer_preflight(self.runtime, request)
        response = await self._handle_aws(request, request_id, route)
        cors.add_cors_headers(self.runtime, request, response)
        return response

    async def _handle_aws(self, request: HttpRequest, request_id: str, route: Route) -> HttpResponse:
        protocol = get_protocol(route.protocol)
        service_model = specs.service_model(route.service)
        operation = None
        try:
            auth = verify_request(request, self.runtime.credentials, self.runtime.clock.now(), route.service)
            if auth is None and route.service != "s3":
                raise missing_authentication_error(route.service)
            if is_chunked(request):
                if request.spooled is not None:
                    # A large upload on disk: decode file to file, off the event loop.
                    await asyncio.to_thread(decode_chunked_file, request, auth, self._spool_dir())
                else:
                    request.body = decode_chunked_body(request, auth)
            operation = protocol.find_operation(service_model, request)
            if protocol.name == "json" and takes_raw_json(route.service, operation.name):
                params = protocol.parse_raw(operation, request)  # type: ignore[attr-defined]
            else:
                params = protocol.parse(operation, request)
            if gateway_validates(route.service, operation.name):
                validate_input(route.service, operation, params)
            api = self.runtime.services.get(route.service)
            if api is None:
                raise not_implemented(route.service, operation.name)
            context = RequestContext(
                runtime=self.runtime,
                service=route.service,
                operation=operation.name,
                account_id=auth.account_id if auth else "anonymous",
                region=(auth.region if auth else None) or self.runtime.config.region,
                request_id=request_id,
                request=request,
                access_key=auth.access_key if auth else None,
            )
            output = await api.call(context, params)
            return protocol.serialize(operation, output, request, request_id)
        except AwsError as error:
            return protocol.serialize_error(service_model, operation, error, request, request_id)
        except Exception:
            log.exception("internal error in %s %s", route.service, operation.name if operation else "?")
            return protocol.serialize_error(service_model, operation, internal_error(), request, request_id)

    def _spool_dir(self) -> Path:
        """Where large S3 uploads land while they arrive (the S3 storage adopts files from here)."""
        return self.runtime.config.state_dir / "s3" / "incoming"

    def _body_limit(self, request: HttpRequest) -> int:
        # S3 object uploads may be large; every other API caps small, as AWS does.
        if (
            request.method in ("PUT", "POST")
            and "x-amz-target" not in request.headers
            and not (request.header("content-type") or "").startswith(
                ("application/x-www-form-urlencoded", "application/x-amz-json", "application/cbor")
            )
        ):
            return self.runtime.config.max_s3_body
        return self.runtime.config.max_api_body

    async def _health(self, request: HttpRequest) -> HttpResponse:
        return _json_response({"status": "ok", "pid": os.getpid(), "services": self.runtime.services.names()})

    async def _status(self, request: HttpRequest) -> HttpResponse:
        supervisor = self.runtime.supervisor
        processes = [dataclasses.asdict(process) for process in supervisor.status()] if supervisor else []
        names = self.runtime.names
        return _json_response(
            {
                "pid": os.getpid(),
                "uptime_seconds": self.runtime.clock.time() - self.runtime.started_at,
                "endpoint": self.runtime.config.endpoint,
                "services": self.runtime.services.names(),
                "processes": processes,
                "names": names.all() if names else {},
                "hosts_file_error": names.hosts_error if names else None,
            }
        )


class _BodyTooLarge(Exception):
    pass


def _request_from_scope(scope: dict[str, Any]) -> HttpRequest:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    raw_path = scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else scope["path"]
    client = scope.get("client")
    return HttpRequest(
        method=scope["method"],
        path=path.split("?", 1)[0],
        query_string=scope.get("query_string", b"").decode("latin-1"),
        headers=headers,
        client_ip=client[0] if client else "127.0.0.1",
        scheme=scope.get("scheme", "http"),
    )


async def _read_body(receive: Any, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise _BodyTooLarge(f"Request body exceeds the limit of {limit} bytes")
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks) if len(chunks) != 1 else chunks[0]


# S3 uploads above this size stream to a file instead of memory (item 7 of the S3 issue: a 5 GiB
# upload must use bounded memory). Smaller ones stay in memory: the 4 KiB PUT path is hot.
SPOOL_THRESHOLD = 1024 * 1024
_SPOOL_FLUSH = 1024 * 1024
_S3_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/,\s]+/s3/aws4_request")


def _streams_to_disk(request: HttpRequest) -> bool:
    """A large S3 object upload (PutObject, UploadPart), plain or aws-chunked (decoded later, file to
    file, once the signature is verified)."""
    if request.method != "PUT" or "x-amz-target" in request.headers:
        return False
    length = request.header("content-length")
    if length is not None and (not length.isdigit() or int(length) <= SPOOL_THRESHOLD):
        return False
    authorization = request.header("authorization")
    if authorization is not None:
        return authorization.startswith("AWS ") or _S3_SCOPE.search(authorization) is not None
    if "X-Amz-Credential=" in request.query_string:
        return "%2Fs3%2Faws4_request" in request.query_string or "/s3/aws4_request" in request.query_string
    return True  # anonymous: only S3 accepts those


def _spool_checksums(request: HttpRequest) -> tuple[str, ...]:
    if is_chunked(request):
        return ()  # the spool holds the framing; checksums are computed when it is decoded
    names = {name[len("x-amz-checksum-") :] for name in request.headers if name.startswith("x-amz-checksum-")}
    names.discard("type")
    names.discard("algorithm")
    algorithm = (request.header("x-amz-sdk-checksum-algorithm") or "").lower()
    if algorithm:
        names.add(algorithm)
    return tuple(name for name in names if name in CHECKSUM_ALGORITHMS)


async def _spool_body(receive: Any, limit: int, directory: Path, request: HttpRequest) -> SpooledBody:
    """Receive the body into a file, hashing in a worker thread while the next chunk arrives."""
    declared = (request.header("x-amz-content-sha256") or "").strip().lower()
    want_sha256 = len(declared) == 64 and all(c in "0123456789abcdef" for c in declared)
    spool = BodySpool(directory, want_sha256, _spool_checksums(request))
    pending: asyncio.Future[None] | None = None
    buffer: list[bytes] = []
    buffered = 0
    size = 0
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise _BodyTooLarge(f"Request body exceeds the limit of {limit} bytes")
                buffer.append(chunk)
                buffered += len(chunk)
            more = message.get("more_body", False)
            if buffered >= _SPOOL_FLUSH or (not more and buffer):
                if pending is not None:
                    await pending
                data = b"".join(buffer)
                buffer, buffered = [], 0
                pending = asyncio.ensure_future(asyncio.to_thread(spool.write, data))
            if not more:
                break
        if pending is not None:
            await pending
        return spool.finish()
    except BaseException:
        if pending is not None and not pending.done():
            await asyncio.wait([pending])
        spool.discard()
        raise


class _ClientGone(Exception):
    pass


async def _send_response(send: Any, response: HttpResponse, head: bool) -> None:
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    if isinstance(response.body, bytes):
        if not any(k == b"content-length" for k, _ in headers):
            headers.append((b"content-length", str(len(response.body)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head else response.body})
        return
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    if not head:
        async for chunk in response.body:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


def _json_response(value: dict[str, Any]) -> HttpResponse:
    body = json.dumps(value, default=str).encode()
    return HttpResponse(200, [("Content-Type", "application/json")], body)


def _plain_error(status: int, code: str, message: str, request_id: str) -> HttpResponse:
    """An error for requests no service claimed: AWS's generic XML error document."""
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>'
        f"<Message>{_xml_escape(message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    ).encode()
    return HttpResponse(status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], body)


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
