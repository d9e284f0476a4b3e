"""CloudWatch Logs filter patterns, compiled once and matched against each event's message.

Three syntaxes, as AWS has them:
- terms: `ERROR`, `"disk full"` (quoted phrase), `ERROR -DEBUG` (AND, exclusion), `?ERROR ?WARN` (OR).
  Terms are case-sensitive substrings of the message; an empty pattern matches everything.
- JSON: `{ $.status = 500 }`, `{ ($.latency > 100) && ($.user != "bot*") }`, `{ $.a.b[0] IS NULL }`,
  `{ $.x NOT EXISTS }`, `{ $.ok IS TRUE }`; numbers compare numerically, strings match with `*`
  wildcards; messages that are not JSON objects never match.
- space-delimited: `[ip, user, ..., status=4*, bytes > 1000]`; quoted ("...") and bracketed ([...])
  parts of the message are single fields; `...` stands for any number of fields.

`match(message)` returns the extracted values (`$.x` / `$field`) for metric values and dimensions, or
None when the message does not match.
"""

from __future__ import annotations

import fnmatch
import json
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from onebox.aws.errors import AwsError

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_JSON_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<op>&&|\|\||!=|<=|>=|=|<|>|\(|\))'
    r"|(?P<sel>\$(?:\.[A-Za-z0-9_@\-]+|\[\d+\]|\.\*)*)|(?P<word>[^\s()=!<>&|\"]+))"
)
_MISSING = object()


class PatternError(Exception):
    pass


@dataclass(frozen=True)
class Pattern:
    text: str
    _match: Callable[[str], dict[str, Any] | None]
    kind: str  # "terms" | "json" | "space"

    def match(self, message: str) -> dict[str, Any] | None:
        return self._match(message)

    def matches(self, message: str) -> bool:
        return self._match(message) is not None


def compile_pattern(text: str | None) -> Pattern:
    """Compile a filter pattern; AwsError InvalidParameterException if it cannot be parsed."""
    text = (text or "").strip()
    try:
        if text.startswith("{"):
            return Pattern(text, _compile_json(text), "json")
        if text.startswith("["):
            return Pattern(text, _compile_space(text), "space")
        return Pattern(text, _compile_terms(text), "terms")
    except PatternError as error:
        raise AwsError("InvalidParameterException", f"Invalid filter pattern: {error}") from None


# -- terms -----------------------------------------------------------------------------------------


def _compile_terms(text: str) -> Callable[[str], dict[str, Any] | None]:
    required: list[str] = []
    excluded: list[str] = []
    optional: list[str] = []
    for prefix, quoted, bare in re.findall(r'([?\-]?)(?:"((?:[^"\\]|\\.)*)"|(\S+))', text):
        term = quoted.replace('\\"', '"') if quoted else bare
        if not term:
            raise PatternError("empty term")
        {"": required, "-": excluded, "?": optional}[prefix].append(term)
    if optional and required:
        raise PatternError("cannot mix ?terms with required terms")

    def match(message: str) -> dict[str, Any] | None:
        if optional and not any(term in message for term in optional):
            return None
        if not all(term in message for term in required):
            return None
        if any(term in message for term in excluded):
            return None
        return {}

    return match


# -- JSON --------------------------------------------------------------------------------------------


def _tokens(body: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(body):
        if body[position:].strip() == "":
            break
        found = _JSON_TOKEN.match(body, position)
        if found is None or found.end() == position:
            raise PatternError(f"unexpected text at {body[position : position + 20]!r}")
        kind = found.lastgroup
        assert kind is not None
        tokens.append((kind, found.group(kind)))
        position = found.end()
    return tokens


def _compile_json(text: str) -> Callable[[str], dict[str, Any] | None]:
    if not text.endswith("}"):
        raise PatternError("a JSON pattern must end with }")
    tokens = _tokens(text[1:-1])
    parser = _JsonParser(tokens)
    predicate = parser.expression()
    if parser.position != len(tokens):
        raise PatternError("unexpected trailing tokens")
    selectors = parser.selectors

    def match(message: str) -> dict[str, Any] | None:
        try:
            document = json.loads(message)
        except ValueError:
            return None
        if not isinstance(document, dict):
            return None
        if not predicate(document):
            return None
        return JsonValues(document, selectors)

    return match


class JsonValues(dict[str, Any]):
    """The values a JSON pattern's selectors found; `get` also resolves other `$.` selectors (for metric
    values and dimensions that name fields the pattern does not test)."""

    def __init__(self, document: Any, selectors: list[str]) -> None:
        super().__init__({s: v for s in selectors if (v := _select(document, s)) is not _MISSING})
        self._document = document

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        if key in self:
            return self[key]
        if key.startswith("$"):
            found = _select(self._document, key)
            return default if found is _MISSING else found
        return default


class _JsonParser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.position = 0
        self.selectors: list[str] = []

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise PatternError("unexpected end of pattern")
        self.position += 1
        return token

    def expression(self) -> Callable[[Any], bool]:
        terms = [self.conjunction()]
        while self.peek() == ("op", "||"):
            self.take()
            terms.append(self.conjunction())
        return terms[0] if len(terms) == 1 else lambda doc: any(term(doc) for term in terms)

    def conjunction(self) -> Callable[[Any], bool]:
        terms = [self.atom()]
        while self.peek() == ("op", "&&"):
            self.take()
            terms.append(self.atom())
        return terms[0] if len(terms) == 1 else lambda doc: all(term(doc) for term in terms)

    def atom(self) -> Callable[[Any], bool]:
        kind, value = self.take()
        if (kind, value) == ("op", "("):
            inner = self.expression()
            if self.take() != ("op", ")"):
                raise PatternError("missing )")
            return inner
        if kind != "sel":
            raise PatternError(f"expected a $ selector, found {value!r}")
        selector = value
        self.selectors.append(selector)
        kind, word = self.take()
        if kind == "word" and word.upper() == "IS":
            _, what = self.take()
            what = what.upper()
            if what == "NULL":
                return lambda doc: _select(doc, selector) is None
            if what in ("TRUE", "FALSE"):
                expected = what == "TRUE"
                return lambda doc: _select(doc, selector) is expected
            raise PatternError(f"IS {what} is not a test")
        if kind == "word" and word.upper() == "NOT":
            if self.take()[1].upper() != "EXISTS":
                raise PatternError("expected NOT EXISTS")
            return lambda doc: _select(doc, selector) is _MISSING
        if kind != "op" or word not in _COMPARE:
            raise PatternError(f"expected a comparison after {selector}")
        compare = _COMPARE[word]
        value_kind, raw = self.take()
        if value_kind == "str":
            return _string_test(selector, json.loads(raw), word)
        if value_kind != "word":
            raise PatternError(f"expected a value after {word}")
        number = _number(raw)
        if number is None:
            return _string_test(selector, raw, word)
        if word in ("=", "!="):

            def equal(doc: Any) -> bool:
                found = _select(doc, selector)
                same = _is_number(found) and float(found) == number
                return same if word == "=" else (found is not _MISSING and not same)

            return equal

        def numeric(doc: Any) -> bool:
            found = _select(doc, selector)
            return _is_number(found) and compare(float(found), number)

        return numeric


def _string_test(selector: str, expected: str, op: str) -> Callable[[Any], bool]:
    if op not in ("=", "!="):
        raise PatternError("strings only compare with = and !=")

    def test(doc: Any) -> bool:
        found = _select(doc, selector)
        if found is _MISSING:
            return False
        text = found if isinstance(found, str) else json.dumps(found)
        same = fnmatch.fnmatchcase(text, expected) if "*" in expected else text == expected
        return same if op == "=" else not same

    return test


def _select(document: Any, selector: str) -> Any:
    current = document
    for part in re.findall(r"\.([A-Za-z0-9_@\-]+)|\[(\d+)\]", selector[1:]):
        key, index = part
        if key:
            if not isinstance(current, dict) or key not in current:
                return _MISSING
            current = current[key]
        else:
            if not isinstance(current, list) or int(index) >= len(current):
                return _MISSING
            current = current[int(index)]
    return current


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# -- space-delimited ---------------------------------------------------------------------------------

_FIELD = re.compile(r'"[^"]*"|\[[^\]]*\]|\S+')


@dataclass(frozen=True)
class _Field:
    name: str
    test: Callable[[str], bool] | None


def _compile_space(text: str) -> Callable[[str], dict[str, Any] | None]:
    if not text.endswith("]"):
        raise PatternError("a space-delimited pattern must end with ]")
    fields: list[_Field] = []
    for part in (p.strip() for p in text[1:-1].split(",")):
        if not part:
            raise PatternError("empty field")
        if part == "...":
            fields.append(_Field("...", None))
            continue
        found = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\s*(?:(!=|<=|>=|=|<|>)\s*(.+))?$", part)
        if found is None:
            raise PatternError(f"bad field {part!r}")
        name, op, raw = found.groups()
        fields.append(_Field(name, _field_test(op, raw.strip().strip('"')) if op else None))
    if sum(1 for f in fields if f.name == "...") > 1:
        raise PatternError("only one ... is supported")

    def match(message: str) -> dict[str, Any] | None:
        values = [_unwrap(v) for v in _FIELD.findall(message)]
        if any(f.name == "..." for f in fields):
            cut = next(i for i, f in enumerate(fields) if f.name == "...")
            head, tail = fields[:cut], fields[cut + 1 :]
            if len(values) < len(head) + len(tail):
                return None
            pairs = list(zip(head, values[: len(head)], strict=True))
            pairs += list(zip(tail, values[len(values) - len(tail) :], strict=True))
        else:
            if len(values) != len(fields):
                return None
            pairs = list(zip(fields, values, strict=True))
        extracted: dict[str, Any] = {}
        for field_spec, value in pairs:
            if field_spec.test is not None and not field_spec.test(value):
                return None
            extracted[f"${field_spec.name}"] = value
        return extracted

    return match


def _unwrap(value: str) -> str:
    if len(value) >= 2 and (value[0], value[-1]) in (('"', '"'), ("[", "]")):
        return value[1:-1]
    return value


def _field_test(op: str, raw: str) -> Callable[[str], bool]:
    number = _number(raw)
    compare = _COMPARE[op]
    if number is not None:
        return lambda value: _number(value) is not None and compare(float(value), number)  # type: ignore[arg-type]
    if op not in ("=", "!="):
        raise PatternError("strings only compare with = and !=")

    def test(value: str) -> bool:
        same = fnmatch.fnmatchcase(value, raw)
        return same if op == "=" else not same

    return test
