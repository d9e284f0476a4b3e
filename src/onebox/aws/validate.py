"""Model-driven input validation: required members, types, enums, lengths, ranges, patterns, unions.

`validate_input` checks a parsed input dict against the operation's botocore input shape and
raises the error the service itself answers with. The checks for one operation are compiled once
into a tree of small closures (a "plan") and cached, so a request only pays for walking the
members it carries. Where a value sits is tracked as a chain of small tuples and only spelled
out as a path string when something is wrong.

Services fall into four families (docs/validation.md has the sources):

- Coral-validated services (STS, ELBv2, Auto Scaling, CloudWatch, Logs, ACM, SNS, Route 53,
  CloudFront): every violated constraint is reported, AWS-style: `2 validation errors detected:
  Value 'x' at 'name' failed to satisfy constraint: Member must ...; Value ...`. Patterns are
  enforced where Python's `re` can express them.
- EC2: the first problem only, as `MissingParameter` / `InvalidParameterValue` in EC2's words.
- RDS and ElastiCache: the first problem only, as `InvalidParameterValue`.
- S3: required body members (`MalformedXML`), required headers, lengths and ranges, body enums;
  header enums and patterns are left to the handlers, which answer with S3's specific codes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from onebox.aws.errors import AwsError, validation_error

if TYPE_CHECKING:  # botocore is imported lazily: it costs a quarter second at start-up
    from botocore.model import OperationModel, Shape, StructureShape

# The families; see the module docstring.
_CORAL = "coral"
_EC2 = "ec2"
_RDS = "rds"
_ELASTICACHE = "elasticache"
_S3 = "s3"
_S3_HANDLER_ENUMS = frozenset({"BucketLocationConstraint"})
_FAMILIES: dict[str, str] = {"ec2": _EC2, "rds": _RDS, "elasticache": _ELASTICACHE, "s3": _S3}
# Services whose model-constraint failures use another code than their malformed-value errors
# in VALIDATION_CODES: CloudWatch's parser answers InvalidParameterValue, its Coral layer
# ValidationError (docs/validation.md).
_CORAL_CONSTRAINT_CODES: dict[str, str] = {"cloudwatch": "ValidationError"}
# Services whose wire format carries JSON types, so a wrong type is a deserialization error.
_JSON_PROTOCOLS = frozenset({"json", "rest-json"})
# Past this length a pattern is not tried: the length constraint has already failed, and a
# pathological pattern must not get a huge input.
_PATTERN_INPUT_LIMIT = 65536

# Where a value sits: None at the top, else (parent, kind, a, b) with kind _MEMBER (a = Coral
# label, b = wire name), _ITEM (a = 1-based list index) or _ENTRY (a = map key).
_At = tuple[Any, int, Any, Any] | None
_MEMBER, _ITEM, _ENTRY = 0, 1, 2


def _coral_path(at: _At) -> str:
    """'tags.1.member.key': Coral's names, lists as `N.member`."""
    parts: list[str] = []
    while at is not None:
        parent, kind, first, _ = at
        parts.append(first if kind == _MEMBER else f"{first}.member" if kind == _ITEM else str(first))
        at = parent
    return ".".join(reversed(parts))


def _wire_path(at: _At) -> str:
    """'TagSpecification.1.Tag.1.Key': the names as sent, for EC2, RDS and S3 messages."""
    parts: list[str] = []
    while at is not None:
        parent, kind, first, second = at
        parts.append(second if kind == _MEMBER else str(first))
        at = parent
    return ".".join(reversed(parts))


@dataclass(frozen=True, slots=True)
class _Problem:
    """One violated constraint. `constraint` is Coral's sentence ("Member must ...")."""

    at: _At
    value: Any
    constraint: str
    kind: str  # "missing", "length", "range", "enum", "pattern", "union", "type"
    shape: Shape
    sensitive: bool = False
    location: str | None = None  # S3: 'header', 'querystring', 'uri' or None for the body

    @property
    def path(self) -> str:
        return _coral_path(self.at)

    @property
    def wire_path(self) -> str:
        return _wire_path(self.at)


class _TypeProblem(Exception):
    """A value of the wrong JSON type: the JSON services answer SerializationException at once."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


Validator = Callable[[Any, _At, list[_Problem]], None]


class _Never:
    """A type no value has: the `exact` type of a `_Quick` that never passes."""


@dataclass(frozen=True, slots=True)
class _Quick:
    """When a scalar value certainly passes its validator, so callers may skip the call.

    It passes when its type is exactly `exact` and, unless `low` is None, its length (`by_len`) or
    value lies within [low, high]. Anything else goes to the validator, which finds the problem.
    """

    exact: type
    low: float | None
    high: float
    by_len: bool


_NO_QUICK = _Quick(_Never, None, 0.0, False)


# --- rendering values the way Coral's messages do ---------------------------------------------


def _render(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes | bytearray | memoryview):
        size = len(value)
        # Coral prints the Java ByteBuffer it received.
        return f"java.nio.HeapByteBuffer[pos=0 lim={size} cap={size}]"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_render(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}={_render(item)}" for key, item in value.items()) + "}"
    return str(value)


def _number(bound: Any) -> str:
    return str(int(bound)) if float(bound).is_integer() else str(bound)


def _coral_message(problem: _Problem) -> str:
    path = problem.path
    if problem.kind == "missing":
        return f"Value null at '{path}' failed to satisfy constraint: {problem.constraint}"
    if problem.sensitive:
        return f"Value at '{path}' failed to satisfy constraint: {problem.constraint}"
    return f"Value '{_render(problem.value)}' at '{path}' failed to satisfy constraint: {problem.constraint}"


def _coral_summary(problems: list[_Problem]) -> str:
    count = len(problems)
    noun = "error" if count == 1 else "errors"
    return f"{count} validation {noun} detected: " + "; ".join(_coral_message(p) for p in problems)


# --- compiling plans ---------------------------------------------------------------------------


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def _ec2_wire_name(name: str, member: Shape) -> str:
    # botocore's EC2 serializer: queryName, else the capitalised locationName, else the member name.
    serialization = member.serialization
    if "queryName" in serialization:
        return str(serialization["queryName"])
    if "name" in serialization:
        wire = str(serialization["name"])
        return wire[:1].upper() + wire[1:]
    return name


def _compile_pattern(pattern: str) -> re.Pattern[str] | None:
    """A Python regex for a model pattern, or None where Java syntax has no safe Python spelling."""
    if "\\p{" in pattern or "\\P{" in pattern:
        return None
    try:
        return re.compile(pattern)
    except re.error:
        return None


class _Compiler:
    """Builds validators for the shapes of one service; shared across its operations."""

    def __init__(self, family: str, json_types: bool) -> None:
        self.family = family
        self.json_types = json_types
        self.check_patterns = family == _CORAL
        self._memo: dict[tuple[str, str | None], Validator] = {}
        self._quick: dict[tuple[str, str | None], _Quick] = {}

    def quick(self, shape: Shape, location: str | None) -> _Quick:
        """The fast pass test of a compiled scalar shape (never passes for other shapes)."""
        return self._quick.get((shape.name, location), _NO_QUICK)

    def compile(self, shape: Shape, location: str | None = None) -> Validator:
        key = (shape.name, location)
        found = self._memo.get(key)
        if found is not None:
            return found
        # Recursive shapes: a forwarding stub stands in until the real validator is built.
        cell: list[Validator] = []

        def forward(value: Any, at: _At, problems: list[_Problem]) -> None:
            cell[0](value, at, problems)

        self._memo[key] = forward
        built = self._build(shape, location)
        cell.append(built)
        self._memo[key] = built
        return built

    def _build(self, shape: Shape, location: str | None) -> Validator:
        kind = shape.type_name
        if kind == "structure":
            if getattr(shape, "is_document_type", False) or shape.metadata.get("document"):
                return _accept
            return self._structure(shape, location)  # type: ignore[arg-type]
        if kind == "list":
            return self._list(shape, location)
        if kind == "map":
            return self._map(shape, location)
        return self._scalar(shape, location)

    # structures

    def _structure(self, shape: StructureShape, location: str | None) -> Validator:
        members: dict[str, tuple[Validator, str, str, type, float | None, float, bool]] = {}
        for name, member in shape.members.items():
            if member.serialization.get("eventstream") or member.metadata.get("eventstream"):
                continue
            member_location = member.serialization.get("location") or location
            validator = self.compile(member, member_location)
            quick = self.quick(member, member_location)
            members[name] = (
                validator,
                _lower_first(name),
                self._wire_name(name, member),
                quick.exact,
                quick.low,
                quick.high,
                quick.by_len,
            )
        required = [
            (name, members[name][1], members[name][2], shape.members[name])
            for name in shape.required_members
            if name in members
        ]
        is_union = bool(shape.metadata.get("union"))
        json_types = self.json_types
        members_get = members.get

        required_names = frozenset(name for name, _, _, _ in required)

        def missing(value: dict[str, Any], at: _At) -> list[_Problem]:
            return [
                _Problem(
                    (at, _MEMBER, label, wire_name),
                    None,
                    "Member must not be null",
                    "missing",
                    member,
                    location=member.serialization.get("location"),
                )
                for name, label, wire_name, member in required
                if value.get(name) is None
            ]

        def validate(value: Any, at: _At, problems: list[_Problem]) -> None:
            if not isinstance(value, dict):
                _type_problem(value, shape, at, problems, json_types)
                return
            start = len(problems)
            saw_null = False
            for name, item in value.items():
                entry = members_get(name)
                if entry is None:
                    continue
                if item is None:
                    saw_null = True
                    continue
                member_validate, label, wire_name, exact, low, high, by_len = entry
                # Most members are scalars that pass: test them here rather than call their validator.
                if type(item) is exact and (low is None or low <= (len(item) if by_len else item) <= high):
                    continue
                member_validate(item, (at, _MEMBER, label, wire_name), problems)
            if required_names and (saw_null or not value.keys() >= required_names):
                # Missing members come first, ahead of what the members' own validators found.
                problems[start:start] = missing(value, at)
            if is_union:
                _check_union(shape, value, members, at, problems)

        return validate

    def _wire_name(self, name: str, member: Shape) -> str:
        if self.family == _EC2:
            return _ec2_wire_name(name, member)
        serialization = member.serialization
        if self.family == _S3 or serialization.get("location") in ("header", "headers", "querystring", "uri"):
            return str(serialization.get("name", name))
        return name

    # lists and maps

    def _list(self, shape: Shape, location: str | None) -> Validator:
        member_shape = shape.member  # type: ignore[attr-defined]
        item_validator = self.compile(member_shape, location)
        quick = self.quick(member_shape, location)
        exact, item_low, item_high, by_len = quick.exact, quick.low, quick.high, quick.by_len
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        size_low = -_INF if low is None else low
        size_high = _INF if high is None else high
        scalar_items = member_shape.type_name not in ("structure", "list", "map")
        fold_items = scalar_items and self.family != _EC2
        json_types = self.json_types

        def validate(value: Any, at: _At, problems: list[_Problem]) -> None:
            if not isinstance(value, list | tuple):
                _type_problem(value, shape, at, problems, json_types)
                return
            size = len(value)
            if not size_low <= size <= size_high:
                _length_problems(value, size, low, high, shape, at, problems)
            if fold_items:
                # Coral folds failing scalar elements into one message about the whole list.
                inner: list[_Problem] = []
                for index, item in enumerate(value, 1):
                    if item is None or (
                        type(item) is exact
                        and (item_low is None or item_low <= (len(item) if by_len else item) <= item_high)
                    ):
                        continue
                    item_validator(item, (at, _ITEM, index, None), inner)
                if inner:
                    _fold(inner, value, at, shape, "Member must satisfy constraint", problems)
                return
            for index, item in enumerate(value, 1):
                if item is not None:
                    item_validator(item, (at, _ITEM, index, None), problems)

        return validate

    def _map(self, shape: Shape, location: str | None) -> Validator:
        key_validator = self.compile(shape.key, location)  # type: ignore[attr-defined]
        value_shape = shape.value  # type: ignore[attr-defined]
        value_validator = self.compile(value_shape, location)
        scalar_values = value_shape.type_name not in ("structure", "list", "map")
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        json_types = self.json_types

        def validate(value: Any, at: _At, problems: list[_Problem]) -> None:
            if not isinstance(value, dict):
                _type_problem(value, shape, at, problems, json_types)
                return
            if low is not None or high is not None:
                _length_problems(value, len(value), low, high, shape, at, problems)
            key_problems: list[_Problem] = []
            value_problems: list[_Problem] = []
            for key, item in value.items():
                key_validator(key, at, key_problems)
                if item is None:
                    continue
                if scalar_values:
                    value_validator(item, at, value_problems)
                else:
                    value_validator(item, (at, _ENTRY, key, None), problems)
            if key_problems:
                _fold(key_problems, value, at, shape, "Map keys must satisfy constraint", problems)
            if value_problems:
                _fold(value_problems, value, at, shape, "Map value must satisfy constraint", problems)

        return validate

    # scalars

    def _scalar(self, shape: Shape, location: str | None) -> Validator:
        kind = shape.type_name
        metadata = shape.metadata
        low, high = metadata.get("min"), metadata.get("max")
        sensitive = bool(metadata.get("sensitive"))
        # S3 answers a bad header enum with a specific code (InvalidStorageClass, ...) its handlers
        # know; only XML body enums are schema errors (MalformedXML) there. LocationConstraint is a
        # body enum S3 does not check as a schema: "us-east-1" (absent from the model's list) and
        # unknown Regions are InvalidLocationConstraint, which the CreateBucket handler answers.
        check_enum = self.family != _S3 or (location is None and shape.name not in _S3_HANDLER_ENUMS)
        enum = list(shape.enum) if check_enum and kind == "string" and getattr(shape, "enum", None) else []
        enum_set = frozenset(enum)
        pattern_text = metadata.get("pattern") if self.check_patterns and kind == "string" else None
        pattern = _compile_pattern(pattern_text) if pattern_text else None
        accepts = _TYPE_CHECKS.get(kind, _any_type)
        json_types = self.json_types
        if shape.serialization.get("jsonvalue"):
            return _accept  # a JSON document carried in a string: any JSON value is fine
        has_bounds = low is not None or high is not None
        exact = _EXACT_TYPES.get(kind)
        if exact is not None and not enum_set and pattern is None:
            if not has_bounds:
                self._quick[(shape.name, location)] = _Quick(exact, None, 0.0, False)
            elif kind != "timestamp":
                # Booleans compare as 0 and 1, as the range check below sees them.
                self._quick[(shape.name, location)] = _Quick(
                    exact,
                    -_INF if low is None else low,
                    _INF if high is None else high,
                    kind in ("string", "blob"),
                )
        if not has_bounds and not enum_set and pattern is None:
            return _type_only(accepts, shape, json_types)
        enum_sentence = f"Member must satisfy enum value set: [{', '.join(enum)}]"
        pattern_sentence = f"Member must satisfy regular expression pattern: {pattern_text}"
        is_length = kind in ("string", "blob")

        def validate(value: Any, at: _At, problems: list[_Problem]) -> None:
            if not accepts(value):
                _type_problem(value, shape, at, problems, json_types)
                return
            if has_bounds:
                if is_length:
                    _length_problems(value, len(value), low, high, shape, at, problems, sensitive, location)
                elif isinstance(value, int | float):
                    _range_problems(value, low, high, shape, at, problems, sensitive, location)
            if enum_set and value not in enum_set:
                problems.append(_Problem(at, value, enum_sentence, "enum", shape, sensitive, location))
            if (
                pattern is not None
                and len(value) <= _PATTERN_INPUT_LIMIT
                and pattern.fullmatch(value) is None
            ):
                problems.append(_Problem(at, value, pattern_sentence, "pattern", shape, sensitive, location))

        return validate


def _accept(value: Any, at: _At, problems: list[_Problem]) -> None:
    return None


def _type_only(accepts: Callable[[Any], bool], shape: Shape, json_types: bool) -> Validator:
    def validate(value: Any, at: _At, problems: list[_Problem]) -> None:
        if not accepts(value):
            _type_problem(value, shape, at, problems, json_types)

    return validate


def _check_union(
    shape: Shape, value: dict[str, Any], members: dict[str, Any], at: _At, problems: list[_Problem]
) -> None:
    present = [name for name, item in value.items() if item is not None and name in members]
    if len(present) != 1:
        sentence = (
            f"Member must have exactly one member set, but {len(present)} were set: [{', '.join(present)}]"
        )
        where = at if at is not None else (None, _MEMBER, _lower_first(shape.name), shape.name)
        problems.append(_Problem(where, value, sentence, "union", shape))


def _length_problems(
    value: Any,
    size: int,
    low: Any,
    high: Any,
    shape: Shape,
    at: _At,
    problems: list[_Problem],
    sensitive: bool = False,
    location: str | None = None,
) -> None:
    if low is not None and size < low:
        sentence = f"Member must have length greater than or equal to {_number(low)}"
        problems.append(_Problem(at, value, sentence, "length", shape, sensitive, location))
    if high is not None and size > high:
        sentence = f"Member must have length less than or equal to {_number(high)}"
        problems.append(_Problem(at, value, sentence, "length", shape, sensitive, location))


def _range_problems(
    value: float,
    low: Any,
    high: Any,
    shape: Shape,
    at: _At,
    problems: list[_Problem],
    sensitive: bool,
    location: str | None,
) -> None:
    if low is not None and value < low:
        sentence = f"Member must have value greater than or equal to {_number(low)}"
        problems.append(_Problem(at, value, sentence, "range", shape, sensitive, location))
    if high is not None and value > high:
        sentence = f"Member must have value less than or equal to {_number(high)}"
        problems.append(_Problem(at, value, sentence, "range", shape, sensitive, location))


def _fold(
    inner: list[_Problem], value: Any, at: _At, shape: Shape, lead: str, problems: list[_Problem]
) -> None:
    """One problem for a list or map whose scalar elements fail: `lead: [sentence, ...]`."""
    sentences: list[str] = []
    for problem in inner:
        if problem.kind == "type":
            problems.append(problem)
        elif problem.constraint not in sentences:
            sentences.append(problem.constraint)
    if sentences:
        first = inner[0]
        sensitive = any(p.sensitive for p in inner)
        sentence = f"{lead}: [{', '.join(sentences)}]"
        problems.append(_Problem(at, value, sentence, first.kind, shape, sensitive, first.location))


# --- types ------------------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _any_type(value: Any) -> bool:
    return True


_INF = float("inf")
# The one type each scalar's values usually have, for `_Quick` (the checks below also take others).
_EXACT_TYPES: dict[str, type] = {
    "string": str,
    "integer": int,
    "long": int,
    "float": float,
    "double": float,
    "boolean": bool,
    "timestamp": datetime,
    "blob": bytes,
}


_TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda value: isinstance(value, str),
    "integer": _is_int,
    "long": _is_int,
    "float": _is_number,
    "double": _is_number,
    "boolean": lambda value: isinstance(value, bool),
    # The parsers hand over datetimes and bytes; other spellings are accepted rather than
    # turning a parser's choice into a client-facing 400.
    "timestamp": lambda value: isinstance(value, datetime | date | str) or _is_number(value),
    "blob": lambda value: isinstance(value, bytes | bytearray | memoryview | str),
}

# How Coral's JSON reader names what it found and what it wanted.
_JSON_TOKEN = {bool: "BOOLEAN_VALUE", str: "STRING_VALUE", int: "NUMBER_VALUE", float: "NUMBER_VALUE"}
_JAVA_TYPE = {
    "string": "a String",
    "integer": "an Integer",
    "long": "a Long",
    "float": "a Float",
    "double": "a Double",
    "boolean": "a Boolean",
    "timestamp": "a Date",
    "blob": "a ByteBuffer",
    "structure": "a Structure",
    "list": "a List",
    "map": "a Map",
}


def _type_problem(value: Any, shape: Shape, at: _At, problems: list[_Problem], json_types: bool) -> None:
    if json_types:
        if isinstance(value, dict):
            raise _TypeProblem("Start of structure or map found where not expected.")
        if isinstance(value, list | tuple):
            raise _TypeProblem("Start of list found where not expected.")
        if shape.type_name in ("structure", "map"):
            raise _TypeProblem("Expected a structure or map but found a scalar value.")
        if shape.type_name == "list":
            raise _TypeProblem("Expected a list but found a scalar value.")
        token = _JSON_TOKEN.get(type(value), "VALUE")
        raise _TypeProblem(
            f"{token} can not be converted to {_JAVA_TYPE.get(shape.type_name, 'the expected type')}"
        )
    expected = _JAVA_TYPE.get(shape.type_name, f"a {shape.type_name}").split(" ", 1)[1]
    problems.append(_Problem(at, value, f"Member must be of type {expected}", "type", shape))


# --- plans and the entry point ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Plan:
    validator: Validator | None


_COMPILERS: dict[str, _Compiler] = {}
_PLANS: dict[tuple[str, str], _Plan] = {}


def _family(service_name: str) -> str:
    return _FAMILIES.get(service_name, _CORAL)


def _compiler(service_name: str, operation: OperationModel) -> _Compiler:
    compiler = _COMPILERS.get(service_name)
    if compiler is None:
        metadata = operation.service_model.metadata
        protocol = metadata.get("protocol", "")
        json_types = protocol in _JSON_PROTOCOLS and "awsQueryCompatible" not in metadata
        compiler = _Compiler(_family(service_name), json_types)
        _COMPILERS[service_name] = compiler
    return compiler


def _plan(service_name: str, operation: OperationModel) -> _Plan:
    key = (service_name, operation.name)
    plan = _PLANS.get(key)
    if plan is None:
        shape = operation.input_shape
        validator = _compiler(service_name, operation).compile(shape) if shape is not None else None
        plan = _Plan(validator)
        _PLANS[key] = plan
    return plan


# Operations whose handler validates its own input (a quick check of the common case, and
# `validate_input` for anything else, so the errors are the same): the gateway does not validate them.
_HANDLER_VALIDATED: set[tuple[str, str]] = set()


def handler_validates(service_name: str, operation_name: str) -> None:
    """Declare that the handler of this operation calls `validate_input` itself when needed."""
    _HANDLER_VALIDATED.add((service_name, operation_name))


def gateway_validates(service_name: str, operation_name: str) -> bool:
    return (service_name, operation_name) not in _HANDLER_VALIDATED


# Operations whose handler takes awsJson input unconverted (`protocols.jsonrpc.RawJson`) and validates it.
_RAW_JSON: set[tuple[str, str]] = set()


def handler_takes_raw_json(service_name: str, operation_name: str) -> None:
    """Declare that the handler takes awsJson input as a `RawJson` (`parsed()`: the body's JSON before
    shape conversion; `decoded()`: the usual input) and validates its input itself (see
    `handler_validates`)."""
    _RAW_JSON.add((service_name, operation_name))
    handler_validates(service_name, operation_name)


def takes_raw_json(service_name: str, operation_name: str) -> bool:
    return (service_name, operation_name) in _RAW_JSON


def validate_input(service_name: str, operation: OperationModel, params: dict[str, Any]) -> None:
    """Raise the service's validation error if `params` breaks the operation's input model."""
    plan = _plan(service_name, operation)
    if plan.validator is None:
        return
    problems: list[_Problem] = []
    try:
        plan.validator(params, None, problems)
    except _TypeProblem as problem:
        raise AwsError("SerializationException", problem.message, 400) from None
    if problems:
        raise _error_for(service_name, operation, problems)


def _error_for(service_name: str, operation: OperationModel, problems: list[_Problem]) -> AwsError:
    family = _family(service_name)
    if family == _CORAL:
        code = _CORAL_CONSTRAINT_CODES.get(service_name)
        if code is not None:
            return AwsError(code, _coral_summary(problems), 400)
        missing_only = all(problem.kind == "missing" for problem in problems)
        return validation_error(service_name, _coral_summary(problems), missing=missing_only)
    first = problems[0]
    if family == _EC2:
        return _ec2_error(service_name, first)
    if family in (_RDS, _ELASTICACHE):
        return _rds_error(service_name, family, first)
    return _s3_error(service_name, operation, first)


def _ec2_error(service_name: str, problem: _Problem) -> AwsError:
    name = problem.wire_path
    if problem.kind == "missing":
        return validation_error(service_name, f"The request must contain the parameter {name}", missing=True)
    if problem.kind == "range":
        detail = _ec2_range_detail(problem)
    elif problem.kind == "length":
        detail = _ec2_length_detail(problem)
    elif problem.kind == "enum":
        detail = "Supported values: " + ", ".join(getattr(problem.shape, "enum", None) or [])
    else:
        detail = problem.constraint
    shown = _render(problem.value)
    return validation_error(
        service_name, f"Value ( {shown} ) for parameter {_lower_first(name)} is invalid. {detail}"
    )


def _ec2_range_detail(problem: _Problem) -> str:
    low, high = problem.shape.metadata.get("min"), problem.shape.metadata.get("max")
    if low is not None and problem.value < low:
        return f"Expecting a value greater than {_number(low)}."
    return f"Expecting a value less than {_number(high)}."


def _ec2_length_detail(problem: _Problem) -> str:
    low, high = problem.shape.metadata.get("min"), problem.shape.metadata.get("max")
    if low is not None and len(problem.value) < low:
        return f"Length must be at least {_number(low)}."
    return f"Length must be at most {_number(high)}."


def _rds_error(service_name: str, family: str, problem: _Problem) -> AwsError:
    if problem.kind == "missing":
        ending = "must not be blank" if family == _RDS else "must not be null"
        message = f"The parameter {problem.wire_path} must be provided and {ending}."
        return validation_error(service_name, message, missing=True)
    return validation_error(service_name, _coral_summary([problem]))


def _s3_error(service_name: str, operation: OperationModel, problem: _Problem) -> AwsError:
    location = problem.location
    if problem.kind == "missing":
        if location == "header":
            message = f"Missing required header for this request: {problem.wire_path}"
            return AwsError("InvalidRequest", message, 400)
        if location in ("querystring", "uri"):
            return AwsError("InvalidRequest", f"Missing required parameter: {problem.wire_path}", 400)
        input_shape = operation.input_shape
        payload = input_shape.serialization.get("payload") if input_shape is not None else None
        if (
            payload is not None
            and problem.at is not None
            and problem.at[0] is None
            and problem.at[2] == _lower_first(payload)
        ):
            return AwsError("MissingRequestBodyError", "Request Body is empty", 400)
    if location is None:
        return AwsError(
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published schema",
            400,
        )
    return validation_error(service_name, _coral_message(problem))
