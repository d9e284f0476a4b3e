"""Shape-driven conversion between botocore's client-side values and JSON or CBOR data items.

awsJson and rpcv2Cbor both carry a structure as a map from member name to value; they differ
only in how some scalars travel (blobs as base64 text or byte strings, timestamps as epoch numbers
or CBOR tag 1). A `Wire` holds those differences. `decoder_for` and `encoder_for` compile a
shape once into a function that walks values of that shape, so a request pays one function
call per value and no model lookups.

Both protocols also share request-body handling (gzip, the errors for bad input) and the error
envelope (`__type`, `message`, the awsQueryCompatible header), so those live here too.
"""

from __future__ import annotations

import base64
import binascii
import math
import weakref
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from botocore.model import OperationModel, ServiceModel, Shape
from botocore.utils import parse_to_aware_datetime
from cbor2 import undefined as cbor_undefined

from onebox.aws.errors import AwsError, validation_error
from onebox.aws.http import HttpRequest
from onebox.aws.protocols.base import error_status

Converter = Callable[[Any], Any]


class WireTypeError(Exception):
    """A value in a request does not fit its modeled shape.

    `fits_wire` False: the value has the wrong wire type or cannot be decoded (AWS answers
    SerializationException). True: the value is well-formed but outside what the modeled type
    holds, such as 2**40 for an `integer` (answered as the service's validation error).
    """

    def __init__(self, message: str, *, fits_wire: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.fits_wire = fits_wire
        # Path elements, innermost first; appended while the error unwinds.
        self.path: list[str] = []

    def location(self) -> str:
        return "".join(reversed(self.path)).lstrip(".") or "the request body"


def _kind(value: Any) -> str:
    """How a value looks on the wire, for error messages."""
    names = {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        bytes: "a byte string",
        datetime: "a timestamp",
        type(None): "null",
    }
    return names.get(type(value), type(value).__name__)


def _mismatch(expected: str, value: Any) -> WireTypeError:
    return WireTypeError(f"expected {expected}, got {_kind(value)}")


# ---------------------------------------------------------------------------------------------
# Request bodies

# CloudWatch PutMetricData bodies are 1 MB at most; anything far beyond that is not a client.
MAX_DECOMPRESSED_BYTES = 16 * 1024 * 1024


def serialization_error(message: str) -> AwsError:
    """What AWS answers for a body it cannot deserialize (awsJson and rpcv2Cbor alike)."""
    return AwsError("SerializationException", message, 400)


def wire_type_error(service: ServiceModel, error: WireTypeError) -> AwsError:
    """A request value that does not fit its shape, in the terms AWS uses for it."""
    message = f"{error.message} at {error.location()}"
    if error.fits_wire:
        return validation_error(service.service_name, message)
    return serialization_error(message)


def request_body(request: HttpRequest) -> bytes:
    """The body, gunzipped when the client compressed it.

    botocore gzips bodies of operations with the requestcompression trait (CloudWatch
    PutMetricData) once they reach 10 KiB, in every protocol.
    """
    body = request.body
    if not body or "gzip" not in request.headers.get("content-encoding", ""):
        return body
    inflater = zlib.decompressobj(wbits=31)
    try:
        data = inflater.decompress(body, MAX_DECOMPRESSED_BYTES)
    except zlib.error as exc:
        raise serialization_error(f"Request body is not valid gzip: {exc}") from None
    if inflater.unconsumed_tail:
        raise serialization_error(f"Request body exceeds {MAX_DECOMPRESSED_BYTES} bytes once decompressed")
    if not inflater.eof:
        raise serialization_error("Request body is truncated gzip")
    return data


# ---------------------------------------------------------------------------------------------
# Scalar decoders (wire value -> client-side value)


def _decode_string(value: Any) -> str:
    if type(value) is str:
        return value
    raise _mismatch("a string", value)


def _decode_boolean(value: Any) -> bool:
    if type(value) is bool:
        return value
    raise _mismatch("a boolean", value)


def _integer_decoder(bits: int) -> Converter:
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1

    def decode(value: Any) -> int:
        kind = type(value)
        if kind is float:
            # JSON has one number type; 3.0 is a fine spelling of 3.
            if not value.is_integer():
                raise WireTypeError(f"{value!r} is not an integer", fits_wire=True)
            value, kind = int(value), int
        if kind is int:
            if low <= value <= high:
                return value
            raise WireTypeError(f"{value} is outside the range of a {bits}-bit integer", fits_wire=True)
        raise _mismatch("an integer", value)

    return decode


_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _decode_cbor_double(value: Any) -> float:
    kind = type(value)
    if kind is float:
        return value
    if kind is int:
        try:
            return float(value)
        except OverflowError:
            raise WireTypeError(f"{value} is outside the range of a double", fits_wire=True) from None
    raise _mismatch("a number", value)


def _decode_json_double(value: Any) -> float:
    # JSON has no literal for NaN or infinities; botocore sends them as these strings.
    if type(value) is str and value in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[value]
    return _decode_cbor_double(value)


def _from_epoch(seconds: float) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise WireTypeError(f"{seconds!r} is not a valid epoch timestamp", fits_wire=True) from None


def _decode_json_timestamp(value: Any) -> datetime:
    kind = type(value)
    if kind is float or kind is int:
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise WireTypeError(f"{value!r} is not a valid epoch timestamp", fits_wire=True) from None
    if kind is str:
        # timestampFormat iso8601 / rfc822 members arrive as text; accept any of the formats.
        try:
            return parse_to_aware_datetime(value).astimezone(UTC)
        except (ValueError, TypeError, OverflowError):
            raise WireTypeError(f"{value[:64]!r} is not a valid timestamp") from None
    raise _mismatch("a timestamp", value)


def _decode_cbor_timestamp(value: Any) -> datetime:
    kind = type(value)
    if kind is datetime:
        # cbor2 turns tag 1 into an aware UTC datetime already.
        if value.tzinfo is UTC:
            return value
        return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if kind is int or kind is float:
        # An untagged epoch number: not what botocore sends, but unambiguous.
        return _from_epoch(value)
    raise _mismatch("a timestamp (CBOR tag 1)", value)


def _decode_json_blob(value: Any) -> bytes:
    if type(value) is not str:
        raise _mismatch("a base64-encoded string", value)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise WireTypeError("expected a base64-encoded string, got invalid base64") from None


def _decode_cbor_blob(value: Any) -> bytes:
    if type(value) is bytes:
        return value
    raise _mismatch("a byte string", value)


def _identity(value: Any) -> Any:
    return value


# ---------------------------------------------------------------------------------------------
# Scalar encoders (client-side value -> wire value). None means "pass the value through".


def _to_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    return parse_to_aware_datetime(value)


def _encode_epoch(value: Any) -> int | float:
    moment = _to_datetime(value)
    seconds = moment.timestamp()
    # Whole seconds go out as integers, the way AWS and botocore write them.
    return int(seconds) if moment.microsecond == 0 else seconds


def _encode_iso8601(value: Any) -> str:
    moment = _to_datetime(value).astimezone(UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _encode_rfc822(value: Any) -> str:
    return format_datetime(_to_datetime(value).astimezone(UTC).replace(microsecond=0), usegmt=True)


def _json_timestamp_encoder(timestamp_format: str | None) -> Converter:
    formats = {"iso8601": _encode_iso8601, "rfc822": _encode_rfc822}
    return formats.get((timestamp_format or "unixtimestamp").lower(), _encode_epoch)


def _cbor_timestamp_encoder(timestamp_format: str | None) -> Converter:
    # rpcv2Cbor ignores timestampFormat: always tag 1, which cbor2 writes for aware datetimes.
    return _to_datetime


def _to_bytes(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    return bytes(value)


def _encode_json_blob(value: Any) -> str:
    return base64.b64encode(_to_bytes(value)).decode("ascii")


def _encode_json_double(value: Any) -> float | str:
    number = float(value)
    if math.isfinite(number):
        return number
    if math.isnan(number):
        return "NaN"
    return "Infinity" if number > 0 else "-Infinity"


# ---------------------------------------------------------------------------------------------
# Wires


@dataclass(frozen=True)
class Wire:
    """How one protocol carries scalars, and whether member serialization names apply.

    botocore's RpcV2CBORSerializer writes `serialization.name` but its parser reads member
    names, so the two directions are separate flags.
    """

    name: str
    decoders: Mapping[str, Converter]
    timestamp_encoder: Callable[[str | None], Converter]
    blob_encoder: Converter
    double_encoder: Converter
    renamed_in: bool
    renamed_out: bool
    # Decode into the parsed containers themselves instead of copies. Only for a parser that
    # never shares one container between two places (json does; CBOR's shared references could).
    in_place: bool
    # Compiled converters per root shape. Weak keys: botocore keeps its shapes alive through the
    # cached operation and service models, and a dropped model takes its converters with it.
    compiled_decoders: weakref.WeakKeyDictionary[Shape, Converter] = field(
        default_factory=weakref.WeakKeyDictionary, repr=False, compare=False
    )
    compiled_encoders: weakref.WeakKeyDictionary[Shape, Converter] = field(
        default_factory=weakref.WeakKeyDictionary, repr=False, compare=False
    )


_COMMON_DECODERS: dict[str, Converter] = {
    "string": _decode_string,
    "boolean": _decode_boolean,
    "integer": _integer_decoder(32),
    "long": _integer_decoder(64),
    # Smithy's byte and short types, should a model ever use them.
    "byte": _integer_decoder(8),
    "short": _integer_decoder(16),
}

JSON_WIRE = Wire(
    name="json",
    decoders={
        **_COMMON_DECODERS,
        "float": _decode_json_double,
        "double": _decode_json_double,
        "timestamp": _decode_json_timestamp,
        "blob": _decode_json_blob,
    },
    timestamp_encoder=_json_timestamp_encoder,
    blob_encoder=_encode_json_blob,
    double_encoder=_encode_json_double,
    renamed_in=True,
    renamed_out=True,
    in_place=True,
)

CBOR_WIRE = Wire(
    name="cbor",
    decoders={
        **_COMMON_DECODERS,
        "float": _decode_cbor_double,
        "double": _decode_cbor_double,
        "timestamp": _decode_cbor_timestamp,
        "blob": _decode_cbor_blob,
    },
    timestamp_encoder=_cbor_timestamp_encoder,
    blob_encoder=_to_bytes,
    double_encoder=float,
    renamed_in=True,
    renamed_out=False,
    in_place=False,
)


# ---------------------------------------------------------------------------------------------
# Compiling decoders


class _Never:
    """A type no wire value has: the `passes` of shapes whose values always need converting."""


# The wire type whose values a shape's decoder returns unchanged, per scalar type and wire.
# Compiled decoders test `type(value) is passes` inline and skip the call for those values.
_PASS_THROUGH: dict[str, dict[str, type]] = {
    "json": {"string": str, "boolean": bool, "float": float, "double": float},
    "cbor": {"string": str, "boolean": bool, "float": float, "double": float, "blob": bytes},
}


def _passes(shape: Shape, wire: Wire) -> type:
    return _PASS_THROUGH[wire.name].get(shape.type_name, _Never)


def _structure_decoder(
    shape_name: str, members: dict[str, tuple[str, type, Converter]], union: bool
) -> Converter:
    members_get = members.get

    def decode(value: Any) -> dict[str, Any]:
        if type(value) is not dict:
            raise _mismatch("an object", value)
        out: dict[str, Any] = {}
        for key, item in value.items():
            spec = members_get(key)
            # Unknown members are ignored (a newer client may send them); null means absent.
            if spec is None:
                continue
            name, passes, member_decode = spec
            if type(item) is passes:
                out[name] = item
                continue
            if item is None or item is cbor_undefined:
                continue
            try:
                out[name] = member_decode(item)
            except WireTypeError as error:
                error.path.append(f".{name}")
                raise
        if union and len(out) != 1:
            raise WireTypeError(f"union {shape_name} must have exactly one member set, got {len(out)}")
        return out

    return decode


def _structure_decoder_in_place(
    shape_name: str, members: dict[str, tuple[str, type, Converter]], union: bool
) -> Converter:
    """`_structure_decoder` for a shape whose wire names are its member names, reusing the dict."""
    members_get = members.get

    def decode(value: Any) -> dict[str, Any]:
        if type(value) is not dict:
            raise _mismatch("an object", value)
        dropped: list[str] | None = None
        for key, item in value.items():
            spec = members_get(key)
            if spec is not None:
                name, passes, member_decode = spec
                if type(item) is passes:
                    continue
                if item is not None:
                    try:
                        # Replacing a value leaves the keys, and so this iteration, intact.
                        value[key] = member_decode(item)
                    except WireTypeError as error:
                        error.path.append(f".{name}")
                        raise
                    continue
            # Unknown members are ignored (a newer client may send them); null means absent.
            if dropped is None:
                dropped = []
            dropped.append(key)
        if dropped is not None:
            for key in dropped:
                del value[key]
        if union and len(value) != 1:
            raise WireTypeError(f"union {shape_name} must have exactly one member set, got {len(value)}")
        return value

    return decode


def _list_decoder_in_place(member_decode: Converter, passes: type, sparse: bool) -> Converter:
    """`_list_decoder` reusing the list (awsJson only)."""

    def decode(value: Any) -> list[Any]:
        if type(value) is not list:
            raise _mismatch("an array", value)
        holes = False
        for index, item in enumerate(value):
            if type(item) is passes:
                continue
            if item is None:
                holes = True
                continue
            try:
                value[index] = member_decode(item)
            except WireTypeError as error:
                error.path.append(f"[{index}]")
                raise
        if holes and not sparse:
            # Dense lists cannot hold nulls; skip them as Smithy clients do.
            value[:] = [item for item in value if item is not None]
        return value

    return decode


def _list_decoder(member_decode: Converter, passes: type, sparse: bool) -> Converter:
    def decode_each(value: Any) -> list[Any]:
        if type(value) is not list:
            raise _mismatch("an array", value)
        out: list[Any] = []
        append = out.append
        for index, item in enumerate(value):
            if item is None or item is cbor_undefined:
                # Dense lists cannot hold nulls; skip them as Smithy clients do.
                if sparse:
                    append(None)
                continue
            try:
                append(member_decode(item))
            except WireTypeError as error:
                error.path.append(f"[{index}]")
                raise
        return out

    if passes is _Never:
        return decode_each

    def decode(value: Any) -> list[Any]:
        if type(value) is list:
            # Strings, booleans, doubles: one C-speed pass when every item passes as it is.
            out = [item for item in value if type(item) is passes]
            if len(out) == len(value):
                return out
        return decode_each(value)

    return decode


def _map_decoder(
    key_decode: Converter, key_passes: type, value_decode: Converter, value_passes: type, sparse: bool
) -> Converter:
    def decode_each(value: dict[Any, Any]) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key, item in value.items():
            try:
                decoded_key = key_decode(key)
                if item is None or item is cbor_undefined:
                    if sparse:
                        out[decoded_key] = None
                    continue
                out[decoded_key] = value_decode(item)
            except WireTypeError as error:
                error.path.append(f"[{key!r}]")
                raise
        return out

    def decode(value: Any) -> dict[Any, Any]:
        if type(value) is not dict:
            raise _mismatch("an object", value)
        if key_passes is not _Never and value_passes is not _Never:
            out = {
                key: item
                for key, item in value.items()
                if type(key) is key_passes and type(item) is value_passes
            }
            if len(out) == len(value):
                return out
        return decode_each(value)

    return decode


def _compile_decoder(shape: Shape, wire: Wire, memo: dict[str, Converter]) -> Converter:
    kind = shape.type_name
    if kind == "structure":
        if shape.is_document_type:
            return _identity
        known = memo.get(shape.name)
        if known is not None:
            return known
        members: dict[str, tuple[str, type, Converter]] = {}
        renamed = wire.renamed_in and any("name" in member.serialization for member in shape.members.values())
        build = _structure_decoder_in_place if wire.in_place and not renamed else _structure_decoder
        decode = build(shape.name, members, bool(shape.metadata.get("union")))
        # Registered before its members so recursive shapes (filters with And/Or) terminate.
        memo[shape.name] = decode
        for name, member in shape.members.items():
            if member.serialization.get("eventstream"):
                continue
            wire_name = member.serialization.get("name", name) if wire.renamed_in else name
            members[wire_name] = (name, _passes(member, wire), _compile_decoder(member, wire, memo))
        return decode
    sparse = bool(shape.metadata.get("sparse"))
    if kind == "list":
        member = shape.member
        build_list = _list_decoder_in_place if wire.in_place else _list_decoder
        return build_list(_compile_decoder(member, wire, memo), _passes(member, wire), sparse)
    if kind == "map":
        key, value = shape.key, shape.value
        return _map_decoder(
            _compile_decoder(key, wire, memo),
            _passes(key, wire),
            _compile_decoder(value, wire, memo),
            _passes(value, wire),
            sparse,
        )
    decoder = wire.decoders.get(kind)
    if decoder is None:
        raise NotImplementedError(f"no {wire.name} decoder for shape type {kind}")
    return decoder


# ---------------------------------------------------------------------------------------------
# Compiling encoders


def _structure_encoder(members: dict[str, tuple[str, Converter | None]]) -> Converter:
    def encode(value: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, item in value.items():
            if item is None:
                continue
            spec = members.get(key)
            # Keys the shape does not model never reach the client.
            if spec is None:
                continue
            wire_name, member_encode = spec
            out[wire_name] = item if member_encode is None else member_encode(item)
        return out

    return encode


def _list_encoder(member_encode: Converter) -> Converter:
    def encode(value: Any) -> list[Any]:
        return [None if item is None else member_encode(item) for item in value]

    return encode


def _map_encoder(value_encode: Converter) -> Converter:
    def encode(value: Mapping[Any, Any]) -> dict[Any, Any]:
        return {key: None if item is None else value_encode(item) for key, item in value.items()}

    return encode


def _compile_encoder(shape: Shape, wire: Wire, memo: dict[str, Converter]) -> Converter | None:
    """The encoder for a shape, or None when its values go on the wire unchanged."""
    kind = shape.type_name
    if kind == "structure":
        if shape.is_document_type:
            return None
        known = memo.get(shape.name)
        if known is not None:
            return known
        members: dict[str, tuple[str, Converter | None]] = {}
        encode = _structure_encoder(members)
        memo[shape.name] = encode
        for name, member in shape.members.items():
            # Event streams are framed separately by the protocol, never inside the body.
            if member.serialization.get("eventstream"):
                continue
            wire_name = member.serialization.get("name", name) if wire.renamed_out else name
            members[name] = (wire_name, _compile_encoder(member, wire, memo))
        return encode
    if kind == "list":
        member_encode = _compile_encoder(shape.member, wire, memo)
        # `list` copies tuples, sets and generators into something both encoders accept.
        return list if member_encode is None else _list_encoder(member_encode)
    if kind == "map":
        value_encode = _compile_encoder(shape.value, wire, memo)
        return dict if value_encode is None else _map_encoder(value_encode)
    if kind == "timestamp":
        return wire.timestamp_encoder(shape.serialization.get("timestampFormat"))
    if kind == "blob":
        return wire.blob_encoder
    if kind in ("float", "double"):
        return wire.double_encoder
    return None


def decoder_for(shape: Shape, wire: Wire) -> Converter:
    """A function turning a decoded JSON/CBOR value of `shape` into its client-side form.

    Raises WireTypeError for values that do not fit the shape.
    """
    decoder = wire.compiled_decoders.get(shape)
    if decoder is None:
        decoder = _compile_decoder(shape, wire, {})
        wire.compiled_decoders[shape] = decoder
    return decoder


def encoder_for(shape: Shape, wire: Wire) -> Converter:
    """A function turning a client-side value of `shape` into a JSON/CBOR-ready value.

    None members and keys the shape does not model are dropped.
    """
    encoder = wire.compiled_encoders.get(shape)
    if encoder is None:
        encoder = _compile_encoder(shape, wire, {}) or _identity
        wire.compiled_encoders[shape] = encoder
    return encoder


# ---------------------------------------------------------------------------------------------
# Errors


@dataclass(frozen=True)
class ErrorWire:
    """How one AwsError appears on the wire in a JSON-like protocol."""

    type_name: str  # the `__type` value: the error shape's name when modeled
    query_error: str | None  # `x-amzn-query-error` value for awsQueryCompatible services
    message_key: str  # "message", or "Message" when the shape models it that way
    shape: Shape | None
    status: int


def _error_index(service: ServiceModel) -> tuple[dict[str, Shape], dict[str, Shape]]:
    """Error shapes by shape name and by query code (first modeled wins), cached per service."""
    index = _ERROR_INDEX.get(service)
    if index is None:
        by_name: dict[str, Shape] = {}
        by_code: dict[str, Shape] = {}
        for shape in service.error_shapes:
            by_name[shape.name] = shape
            by_code.setdefault(shape.error_code or shape.name, shape)
        index = (by_name, by_code)
        _ERROR_INDEX[service] = index
    return index


_ERROR_INDEX: weakref.WeakKeyDictionary[ServiceModel, tuple[dict[str, Shape], dict[str, Shape]]] = (
    weakref.WeakKeyDictionary()
)


def find_error_shape(service: ServiceModel, operation: OperationModel | None, code: str) -> Shape | None:
    """The error shape an AwsError code names: by shape name, else by query code (`error.code`).

    The operation's own errors are preferred, because query-compatible services reuse one query
    code for several shapes (CloudWatch: DashboardNotFoundError and ResourceNotFound are both
    `ResourceNotFound`).
    """
    if operation is not None:
        for shape in operation.error_shapes:
            if shape.name == code:
                return shape
        for shape in operation.error_shapes:
            if shape.error_code == code:
                return shape
    by_name, by_code = _error_index(service)
    return by_name.get(code) or by_code.get(code)


def describe_error(service: ServiceModel, operation: OperationModel | None, error: AwsError) -> ErrorWire:
    shape = find_error_shape(service, operation, error.code)
    type_name = shape.name if shape is not None else error.code
    message_key = "Message" if shape is not None and "Message" in shape.members else "message"
    query_error = None
    if service.is_query_compatible:
        # botocore reports the code from this header and keeps `__type` as QueryErrorCode.
        if shape is not None:
            meta = shape.metadata.get("error", {})
            sender = bool(meta.get("senderFault")) or int(meta.get("httpStatusCode", 400)) < 500
            query_error = f"{shape.error_code};{'Sender' if sender else 'Receiver'}"
        else:
            query_error = f"{error.code};{'Sender' if error.sender_fault else 'Receiver'}"
    if error.status is None and shape is not None:
        # The shape this error resolved to, which error_status could pick differently when
        # several shapes share a query code.
        status = int(shape.metadata.get("error", {}).get("httpStatusCode", 400))
    else:
        status = error_status(service, error)
    return ErrorWire(type_name, query_error, message_key, shape, status)


def error_body(described: ErrorWire, error: AwsError, wire: Wire, plain: Converter) -> dict[str, Any]:
    """`__type`, the message and the error's extra fields, encoded for `wire`.

    `plain` encodes fields of unmodeled errors (no shape to drive the conversion).
    """
    body: dict[str, Any] = {"__type": described.type_name}
    if error.fields:
        if described.shape is not None:
            body.update(encoder_for(described.shape, wire)(error.fields))
        else:
            body.update(plain(error.fields))
    if error.message or described.message_key not in body:
        body[described.message_key] = error.message
    return body
