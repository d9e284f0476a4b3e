"""Subscription filter policies on message attributes (FilterPolicyScope MessageAttributes).

Supported: exact strings and numbers, {"prefix"}, {"suffix"}, {"anything-but": value | [values]},
{"exists": bool}, {"numeric": ["<", 10, ">=", 2 ...]}. Keys are ANDed, values of a key ORed.
"""

from __future__ import annotations

import json
import operator
from typing import Any

from onebox.services.sns.model import invalid

_NUMERIC = {"=": operator.eq, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def parse(text: str) -> dict[str, list[Any]]:
    try:
        policy = json.loads(text)
    except ValueError:
        raise invalid("Filter policy: failed to parse JSON") from None
    if not isinstance(policy, dict) or not all(isinstance(v, list) and v for v in policy.values()):
        raise invalid("Filter policy: Filter policy values must be non-empty JSON arrays")
    for conditions in policy.values():
        for condition in conditions:
            if isinstance(condition, dict) and not set(condition) <= {
                "prefix",
                "suffix",
                "anything-but",
                "exists",
                "numeric",
            }:
                raise invalid(f"Filter policy: Unrecognized match type {next(iter(condition), '')}")
    return policy


def matches(policy_text: str, attributes: dict[str, Any] | None) -> bool:
    policy = parse(policy_text)
    attributes = attributes or {}
    for key, conditions in policy.items():
        attribute = attributes.get(key)
        value = None if attribute is None else attribute.get("StringValue")
        values = _values(value, attribute)
        if not any(_condition(condition, values, attribute is not None) for condition in conditions):
            return False
    return True


def _values(value: str | None, attribute: dict[str, Any] | None) -> list[Any]:
    if value is None:
        return []
    if attribute and attribute.get("DataType") == "String.Array":
        try:
            parsed = json.loads(value)
            return parsed if isinstance(parsed, list) else [parsed]
        except ValueError:
            return [value]
    if attribute and attribute.get("DataType", "").startswith("Number"):
        try:
            return [float(value)]
        except ValueError:
            return [value]
    return [value]


def _condition(condition: Any, values: list[Any], present: bool) -> bool:
    if not isinstance(condition, dict):
        return any(_equal(condition, value) for value in values)
    if "exists" in condition:
        return present == bool(condition["exists"])
    if "prefix" in condition:
        return any(isinstance(v, str) and v.startswith(condition["prefix"]) for v in values)
    if "suffix" in condition:
        return any(isinstance(v, str) and v.endswith(condition["suffix"]) for v in values)
    if "anything-but" in condition:
        excluded = condition["anything-but"]
        excluded = excluded if isinstance(excluded, list) else [excluded]
        return bool(values) and not any(_equal(e, v) for e in excluded for v in values)
    if "numeric" in condition:
        terms = condition["numeric"]
        numbers = [v for v in values if isinstance(v, float)]
        return any(
            all(_NUMERIC[terms[i]](n, float(terms[i + 1])) for i in range(0, len(terms) - 1, 2))
            for n in numbers
        )
    return False


def _equal(expected: Any, value: Any) -> bool:
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        return isinstance(value, float) and value == float(expected)
    return expected == value
