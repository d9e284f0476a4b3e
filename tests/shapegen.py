"""Deterministic valid values for botocore shapes, for protocol round-trip tests.

`generate(shape)` returns a value that botocore's own client-side validator accepts: it
honours required members, min/max lengths and ranges, enums and unions, and stops recursion
at a fixed depth. Values are built from the member path so a mix-up between members shows.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from botocore.model import Shape

MAX_DEPTH = 5


def generate(shape: Shape, *, name: str = "v", depth: int = 0, all_members: bool = True) -> Any:
    """A valid value for `shape`. With all_members False only required members are filled."""
    kind = shape.type_name
    if kind == "structure":
        return _structure(shape, name, depth, all_members)
    if kind == "list":
        count = (
            int(shape.metadata.get("min", 0)) if depth >= MAX_DEPTH else max(2, shape.metadata.get("min", 0))
        )
        count = min(count, shape.metadata.get("max", count))
        return [
            generate(shape.member, name=f"{name}{i}", depth=depth + 1, all_members=all_members)
            for i in range(count)
        ]
    if kind == "map":
        result = {}
        for i in range(0 if depth >= MAX_DEPTH else 2):
            key = generate(shape.key, name=f"{name}k{i}", depth=depth + 1)
            result[key] = generate(shape.value, name=f"{name}v{i}", depth=depth + 1, all_members=all_members)
        return result
    if kind == "string":
        return _string(shape, name)
    if kind in ("integer", "long"):
        low = int(shape.metadata.get("min", 0))
        high = int(shape.metadata.get("max", low + 1000))
        return max(low, min(high, low + 7 + len(name) % 5))
    if kind in ("float", "double"):
        low = float(shape.metadata.get("min", 0))
        high = float(shape.metadata.get("max", low + 1000))
        return max(low, min(high, low + 2.5))
    if kind == "boolean":
        return len(name) % 2 == 0
    if kind == "timestamp":
        return datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    if kind == "blob":
        return b"blob\x00\xff" + name.encode()
    raise NotImplementedError(f"shape type {kind}")


def _structure(shape: Shape, name: str, depth: int, all_members: bool) -> dict[str, Any]:
    members = shape.members
    required = set(shape.required_members)
    if shape.is_document_type:
        return {"doc": name}
    if shape.metadata.get("union"):
        # Deep down, take the last member: unions put their recursive forms (And/Or/Not) first.
        names = list(members)
        first = names[-1] if depth >= MAX_DEPTH else names[0]
        return {first: generate(members[first], name=f"{name}.{first}", depth=depth + 1)}
    result: dict[str, Any] = {}
    for member_name, member in members.items():
        if member_name not in required and (not all_members or depth >= MAX_DEPTH):
            continue
        if member.serialization.get("eventstream") or member.metadata.get("eventstream"):
            continue
        result[member_name] = generate(
            member, name=f"{name}.{member_name}", depth=depth + 1, all_members=all_members
        )
    return result


def _string(shape: Shape, name: str) -> str:
    if shape.enum:
        return shape.enum[len(name) % len(shape.enum)]
    if shape.serialization.get("jsonvalue"):
        return json.dumps({"value": name})
    low = int(shape.metadata.get("min", 1))
    high = int(shape.metadata.get("max", 64))
    base = "".join(ch if ch.isalnum() else "-" for ch in name).strip("-") or "s"
    value = (base * (1 + low // max(len(base), 1)))[: max(high, 1)]
    if len(value) < low:
        value = value.ljust(low, "x")
    return value[:high] if high >= low else value
