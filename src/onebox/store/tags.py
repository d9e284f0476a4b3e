"""Tag helpers with AWS's limits: 50 user tags, key <= 128 and value <= 256 characters, `aws:` reserved.

Services spell tag errors differently (EC2: InvalidParameterValue / TagLimitExceeded, ELBv2:
ValidationError / TooManyTags, S3: InvalidTag), so the caller passes its codes in `TagRules`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from onebox.aws.errors import AwsError

RESERVED_PREFIX = "aws:"


@dataclass(frozen=True, slots=True)
class TagRules:
    code: str = "InvalidParameterValue"
    limit_code: str | None = None  # None: use `code` for the 50-tag limit too
    max_tags: int = 50
    max_key_length: int = 128
    max_value_length: int = 256


EC2_TAG_RULES = TagRules(code="InvalidParameterValue", limit_code="TagLimitExceeded")


def is_reserved(key: str) -> bool:
    # AWS reserves the prefix in any letter case.
    return key[: len(RESERVED_PREFIX)].lower() == RESERVED_PREFIX


def tags_from_list(
    items: Iterable[Mapping[str, Any]] | None, *, key_field: str = "Key", value_field: str = "Value"
) -> dict[str, str]:
    """`[{"Key": k, "Value": v}, ...]` -> ordered dict; a missing value is "" (EC2 stores it that way)."""
    tags: dict[str, str] = {}
    for item in items or ():
        tags[str(item.get(key_field, ""))] = str(item.get(value_field) or "")
    return tags


def tags_to_list(
    tags: Mapping[str, str], *, key_field: str = "Key", value_field: str = "Value"
) -> list[dict[str, str]]:
    return [{key_field: key, value_field: value} for key, value in tags.items()]


def validate_tag(key: str, value: str, rules: TagRules = TagRules()) -> None:
    if not key:
        raise AwsError(rules.code, "Tag keys must not be empty.")
    if len(key) > rules.max_key_length:
        raise AwsError(
            rules.code, f"Tag key exceeds the maximum length of {rules.max_key_length} characters."
        )
    if len(value) > rules.max_value_length:
        raise AwsError(
            rules.code, f"Tag value exceeds the maximum length of {rules.max_value_length} characters."
        )


def apply_tags(
    current: Mapping[str, str], new: Mapping[str, str], rules: TagRules = TagRules(), *, system: bool = False
) -> dict[str, str]:
    """`current` with `new` added or overwritten; AwsError and no change on any violation.

    `system` lets onebox itself set `aws:` tags (e.g. `aws:cloudformation:stack-name`); users cannot.
    """
    for key, value in new.items():
        validate_tag(key, value, rules)
        if is_reserved(key) and not system:
            raise AwsError(
                rules.code, f"Tag keys starting with '{RESERVED_PREFIX}' are reserved for internal use."
            )
    merged = dict(current)
    merged.update(new)
    # System tags do not count towards the limit, as in AWS.
    user_count = sum(1 for key in merged if not is_reserved(key))
    if user_count > rules.max_tags:
        raise AwsError(
            rules.limit_code or rules.code,
            f"The maximum number of tags per resource ({rules.max_tags}) has been exceeded.",
        )
    return merged


def remove_tags(
    current: Mapping[str, str],
    removals: Iterable[tuple[str, str | None]],
    rules: TagRules = TagRules(),
    *,
    system: bool = False,
) -> dict[str, str]:
    """`current` without the given keys. A (key, value) pair only removes the tag if its value matches;
    (key, None) removes it whatever its value (EC2 DeleteTags semantics). Absent keys are ignored."""
    removals = list(removals)
    for key, _ in removals:
        if is_reserved(key) and not system:
            raise AwsError(
                rules.code, f"Tag keys starting with '{RESERVED_PREFIX}' are reserved for internal use."
            )
    remaining = dict(current)
    for key, value in removals:
        if key in remaining and (value is None or remaining[key] == value):
            del remaining[key]
    return remaining
