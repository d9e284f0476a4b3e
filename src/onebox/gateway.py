"""The one ASGI application in front of every service: route, authenticate, parse, dispatch, serialize."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import uuid
from typing import Any

from onebox.aws import specs
from onebox.aws.chunked import decode_chunked_body, is_chunked
from onebox.aws.dispatch import RequestContext
from onebox.aws.errors import AwsError, internal_error, not_implemented
from onebox.aws.http import HttpRequest, HttpResponse
from onebox.aws.protocols import get_protocol
from onebox.aws.routing import route_request
from onebox.aws.sigv4 import missing_authentication_error, verify_request
from onebox.aws.validate import validate_input
from onebox.runtime import Runtime

log = logging.getLogger("onebox.gateway")

INTERNAL_PREFIX = "/_onebox/"


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
            if internal is not None:
                response = await internal(request)
            else:
                body = await _read_body(receive, self._body_limit(request))
                request.body = body
                response = await self.handle(request, request_id)
        except _BodyTooLarge as too_large:
            response = _plain_error(413, "RequestEntityTooLarge", str(too_large), request_id)
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
        protocol = get_protocol(route.protocol)
        service_model = specs.service_model(route.service)
        operation = None
        try:
            auth = verify_request(request, self.runtime.credentials, self.runtime.clock.now(), route.service)
            if auth is None and route.service != "s3":
                raise missing_authentication_error(route.service)
            if is_chunked(request):
                request.body = decode_chunked_body(request, auth)
            operation = protocol.find_operation(service_model, request)
            params = protocol.parse(operation, request)
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
