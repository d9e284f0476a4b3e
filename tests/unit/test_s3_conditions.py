"""Range headers and conditional requests, as S3 evaluates them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from onebox.aws.errors import AwsError
from onebox.services.s3.conditions import check_read_conditions, check_write_conditions, parse_range
from onebox.services.s3.storage import Version


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 10, None),
        ("bytes=0-0", 10, (0, 0)),
        ("bytes=2-4", 10, (2, 4)),
        ("bytes=5-", 10, (5, 9)),
        ("bytes=-3", 10, (7, 9)),
        ("bytes=-30", 10, (0, 9)),
        ("bytes=8-100", 10, (8, 9)),
        ("bytes=4-2", 10, None),  # invalid: ignored
        ("bytes=0-1,3-4", 10, None),  # multiple ranges: whole object
        ("items=0-1", 10, None),
    ],
)
def test_ranges(header: str | None, size: int, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(("header", "size"), [("bytes=10-", 10), ("bytes=-0", 10), ("bytes=0-", 0)])
def test_unsatisfiable_ranges(header: str, size: int) -> None:
    with pytest.raises(AwsError) as error:
        parse_range(header, size)
    assert (error.value.code, error.value.status) == ("InvalidRange", 416)
    assert error.value.fields == {"RangeRequested": header, "ActualObjectSize": str(size)}


def _version(etag: str = '"abc"', modified: float = 1_700_000_000) -> Version:
    return Version("b", "k", "null", True, False, None, 1, etag, modified)


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _outcome(**kwargs) -> int:
    try:
        check_read_conditions(
            _version(),
            kwargs.get("if_match"),
            kwargs.get("if_none_match"),
            kwargs.get("if_modified_since"),
            kwargs.get("if_unmodified_since"),
        )
    except AwsError as error:
        assert error.status is not None
        return error.status
    return 200


def test_read_conditions_follow_rfc_7232_precedence() -> None:
    before, after = _at(1_600_000_000), _at(1_800_000_000)
    assert _outcome(if_match='"abc"') == 200
    assert _outcome(if_match="abc") == 200
    assert _outcome(if_match="*") == 200
    assert _outcome(if_match='"zzz"') == 412
    assert _outcome(if_unmodified_since=before) == 412
    assert _outcome(if_unmodified_since=after) == 200
    assert _outcome(if_match='"abc"', if_unmodified_since=before) == 200  # If-Match wins
    assert _outcome(if_none_match='"abc"') == 304
    assert _outcome(if_none_match='"zzz"') == 200
    assert _outcome(if_modified_since=after) == 304
    assert _outcome(if_modified_since=before) == 200
    assert _outcome(if_none_match='"zzz"', if_modified_since=after) == 200  # If-None-Match wins
    assert _outcome(if_modified_since=_at(1_700_000_000)) == 304  # same second: not modified


def test_write_conditions() -> None:
    check_write_conditions(None, None, "*")
    with pytest.raises(AwsError) as error:
        check_write_conditions(_version(), None, "*")
    assert error.value.status == 412
    marker = Version("b", "k", "v", True, True, None, 0, "", 0)
    check_write_conditions(marker, None, "*")  # a delete marker is no object
    with pytest.raises(AwsError) as error:
        check_write_conditions(None, '"abc"', None)
    assert error.value.status == 404
    check_write_conditions(_version(), '"abc"', None)
