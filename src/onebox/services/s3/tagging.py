"""Tag sets (bucket and object tagging) with S3's limits and error codes."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from onebox.aws.errors import AwsError


def _invalid_tag(message: str) -> AwsError:
    return AwsError("InvalidTag", message, 400)


def check_tag_set(tag_set: list[dict[str, Any]], *, limit: int) -> dict[str, str]:
    """A TagSet as a dict, refusing what S3 refuses (duplicates, lengths, count, `aws:` keys)."""
    tags: dict[str, str] = {}
    for tag in tag_set:
        key = str(tag.get("Key", ""))
        value = str(tag.get("Value", ""))
        if key in tags:
            raise _invalid_tag("Cannot provide multiple Tags with the same key")
        if not key or len(key) > 128:
            raise _invalid_tag("The TagKey you have provided is invalid")
        if len(value) > 256:
            raise _invalid_tag("The TagValue you have provided is invalid")
        if key.lower().startswith("aws:"):
            raise _invalid_tag("Your TagKey cannot be prefixed with aws:")
        tags[key] = value
    if len(tags) > limit:
        if limit == 10:
            raise AwsError("BadRequest", "Object tags cannot be greater than 10", 400)
        raise _invalid_tag("Bucket tag count cannot be greater than 50")
    return tags


def tags_from_header(value: str | None) -> dict[str, str]:
    """The `x-amz-tagging` header: a URL-encoded query string of key=value pairs."""
    if not value:
        return {}
    pairs = parse_qsl(value, keep_blank_values=True)
    return check_tag_set([{"Key": key, "Value": val} for key, val in pairs], limit=10)


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]
