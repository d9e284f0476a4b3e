"""The Smithy RPC v2 CBOR wire protocol (botocore "smithy-rpc-v2-cbor"), CloudWatch's default.

Requests are `POST {prefix}/service/{ServiceName}/operation/{Operation}` with the header
`smithy-protocol: rpc-v2-cbor` and a CBOR map body; botocore uses the model's `targetPrefix` as
ServiceName. Timestamps travel as CBOR tag 1 (epoch seconds), blobs as byte strings. Responses and
errors are CBOR maps with `Content-Type: application/cbor` and the same `smithy-protocol` header;
errors name their shape in `__type`, and awsQueryCompatible services add `x-amzn-query-error`.
"""

from __future__ import annotations

import io
import re
import weakref
from datetime import UTC
from typing import Any

import cbor2
from botocore.model import OperationModel, ServiceModel

from onebox.aws.errors import AwsError
from onebox.aws.http import HttpRequest, HttpResponse
from onebox.aws.protocols.jsonshapes import (
    CBOR_WIRE,
    WireTypeError,
    decoder_for,
    describe_error,
    encoder_for,
    error_body,
    request_body,
    serialization_error,
    wire_type_error,
)

CONTENT_TYPE = "application/cbor"
SMITHY_PROTOCOL = "rpc-v2-cbor"

# Smithy: an optional prefix, then /service/{name}/operation/{name}; the service may be given as
# an absolute shape id with '#' replaced by '.', which routes like the bare name.
_IDENTIFIER = r"(?:_+[A-Za-z0-9]|[A-Za-z])[A-Za-z0-9_]*"
_PATH = re.compile(
    rf"/service/(?:{_IDENTIFIER}\.)*(?P<service>{_IDENTIFIER})/operation/(?P<operation>{_IDENTIFIER})$"
)


def unknown_operation(message: str) -> AwsError:
    # Smithy's reference server answers routing failures with 404 UnknownOperationException.
    return AwsError("UnknownOperationException", message, 404)


def _decode(body: bytes) -> Any:
    stream = io.BytesIO(body)
    value = cbor2.CBORDecoder(stream).decode()
    if stream.tell() != len(body):
        raise ValueError("trailing bytes after the top-level data item")
    return value


def _dumps(value: Any) -> bytes:
    return cbor2.dumps(value, datetime_as_timestamp=True, timezone=UTC)


class CborProtocol:
    """Smithy RPC v2 CBOR, driven by botocore's service models."""

    name = "smithy-rpc-v2-cbor"

    def __init__(self) -> None:
        self._operations: weakref.WeakKeyDictionary[ServiceModel, frozenset[str]] = (
            weakref.WeakKeyDictionary()
        )

    # -- requests ------------------------------------------------------------------------------

    def find_operation(self, service: ServiceModel, request: HttpRequest) -> OperationModel:
        protocol = request.headers.get("smithy-protocol")
        if protocol != SMITHY_PROTOCOL:
            raise unknown_operation(f"Expected header smithy-protocol: {SMITHY_PROTOCOL}, got {protocol!r}")
        match = _PATH.search(request.path)
        if match is None:
            raise unknown_operation(f"No operation at {request.path}")
        name = match["operation"]
        if match["service"] != service.metadata.get("targetPrefix") or name not in self._names(service):
            raise unknown_operation(f"Unknown operation {match['service']}.{name}")
        return service.operation_model(name)

    def _names(self, service: ServiceModel) -> frozenset[str]:
        names = self._operations.get(service)
        if names is None:
            names = frozenset(service.operation_names)
            self._operations[service] = names
        return names

    def parse(self, operation: OperationModel, request: HttpRequest) -> dict[str, Any]:
        body = request_body(request)
        if not body:
            return {}
        try:
            value = _decode(body)
        except RecursionError:
            raise serialization_error("Request body is nested too deeply") from None
        except Exception as exc:  # untrusted bytes: cbor2 raises several types
            raise serialization_error(f"Request body is not valid CBOR: {exc}") from None
        if type(value) is not dict:
            raise serialization_error("Request body must be a CBOR map")
        shape = operation.input_shape
        if shape is None:
            return {}
        try:
            return decoder_for(shape, CBOR_WIRE)(value)
        except WireTypeError as exc:
            raise wire_type_error(operation.service_model, exc) from None
        except RecursionError:
            raise serialization_error("Request body is nested too deeply") from None

    # -- responses -----------------------------------------------------------------------------

    def serialize(
        self, operation: OperationModel, output: dict[str, Any], request: HttpRequest, request_id: str
    ) -> HttpResponse:
        headers = [("x-amzn-RequestId", request_id), ("smithy-protocol", SMITHY_PROTOCOL)]
        shape = operation.output_shape
        if shape is None:
            # Smithy: an operation without output answers with an empty body.
            return HttpResponse(200, headers, b"")
        headers.append(("Content-Type", CONTENT_TYPE))
        return HttpResponse(200, headers, _dumps(encoder_for(shape, CBOR_WIRE)(output or {})))

    def serialize_error(
        self,
        service: ServiceModel,
        operation: OperationModel | None,
        error: AwsError,
        request: HttpRequest,
        request_id: str,
    ) -> HttpResponse:
        described = describe_error(service, operation, error)
        # cbor2 carries datetimes and bytes of unmodeled fields natively.
        body = error_body(described, error, CBOR_WIRE, dict)
        headers = [
            ("x-amzn-RequestId", request_id),
            ("smithy-protocol", SMITHY_PROTOCOL),
            ("Content-Type", CONTENT_TYPE),
        ]
        if described.query_error is not None:
            headers.append(("x-amzn-query-error", described.query_error))
        headers.extend(error.headers.items())
        return HttpResponse(described.status, headers, _dumps(body))
