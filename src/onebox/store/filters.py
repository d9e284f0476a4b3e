"""EC2-style `Filters`: AND across filters, OR across a filter's values, `*`/`?` wildcards.

Matching is case-sensitive, as in EC2. A backslash escapes `*`, `?` and itself (`\\*` is a literal
star). A filter with no values matches any resource that has *some* value for it (what EC2 does when
the CLI sends `Name=vpc-id` alone).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from onebox.aws.errors import AwsError

T = TypeVar("T")

# A resource's value for one filter name. Lists mean "any of these" (e.g. a group's member ids).
FilterValue = str | int | bool | None | Sequence[str | int | bool | None]

TAG_KEY = "tag-key"
TAG_VALUE = "tag-value"
TAG_PREFIX = "tag:"


def _pattern(value: str) -> re.Pattern[str] | str:
    """A compiled regex for a wildcard value, or the plain string when it has no specials (fast path)."""
    if "*" not in value and "?" not in value and "\\" not in value:
        return value
    out: list[str] = []
    i = 0
    while i < len(value):
        char = value[i]
        if char == "\\" and i + 1 < len(value) and value[i + 1] in "*?\\":
            out.append(re.escape(value[i + 1]))
            i += 2
            continue
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _as_text(value: str | int | bool) -> str:
    # EC2 renders booleans in filters as lowercase words (`is-default=true`).
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True, slots=True)
class _Filter:
    name: str
    patterns: tuple[re.Pattern[str] | str, ...]

    def matches_text(self, text: str) -> bool:
        for pattern in self.patterns:
            if isinstance(pattern, str):
                if pattern == text:
                    return True
            elif pattern.fullmatch(text):
                return True
        return False

    def matches_any(self, texts: Iterable[str]) -> bool:
        for text in texts:
            if not self.patterns or self.matches_text(text):
                return True
        return False


def _texts(value: FilterValue) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str | int | bool):
        return [_as_text(value)]
    return [_as_text(item) for item in value if item is not None]


class Filters:
    """Parsed and validated filters. Build with `Filters.parse`, then test resources with `matches`."""

    def __init__(self, filters: Sequence[_Filter]) -> None:
        self._filters = tuple(filters)

    @classmethod
    def parse(
        cls,
        filters: Iterable[Mapping[str, Any]] | None,
        allowed: Collection[str],
        *,
        allow_tags: bool = True,
        code: str = "InvalidParameterValue",
    ) -> Filters:
        """Validate the request's `Filters` against the operation's filter names; unknown -> AwsError."""
        parsed: list[_Filter] = []
        for raw in filters or ():
            name = raw.get("Name")
            if not isinstance(name, str) or not name:
                raise AwsError(code, "The filter 'null' is invalid")
            is_tag = name in (TAG_KEY, TAG_VALUE) or (
                name.startswith(TAG_PREFIX) and len(name) > len(TAG_PREFIX)
            )
            if not (name in allowed or (allow_tags and is_tag)):
                raise AwsError(code, f"The filter '{name}' is invalid")
            values = raw.get("Values") or []
            parsed.append(_Filter(name, tuple(_pattern(str(v)) for v in values)))
        return cls(parsed)

    def __bool__(self) -> bool:
        return bool(self._filters)

    def matches(self, view: Mapping[str, FilterValue], tags: Mapping[str, str] | None = None) -> bool:
        """True if the resource described by `view` (filter name -> value) and `tags` passes every filter."""
        tags = tags or {}
        for f in self._filters:
            if f.name == TAG_KEY:
                ok = f.matches_any(tags.keys())
            elif f.name == TAG_VALUE:
                ok = f.matches_any(tags.values())
            elif f.name.startswith(TAG_PREFIX):
                key = f.name[len(TAG_PREFIX) :]
                ok = key in tags and f.matches_any([tags[key]])
            else:
                ok = f.matches_any(_texts(view.get(f.name)))
            if not ok:
                return False
        return True

    def select(
        self,
        items: Iterable[T],
        view: Callable[[T], Mapping[str, FilterValue]],
        tags: Callable[[T], Mapping[str, str]],
    ) -> list[T]:
        """The items that match, in their original order. `view` is only called when there are filters."""
        if not self._filters:
            return list(items)
        return [item for item in items if self.matches(view(item), tags(item))]
