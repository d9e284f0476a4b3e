"""The `rest-xml` protocol (S3, Route 53, CloudFront): REST routing plus XML bodies.

Bodies are read with the inverse of `botocore.serialize.RestXMLSerializer` and written so that
`botocore.parsers.RestXMLParser` (and the other SDKs) read them back. Errors use S3's bare
`<Error>` document or the `<ErrorResponse>` envelope of the other rest-xml services.
"""

from __future__ import annotations

import base64
import hashlib
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from functools import cache
from typing import Any

from botocore.model import OperationModel, ServiceModel, Shape

from onebox.aws.errors import AwsError
from onebox.aws.http import HttpRequest, HttpResponse
from onebox.aws.protocols.base import error_status
from onebox.aws.protocols.rest import (
    RestProtocol,
    error_plan,
    float_text,
    format_timestamp,
    parse_timestamp,
    timestamp_format,
)

XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'

# How each service answers a body that is not well-formed XML (S3 and CloudFront confirmed from
# their SDK error classes and public reports; Route 53 answers schema problems with InvalidInput).
_MALFORMED = {
    "s3": (
        "MalformedXML",
        "The XML you provided was not well-formed or did not validate against our published schema",
    ),
    "cloudfront": ("MalformedInput", "The XML document you provided was not well-formed"),
    "route53": ("InvalidInput", "Could not parse the XML request body"),
}

# S3's documented root elements for outputs whose botocore shape carries no locationName. The
# botocore parser ignores the root name; other clients and humans reading responses do not.
_S3_ROOTS = {
    "ListBuckets": "ListAllMyBucketsResult",
    "ListDirectoryBuckets": "ListAllMyDirectoryBucketsResult",
    "ListObjects": "ListBucketResult",
    "ListObjectsV2": "ListBucketResult",
    "ListObjectVersions": "ListVersionsResult",
    "ListMultipartUploads": "ListMultipartUploadsResult",
    "ListParts": "ListPartsResult",
    "CreateMultipartUpload": "InitiateMultipartUploadResult",
    "CompleteMultipartUpload": "CompleteMultipartUploadResult",
    "DeleteObjects": "DeleteResult",
    "GetBucketAcl": "AccessControlPolicy",
    "GetObjectAcl": "AccessControlPolicy",
    "GetBucketVersioning": "VersioningConfiguration",
    "GetBucketTagging": "Tagging",
    "GetObjectTagging": "Tagging",
    "GetBucketCors": "CORSConfiguration",
    "GetBucketLifecycle": "LifecycleConfiguration",
    "GetBucketLifecycleConfiguration": "LifecycleConfiguration",
    "GetBucketLogging": "BucketLoggingStatus",
    "GetBucketNotification": "NotificationConfiguration",
    "GetBucketNotificationConfiguration": "NotificationConfiguration",
    "GetBucketWebsite": "WebsiteConfiguration",
    "GetBucketRequestPayment": "RequestPaymentConfiguration",
    "GetBucketAccelerateConfiguration": "AccelerateConfiguration",
    "GetObjectAttributes": "GetObjectAttributesResponse",
    "CreateSession": "CreateSessionResult",
    "ListBucketAnalyticsConfigurations": "ListBucketAnalyticsConfigurationResult",
    "ListBucketInventoryConfigurations": "ListInventoryConfigurationsResult",
    "ListBucketMetricsConfigurations": "ListMetricsConfigurationsResult",
}

# XML 1.0 cannot carry most C0 control characters at all, not even as references; they become
# U+FFFD rather than a document no client can parse (S3 offers EncodingType=url for such keys).
_UNREPRESENTABLE = {code: "\ufffd" for code in range(32) if chr(code) not in "\t\n\r"}
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;", **_UNREPRESENTABLE})
_ATTR_ESCAPES = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "\r": "&#13;",
        "\n": "&#10;",
        "\t": "&#9;",
        **_UNREPRESENTABLE,
    }
)


def escape_text(text: str) -> str:
    return text.translate(_TEXT_ESCAPES)


def escape_attr(text: str) -> str:
    return text.translate(_ATTR_ESCAPES)


def local_name(tag: str) -> str:
    """An element or attribute name without its '{namespace}' or 'prefix:'."""
    return tag[tag.rfind("}") + 1 :].rpartition(":")[2]


@cache
def service_namespace(service: ServiceModel) -> str | None:
    """The service's XML namespace, as its input shapes declare it (botocore keeps none at service level)."""
    for name in service.operation_names:
        shape = service.operation_model(name).input_shape
        if shape is None:
            continue
        candidates = [shape]
        payload = shape.serialization.get("payload")
        if payload:
            candidates.append(shape.members[payload])
        for candidate in candidates:
            namespace = candidate.serialization.get("xmlNamespace")
            if isinstance(namespace, dict) and not namespace.get("prefix"):
                return namespace.get("uri")
            if isinstance(namespace, str):
                return namespace
    return None


def namespace_attr(shape: Shape) -> str:
    namespace = shape.serialization.get("xmlNamespace")
    if isinstance(namespace, dict):
        prefix = namespace.get("prefix")
        return f' xmlns{":" + prefix if prefix else ""}="{escape_attr(namespace["uri"])}"'
    if isinstance(namespace, str):
        return f' xmlns="{escape_attr(namespace)}"'
    return ""


# ---------------------------------------------------------------------------------------------
# Per-shape XML layout, cached: the same botocore Shape objects come back for a cached model.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Member:
    """One body member of a structure, with its XML names worked out once."""

    name: str
    shape: Shape
    kind: str
    # The element name written: botocore's parser takes a flattened list's member locationName.
    written: str
    # Element names accepted when reading: also the outer name botocore's serializer writes.
    read_names: tuple[str, ...]
    # Set for xmlAttribute members: the attribute's qualified name (e.g. "xsi:type").
    attribute: str | None
    namespace: str


@cache
def _struct_layout(shape: Shape) -> tuple[_Member, ...]:
    """Body members of a structure, in model order."""
    layout = []
    for name, member in shape.members.items():
        serialization = member.serialization
        if serialization.get("location") or serialization.get("eventstream"):
            continue
        outer = serialization.get("name", name)
        written = outer
        if member.type_name == "list" and serialization.get("flattened"):
            written = member.member.serialization.get("name", outer)
        layout.append(
            _Member(
                name=name,
                shape=member,
                kind=member.type_name,
                written=written,
                read_names=tuple(dict.fromkeys((outer, written))),
                attribute=outer if serialization.get("xmlAttribute") else None,
                namespace=namespace_attr(member),
            )
        )
    return tuple(layout)


# ---------------------------------------------------------------------------------------------
# Reading XML into shape-shaped values
# ---------------------------------------------------------------------------------------------


def parse_xml(body: bytes) -> ElementTree.Element:
    """The root element of a document; DTDs (and so entity expansion) are refused."""
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise ValueError("DTDs are not allowed")
    parser = ElementTree.XMLParser()
    parser.feed(body)
    return parser.close()


def read_value(shape: Shape, node: ElementTree.Element) -> Any:
    kind = shape.type_name
    if kind == "structure":
        return read_structure(shape, node)
    if kind == "list":
        return [read_value(shape.member, child) for child in node]
    if kind == "map":
        return read_map(shape, list(node))
    return read_scalar(shape, node.text or "")


def read_structure(shape: Shape, node: ElementTree.Element) -> dict[str, Any]:
    children: dict[str, list[ElementTree.Element]] = {}
    for child in node:
        children.setdefault(local_name(child.tag), []).append(child)
    attributes = {local_name(key): value for key, value in node.attrib.items()} if node.attrib else {}
    result: dict[str, Any] = {}
    for layout in _struct_layout(shape):
        name, member = layout.name, layout.shape
        if layout.attribute is not None:
            value = attributes.get(local_name(layout.attribute))
            if value is not None:
                result[name] = read_scalar(member, value)
            continue
        found: list[ElementTree.Element] | None = None
        for read_name in layout.read_names:
            found = children.get(read_name)
            if found:
                break
        if not found:
            continue
        flattened = member.serialization.get("flattened")
        if member.type_name == "list" and flattened:
            result[name] = [read_value(member.member, item) for item in found]
        elif member.type_name == "map" and flattened:
            result[name] = read_map(member, found)
        else:
            result[name] = read_value(member, found[0])
    return result


def read_map(shape: Shape, entries: list[ElementTree.Element]) -> dict[Any, Any]:
    key_name = shape.key.serialization.get("name", "key")
    value_name = shape.value.serialization.get("name", "value")
    result: dict[Any, Any] = {}
    for entry in entries:
        key = value = None
        for part in entry:
            tag = local_name(part.tag)
            if tag == key_name:
                key = read_value(shape.key, part)
            elif tag == value_name:
                value = read_value(shape.value, part)
        if key is not None:
            result[key] = value
    return result


def read_scalar(shape: Shape, text: str) -> Any:
    kind = shape.type_name
    if kind == "string":
        return text
    if kind in ("integer", "long"):
        return int(text.strip())
    if kind in ("float", "double"):
        return float(text.strip())
    if kind == "boolean":
        lowered = text.strip().lower()
        if lowered not in ("true", "false"):
            raise ValueError(f"not a boolean: {text!r}")
        return lowered == "true"
    if kind == "timestamp":
        return parse_timestamp(text, timestamp_format(shape, "iso8601"))
    if kind == "blob":
        return base64.b64decode(text.strip(), validate=True)
    return text


# ---------------------------------------------------------------------------------------------
# Writing shape-shaped values as XML (string building: several times faster than ElementTree)
# ---------------------------------------------------------------------------------------------


_CONTAINERS = frozenset(("structure", "list", "map"))


def write_value(parts: list[str], shape: Shape, value: Any, name: str, extra_attrs: str = "") -> None:
    kind = shape.type_name
    if kind == "structure":
        write_structure(parts, shape, value, name, extra_attrs)
    elif kind == "list":
        write_list(parts, shape, value, name)
    elif kind == "map":
        write_map(parts, shape, value, name)
    else:
        parts.append(
            f"<{name}{extra_attrs}{namespace_attr(shape)}>{escape_text(scalar_text(shape, value))}</{name}>"
        )


def write_structure(
    parts: list[str], shape: Shape, value: dict[str, Any], name: str, extra_attrs: str = ""
) -> None:
    layout = _struct_layout(shape)
    attrs = extra_attrs + namespace_attr(shape)
    for member in layout:
        if member.attribute is not None and value.get(member.name) is not None:
            attrs += f' {member.attribute}="{escape_attr(scalar_text(member.shape, value[member.name]))}"'
    parts.append(f"<{name}{attrs}>")
    for member in layout:
        item = value.get(member.name)
        if item is None or member.attribute is not None:
            continue
        if member.kind in _CONTAINERS:
            write_value(parts, member.shape, item, member.written)
        else:
            # Scalars inline: most elements of a large listing are scalars.
            text = item if member.kind == "string" and type(item) is str else scalar_text(member.shape, item)
            parts.append(
                f"<{member.written}{member.namespace}>{text.translate(_TEXT_ESCAPES)}</{member.written}>"
            )
    parts.append(f"</{name}>")


def write_list(parts: list[str], shape: Shape, value: list[Any], name: str) -> None:
    member = shape.member
    if shape.serialization.get("flattened"):
        for item in value:
            if item is not None:
                write_value(parts, member, item, name)
        return
    item_name = member.serialization.get("name", "member")
    parts.append(f"<{name}{namespace_attr(shape)}>")
    for item in value:
        if item is not None:
            write_value(parts, member, item, item_name)
    parts.append(f"</{name}>")


def write_map(parts: list[str], shape: Shape, value: dict[Any, Any], name: str) -> None:
    key_name = shape.key.serialization.get("name", "key")
    value_name = shape.value.serialization.get("name", "value")
    flattened = shape.serialization.get("flattened")
    if not flattened:
        parts.append(f"<{name}{namespace_attr(shape)}>")
    for key, item in value.items():
        parts.append(f"<{name}>" if flattened else "<entry>")
        write_value(parts, shape.key, key, key_name)
        if item is not None:
            write_value(parts, shape.value, item, value_name)
        parts.append(f"</{name}>" if flattened else "</entry>")
    if not flattened:
        parts.append(f"</{name}>")


def scalar_text(shape: Shape, value: Any) -> str:
    kind = shape.type_name
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "timestamp":
        return str(format_timestamp(value, timestamp_format(shape, "iso8601")))
    if kind in ("float", "double"):
        return float_text(float(value))
    if kind == "blob":
        return base64.b64encode(value.encode() if isinstance(value, str) else value).decode()
    return str(value)


def document(parts: list[str]) -> bytes:
    return XML_DECLARATION + "".join(parts).encode("utf-8")


# ---------------------------------------------------------------------------------------------
# The protocol
# ---------------------------------------------------------------------------------------------


class RestXmlProtocol(RestProtocol):
    name = "rest-xml"

    def content_type(self, service: ServiceModel) -> str:
        return "application/xml" if service.service_name == "s3" else "text/xml"

    def request_id_headers(self, service: ServiceModel, request_id: str) -> list[tuple[str, str]]:
        if service.service_name == "s3":
            return [("x-amz-request-id", request_id), ("x-amz-id-2", host_id(request_id))]
        return [("x-amzn-RequestId", request_id)]

    def malformed_body(self, service: ServiceModel, detail: str) -> AwsError:
        code, message = _MALFORMED.get(service.service_name, ("MalformedInput", "The XML is not well-formed"))
        return AwsError(code, message, 400)

    def no_route(self, service: ServiceModel, request: HttpRequest, path_matched: bool) -> AwsError:
        if service.service_name != "s3":
            return super().no_route(service, request, path_matched)
        # S3 answers a method it has no operation for at a path with MethodNotAllowed.
        depth = len([segment for segment in request.path.split("/") if segment])
        resource = "SERVICE" if depth == 0 else "BUCKET" if depth == 1 else "OBJECT"
        return AwsError(
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
            405,
            fields={"Method": request.method.upper(), "ResourceType": resource},
        )

    def bad_uri(self, service: ServiceModel, detail: str) -> AwsError:
        if service.service_name == "s3":
            return AwsError("InvalidURI", "Couldn't parse the specified URI.", 400)
        return super().bad_uri(service, detail)

    # -- bodies ----------------------------------------------------------------------------------

    def parse_body(self, service: ServiceModel, shape: Shape, body: bytes) -> Any:
        try:
            root = parse_xml(body)
        except (ElementTree.ParseError, ValueError) as exc:
            raise self.malformed_body(service, str(exc)) from exc
        try:
            return read_value(shape, root)
        except (ValueError, TypeError, RecursionError) as exc:
            raise self.malformed_body(service, str(exc)) from exc

    def serialize_body(self, operation: OperationModel, shape: Shape, value: Any, root: str) -> bytes:
        parts: list[str] = []
        namespace = "" if shape.serialization.get("xmlNamespace") else self._root_namespace(operation)
        write_value(parts, shape, value, root, namespace)
        return document(parts)

    def _root_namespace(self, operation: OperationModel) -> str:
        namespace = service_namespace(operation.service_model)
        return f' xmlns="{escape_attr(namespace)}"' if namespace else ""

    def root_name(self, operation: OperationModel) -> str:
        shape = operation.output_shape
        if operation.service_model.service_name == "s3" and operation.name in _S3_ROOTS:
            return _S3_ROOTS[operation.name]
        return shape.serialization.get("name", shape.name)

    def serialize(
        self, operation: OperationModel, output: dict[str, Any], request: HttpRequest, request_id: str
    ) -> HttpResponse:
        if operation.service_model.service_name == "s3" and operation.name == "GetBucketLocation":
            return self._bucket_location(operation, output, request, request_id)
        response = super().serialize(operation, output, request, request_id)
        if operation.name == "GetObject" and output.get("ContentRange") and response.status == 200:
            # S3 quirk the model cannot express: a ranged GET answers 206 Partial Content.
            response.status = 206
        return response

    def _bucket_location(
        self, operation: OperationModel, output: dict[str, Any], request: HttpRequest, request_id: str
    ) -> HttpResponse:
        # S3 quirk: the region is the root element's own text (us-east-1 is an empty element), which
        # botocore reads with a special handler rather than from the model.
        region = output.get("LocationConstraint") or ""
        body = document(
            [
                f"<LocationConstraint{self._root_namespace(operation)}>{escape_text(region)}</LocationConstraint>"
            ]
        )
        headers = [
            ("Content-Type", "application/xml"),
            *self.request_id_headers(operation.service_model, request_id),
        ]
        return HttpResponse(200, headers, b"" if request.method.upper() == "HEAD" else body)

    # -- errors ----------------------------------------------------------------------------------

    def serialize_error(
        self,
        service: ServiceModel,
        operation: OperationModel | None,
        error: AwsError,
        request: HttpRequest,
        request_id: str,
    ) -> HttpResponse:
        response = HttpResponse(status=error_status(service, error))
        fields_xml = self._error_fields(service, error, response)
        code = f"<Code>{escape_text(error.code)}</Code><Message>{escape_text(error.message)}</Message>"
        if service.service_name == "s3":
            body = (
                f"<Error>{code}{fields_xml}<RequestId>{escape_text(request_id)}</RequestId>"
                f"<HostId>{host_id(request_id)}</HostId></Error>"
            )
        else:
            namespace = service_namespace(service)
            xmlns = f' xmlns="{escape_attr(namespace)}"' if namespace else ""
            fault = "Sender" if error.sender_fault else "Receiver"
            body = (
                f"<ErrorResponse{xmlns}><Error><Type>{fault}</Type>{code}{fields_xml}</Error>"
                f"<RequestId>{escape_text(request_id)}</RequestId></ErrorResponse>"
            )
        response.headers.extend(self.request_id_headers(service, request_id))
        response.headers.extend(error.headers.items())
        if request.method.upper() != "HEAD" and response.status != 304:
            # HEAD responses (and 304s) carry no body; clients fall back to the status code, as with S3.
            response.headers.append(("Content-Type", self.content_type(service)))
            response.body = document([body])
        return response

    def _error_fields(self, service: ServiceModel, error: AwsError, response: HttpResponse) -> str:
        """Extra error members as XML elements (modeled ones through their shape; header members as headers)."""
        shape = self.error_shape(service, error)
        parts: list[str] = []
        if shape is not None:
            plan = error_plan(shape)
            self.write_located(plan, error.fields, response)
            layout = {member.name: (member.written, member.shape) for member in _struct_layout(shape)}
        else:
            layout = {}
        for name, value in error.fields.items():
            if value is None or name.lower() == "message" or name in ("Code", "RequestId", "HostId", "Type"):
                continue
            if name in layout:
                written, member = layout[name]
                write_value(parts, member, value, written)
            elif shape is None or name not in shape.members:
                parts.append(f"<{name}>{escape_text(str(value))}</{name}>")
        return "".join(parts)


def host_id(request_id: str) -> str:
    """S3's x-amz-id-2: an opaque base64 token, derived from the request id so it is stable per request."""
    return base64.b64encode(hashlib.sha256(request_id.encode()).digest() * 2).decode()
