"""Turning AWS's rule values into HAProxy configuration words: quoting, log-format escaping, and AWS
wildcards (`*` any run of characters, `?` exactly one) as anchored PCRE patterns.

HAProxy reads a single-quoted word literally (no escapes, no environment variables), and a regular
expression written only with letters, digits and `\\xHH` escapes never needs a quote of its own, so
every pattern here is `'^...$'` whatever the user's value holds.
"""

from __future__ import annotations

import re

_SAFE_REGEX_CHAR = re.compile(r"[A-Za-z0-9]")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")


class SpecError(ValueError):
    """A spec that cannot become a valid HAProxy configuration."""


def quote(text: str) -> str:
    """A double-quoted HAProxy word holding `text` verbatim (for `string`, `content-type`, ...)."""
    out = []
    for char in text:
        if char in '"\\$#':
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def log_format_literal(text: str) -> str:
    """`text` as literal content of a log-format string (which is then passed through `quote`)."""
    return text.replace("%", "%%")


def literal_regex(text: str) -> str:
    """A PCRE fragment matching `text` exactly."""
    return "".join(char if _SAFE_REGEX_CHAR.match(char) else _escape_char(char) for char in text)


def _escape_char(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\x{{{code:x}}}"


def wildcard_regex(value: str, *, any_run: str = ".*", any_one: str = ".") -> str:
    """AWS wildcard `value` as an unanchored PCRE fragment."""
    out = []
    for char in value:
        if char == "*":
            out.append(any_run)
        elif char == "?":
            out.append(any_one)
        else:
            out.append(literal_regex(char))
    return "".join(out)


def anchored(fragments: list[str]) -> str:
    """One single-quoted pattern matching any of `fragments` as the whole input."""
    body = fragments[0] if len(fragments) == 1 else "(?:" + "|".join(fragments) + ")"
    return f"'^{body}$'"


def header_name(name: str) -> str:
    if not _HEADER_NAME.match(name) or any(c in name for c in "'$%#,()\"\\"):
        raise SpecError(f"unsupported HTTP header name {name!r}")
    return name.lower()


def status_regex(matcher: str) -> str:
    """AWS's HttpCode matcher ("200", "200,202", "200-299", "200-204,301") as a single-quoted pattern."""
    codes: set[int] = set()
    for part in matcher.replace(" ", "").split(","):
        if not part:
            continue
        try:
            if "-" in part:
                low, high = (int(x) for x in part.split("-", 1))
            else:
                low = high = int(part)
        except ValueError as exc:
            raise SpecError(f"invalid health check matcher {matcher!r}") from exc
        if not 100 <= low <= high <= 599:
            raise SpecError(f"invalid health check matcher {matcher!r}")
        codes.update(range(low, high + 1))
    if not codes:
        raise SpecError(f"invalid health check matcher {matcher!r}")
    return anchored(_compress_codes(codes))


def _compress_codes(codes: set[int]) -> list[str]:
    """Three-digit codes as few patterns: a whole hundred as `2[0-9][0-9]`, a whole ten as `20[0-9]`."""
    out: list[str] = []
    for hundred in range(1, 6):
        tens_full = []
        for ten in range(10):
            base = hundred * 100 + ten * 10
            present = [c for c in range(base, base + 10) if c in codes]
            if len(present) == 10:
                tens_full.append(ten)
            else:
                out.extend(str(c) for c in present)
        if len(tens_full) == 10:
            out.append(f"{hundred}[0-9][0-9]")
        else:
            out.extend(f"{hundred}{ten}[0-9]" for ten in tens_full)
    return out
