"""Conditional requests (If-Match & co.) and byte ranges, as S3 evaluates them."""

from __future__ import annotations

import re
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from onebox.aws.errors import AwsError
from onebox.services.s3.common import timestamp
from onebox.services.s3.storage import Version

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def precondition_failed(condition: str) -> AwsError:
    return AwsError(
        "PreconditionFailed",
        "At least one of the pre-conditions you specified did not hold",
        412,
        fields={"Condition": condition},
    )


def _etag_matches(header: str, etag: str) -> bool:
    candidates = [item.strip() for item in header.split(",")]
    bare = etag.strip('"')
    return any(item == "*" or item.strip('"') == bare for item in candidates)


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())


def check_read_conditions(
    version: Version,
    if_match: str | None,
    if_none_match: str | None,
    if_modified_since: datetime | None,
    if_unmodified_since: datetime | None,
    *,
    names: tuple[str, str, str, str] = (
        "If-Match",
        "If-None-Match",
        "If-Modified-Since",
        "If-Unmodified-Since",
    ),
    not_modified_status: int = 304,
) -> None:
    """412 or 304 as S3 decides (RFC 7232 order: If-Match wins over If-Unmodified-Since, and
    If-None-Match over If-Modified-Since). CopyObject's source conditions answer 412 throughout."""
    modified = int(version.last_modified)
    if if_match is not None:
        if not _etag_matches(if_match, version.etag):
            raise precondition_failed(names[0])
    elif if_unmodified_since is not None and modified > _seconds(if_unmodified_since):
        raise precondition_failed(names[3])
    if if_none_match is not None:
        if _etag_matches(if_none_match, version.etag):
            raise _not_modified(version, names[1], not_modified_status)
    elif if_modified_since is not None and modified <= _seconds(if_modified_since):
        raise _not_modified(version, names[2], not_modified_status)


def _not_modified(version: Version, condition: str, status: int) -> AwsError:
    if status == 412:
        return precondition_failed(condition)
    headers = {
        "ETag": version.etag,
        "Last-Modified": format_datetime(timestamp(version.last_modified), usegmt=True),
    }
    return AwsError("NotModified", "Not Modified", 304, headers=headers)


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end inclusive) for a satisfiable single range; None to send the whole object.

    S3 ignores ranges it cannot parse (and multi-range requests) and answers 416 InvalidRange for
    ones that select nothing."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise _invalid_range(header, size)
        return max(0, size - suffix), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        raise _invalid_range(header, size)
    return start, min(end, size - 1)


def _invalid_range(header: str, size: int) -> AwsError:
    return AwsError(
        "InvalidRange",
        "The requested range is not satisfiable",
        416,
        fields={"RangeRequested": header, "ActualObjectSize": str(size)},
        headers={"Content-Range": f"bytes */{size}"},
    )


def check_write_conditions(current: Version | None, if_match: str | None, if_none_match: str | None) -> None:
    """Conditional writes: If-None-Match: * refuses to overwrite, If-Match needs the named ETag."""
    exists = current is not None and not current.is_marker
    if if_none_match is not None:
        if if_none_match.strip() != "*":
            raise AwsError(
                "NotImplemented", "A header you provided implies functionality that is not implemented", 501
            )
        if exists:
            raise precondition_failed("If-None-Match")
    if if_match is not None:
        if not exists:
            raise AwsError("NoSuchKey", "The specified key does not exist.", 404)
        assert current is not None
        if not _etag_matches(if_match, current.etag):
            raise precondition_failed("If-Match")


def read_condition_params(params: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
    return (
        params.get("IfMatch"),
        params.get("IfNoneMatch"),
        params.get("IfModifiedSince"),
        params.get("IfUnmodifiedSince"),
    )
