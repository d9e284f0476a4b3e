"""The interface every wire protocol implements; the gateway only talks to this."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from onebox.aws.errors import AwsError
from onebox.aws.http import HttpRequest, HttpResponse

if TYPE_CHECKING:  # botocore is imported lazily: it costs a quarter second at start-up
    from botocore.model import OperationModel, ServiceModel


class WireProtocol(Protocol):
    """Parses requests and serializes responses and errors for one botocore protocol."""

    name: str

    def find_operation(self, service: ServiceModel, request: HttpRequest) -> OperationModel:
        """The operation a request names (Action, X-Amz-Target, CBOR path or REST URI).

        Raises AwsError (a 4xx in this protocol's terms) if the request names no operation
        of the service; never returns None.
        """
        ...

    def parse(self, operation: OperationModel, request: HttpRequest) -> dict[str, Any]:
        """The operation's input as a dict shaped like its input shape (botocore's client-side form).

        Timestamps become timezone-aware datetimes, blobs bytes, everything else plain Python
        values. Members absent from the request are absent from the dict. Malformed input
        raises AwsError with a 4xx status.
        """
        ...

    def serialize(
        self, operation: OperationModel, output: dict[str, Any], request: HttpRequest, request_id: str
    ) -> HttpResponse:
        """An operation's output dict (shaped like its output shape) as an HTTP response."""
        ...

    def serialize_error(
        self,
        service: ServiceModel,
        operation: OperationModel | None,
        error: AwsError,
        request: HttpRequest,
        request_id: str,
    ) -> HttpResponse:
        """An AwsError in this protocol's error format, status from the error or the model."""
        ...


def error_status(service: ServiceModel, error: AwsError) -> int:
    """The HTTP status for an error: explicit on the error, else the model's error shape, else 400."""
    if error.status is not None:
        return error.status
    for shape in service.error_shapes:
        code = shape.metadata.get("error", {}).get("code", shape.name)
        if code == error.code or shape.name == error.code:
            return int(shape.metadata.get("error", {}).get("httpStatusCode", 400))
    return 400 if error.sender_fault else 500
