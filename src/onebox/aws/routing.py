"""Which service and wire protocol a request is for, decided from cheap signals first.

Order (as AWS's own front ends and LocalStack's router do): data-plane hosts (S3 virtual-hosted
buckets), the SigV4 credential scope, `X-Amz-Target`, the CBOR path, the query `Action`, and
finally S3 as the catch-all for anonymous object requests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from urllib.parse import parse_qsl

from onebox.aws import specs
from onebox.aws.errors import AwsError
from onebox.aws.http import HttpRequest

_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/([^/,\s]+)/([^/,\s]+)/aws4_request")
_CBOR_PATH = re.compile(r"^/service/([^/]+)/operation/([^/]+)$")
# Host names under which S3 is served: s3.localhost, s3.us-east-1.localhost, s3.amazonaws.com...
_S3_HOST = re.compile(
    r"^(?:(?P<bucket>.+)\.)?s3(?:[.-](?P<region>[a-z0-9-]+))?\.(?:localhost|amazonaws\.com)$"
)


# S3 website endpoints: BUCKET.s3-website.localhost, BUCKET.s3-website-us-east-1.localhost,
# BUCKET.s3-website.eu-west-1.localhost (and the same under amazonaws.com, for clients that keep
# AWS's host names and resolve them here).
_S3_WEBSITE_HOST = re.compile(
    r"^(?P<bucket>.+)\.s3-website(?:[.-](?P<region>[a-z0-9-]+))?\.(?:localhost|amazonaws\.com)$"
)


def website_bucket(request: HttpRequest) -> str | None:
    """The bucket whose website a request's Host names, or None for every other request."""
    host = (request.header("host") or "").rsplit(":", 1)[0].lower()
    if "s3-website" not in host:
        return None
    match = _S3_WEBSITE_HOST.match(host)
    return match.group("bucket") if match else None


@dataclass(frozen=True)
class Route:
    service: str
    protocol: str
    # The bucket named by a virtual-hosted-style Host, already moved into the request path.
    virtual_bucket: str | None = None
    scope_region: str | None = None


def route_request(request: HttpRequest) -> Route:
    """The service and protocol for a request. May rewrite an S3 virtual-hosted request to path style."""
    host = (request.header("host") or "").rsplit(":", 1)[0].lower()
    s3_host = _S3_HOST.match(host)
    if s3_host and s3_host.group("bucket"):
        bucket = s3_host.group("bucket")
        request.path = "/" + bucket + (request.path if request.path.startswith("/") else "/" + request.path)
        return Route("s3", "rest-xml", virtual_bucket=bucket)

    scope_service, scope_region = _credential_scope(request)
    if scope_service is not None:
        candidates = specs.signing_name_index().get(scope_service)
        if candidates:
            service = candidates[0] if len(candidates) == 1 else _by_api_version(request, candidates)
            return Route(service, _protocol_for(service, request), scope_region=scope_region)
        raise AwsError(
            "UnrecognizedClientException", f"onebox does not serve the service '{scope_service}'", 400
        )

    target = request.header("x-amz-target")
    if target:
        service = specs.target_prefix_index().get(target.rsplit(".", 1)[0])
        if service:
            return Route(service, _protocol_for(service, request))

    cbor = _CBOR_PATH.match(request.path)
    if cbor and request.header("smithy-protocol") == "rpc-v2-cbor":
        service = cbor_service_index().get(cbor.group(1))
        if service:
            return Route(service, "smithy-rpc-v2-cbor")

    action = _query_action(request)
    if action:
        services = action_index().get(action)
        if services:
            service = services[0] if len(services) == 1 else _by_api_version(request, services)
            return Route(service, _protocol_for(service, request))

    if s3_host or not host.endswith(".localhost"):
        return Route("s3", "rest-xml")
    raise AwsError("UnknownService", f"No AWS service is served at host '{host}'", 404)


def _credential_scope(request: HttpRequest) -> tuple[str | None, str | None]:
    authorization = request.header("authorization")
    if authorization:
        match = _CREDENTIAL_SCOPE.search(authorization)
        if match:
            return match.group(2), match.group(1)
        return None, None
    if "X-Amz-Credential=" in request.query_string:
        credential = request.query_params().get("X-Amz-Credential", "")
        parts = credential.split("/")
        if len(parts) == 5:
            return parts[3], parts[2]
    return None, None


def _protocol_for(service: str, request: HttpRequest) -> str:
    """The protocol the client chose, for services that accept several (CloudWatch)."""
    protocols = specs.protocols_of(specs.service_model(service))
    if len(protocols) == 1:
        return protocols[0]
    if request.header("smithy-protocol") == "rpc-v2-cbor" and "smithy-rpc-v2-cbor" in protocols:
        return "smithy-rpc-v2-cbor"
    content_type = request.header("content-type") or ""
    if request.header("x-amz-target") and "json" in protocols:
        return "json"
    if content_type.startswith("application/x-amz-json") and "json" in protocols:
        return "json"
    if "query" in protocols:
        return "query"
    return protocols[0]


def _query_action(request: HttpRequest) -> str | None:
    if "Action=" in request.query_string:
        return request.query_params().get("Action")
    content_type = request.header("content-type") or ""
    if request.method == "POST" and content_type.startswith("application/x-www-form-urlencoded"):
        for key, value in parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True):
            if key == "Action":
                return value
    return None


def _by_api_version(request: HttpRequest, candidates: tuple[str, ...]) -> str:
    version = request.query_params().get("Version")
    if version is None and request.body:
        for key, value in parse_qsl(request.body.decode("utf-8", "replace")):
            if key == "Version":
                version = value
                break
    service = specs.api_version_index().get(version or "")
    return service if service in candidates else candidates[0]


@cache
def action_index() -> dict[str, tuple[str, ...]]:
    """Query-protocol operation name -> services that have it (for unsigned query requests)."""
    index: dict[str, list[str]] = {}
    for name in specs.SERVED_SERVICES:
        model = specs.service_model(name)
        if {"query", "ec2"} & set(specs.protocols_of(model)):
            for operation in model.operation_names:
                index.setdefault(operation, []).append(name)
    return {key: tuple(value) for key, value in index.items()}


@cache
def cbor_service_index() -> dict[str, str]:
    """Smithy service name used in CBOR paths -> botocore service name."""
    index: dict[str, str] = {}
    for name in specs.SERVED_SERVICES:
        model = specs.service_model(name)
        if "smithy-rpc-v2-cbor" in specs.protocols_of(model):
            index[model.metadata.get("targetPrefix", "")] = name
    return index
