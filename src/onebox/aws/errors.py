"""The one exception type that becomes an AWS error response in every protocol."""

from __future__ import annotations

from typing import Any


class AwsError(Exception):
    """An error a client sees as an AWS error.

    `status` None means: take the HTTP status from the service model's error shape
    (`error.httpStatusCode`), else 400. `fields` carries extra members of the modeled
    error shape (for example S3's `BucketName`, `Key`).
    """

    def __init__(
        self,
        code: str,
        message: str = "",
        status: int | None = None,
        *,
        sender_fault: bool = True,
        fields: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.sender_fault = sender_fault
        self.fields = fields or {}
        self.headers = headers or {}


def not_implemented(service: str, operation: str) -> AwsError:
    return AwsError(
        "NotImplemented",
        f"onebox does not implement {service} {operation} yet",
        501,
        sender_fault=False,
    )


def internal_error(message: str = "We encountered an internal error. Please try again.") -> AwsError:
    return AwsError("InternalFailure", message, 500, sender_fault=False)


# How each service names a schema-validation failure: (code for a bad value, code for a missing
# member, HTTP status). Services not listed use ValidationException (the JSON-protocol norm).
# Sources and confidence for each row are in docs/validation.md.
VALIDATION_CODES: dict[str, tuple[str, str, int]] = {
    # EC2: "The request must contain the parameter ImageId" / "Value ( 1 ) for parameter maxResults ..."
    "ec2": ("InvalidParameterValue", "MissingParameter", 400),
    # Coral query services: "1 validation error detected: Value ... at 'roleSessionName' ..."
    "sts": ("ValidationError", "ValidationError", 400),
    "elbv2": ("ValidationError", "ValidationError", 400),
    "autoscaling": ("ValidationError", "ValidationError", 400),
    # CloudWatch answers malformed wire values (a StartTime that is no date) with these; its
    # model-constraint failures are Coral's ValidationError (onebox.aws.validate overrides).
    "cloudwatch": ("InvalidParameterValue", "MissingParameter", 400),
    # RDS and ElastiCache report a missing member as a bad value:
    # "The parameter X must be provided and must not be blank."
    "rds": ("InvalidParameterValue", "InvalidParameterValue", 400),
    "elasticache": ("InvalidParameterValue", "InvalidParameterValue", 400),
    "sns": ("InvalidParameter", "InvalidParameter", 400),
    "logs": ("InvalidParameterException", "InvalidParameterException", 400),
    "acm": ("ValidationException", "ValidationException", 400),
    # S3: bad header/query values; body problems are MalformedXML (raised by onebox.aws.validate).
    "s3": ("InvalidArgument", "InvalidRequest", 400),
    "route53": ("InvalidInput", "InvalidInput", 400),
    "cloudfront": ("InvalidArgument", "InvalidArgument", 400),
}


def validation_error(service: str, message: str, *, missing: bool = False) -> AwsError:
    """A schema-validation failure in the service's own error code (see VALIDATION_CODES)."""
    invalid_code, missing_code, status = VALIDATION_CODES.get(
        service, ("ValidationException", "ValidationException", 400)
    )
    return AwsError(missing_code if missing else invalid_code, message, status)
