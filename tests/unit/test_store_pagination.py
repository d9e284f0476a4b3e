"""Opaque, tamper-evident pagination tokens."""

from __future__ import annotations

import base64

import pytest

from onebox.aws.errors import AwsError
from onebox.store.pagination import Paginator

SECRET = b"0123456789abcdef0123456789abcdef"


def walk(paginator: Paginator, items: list[int], page_size: int) -> list[list[int]]:
    pages: list[list[int]] = []
    token: str | None = None
    while True:
        page, token = paginator.paginate(items, page_size, token, key=lambda item: item)
        pages.append(page)
        if token is None:
            return pages


def test_round_trip_over_many_pages() -> None:
    paginator = Paginator(SECRET)
    items = list(range(1, 1001))
    pages = walk(paginator, items, 7)
    assert [item for page in pages for item in page] == items
    assert len(pages) == 143
    assert all(len(page) == 7 for page in pages[:-1])


def test_exact_multiple_has_no_trailing_empty_page() -> None:
    paginator = Paginator(SECRET)
    assert walk(paginator, list(range(10)), 5) == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    assert paginator.paginate([], 5, None, key=lambda item: item) == ([], None)


def test_no_max_results_returns_everything() -> None:
    page, token = Paginator(SECRET).paginate([3, 1, 2], None, None, key=lambda item: item)
    assert page == [1, 2, 3] and token is None
    page, token = Paginator(SECRET).paginate([3, 1, 2], 3, "", key=lambda item: item)
    assert page == [1, 2, 3] and token is None


def test_position_survives_inserts_and_deletes_between_pages() -> None:
    paginator = Paginator(SECRET)
    items = [(i, f"id-{i}") for i in range(10)]
    first, token = paginator.paginate(items, 4, None, key=lambda item: item[0])
    assert [i for i, _ in first] == [0, 1, 2, 3]
    # Item 3 (the position) is deleted and 1 is deleted: nothing repeats, nothing is skipped.
    remaining = [item for item in items if item[0] not in (1, 3)] + [(10, "id-10")]
    second, token = paginator.paginate(remaining, 4, token, key=lambda item: item[0])
    assert [i for i, _ in second] == [4, 5, 6, 7]
    third, token = paginator.paginate(remaining, 4, token, key=lambda item: item[0])
    assert [i for i, _ in third] == [8, 9, 10] and token is None


def test_string_and_tuple_keys() -> None:
    paginator = Paginator(SECRET)
    names = ["b", "a", "d", "c", "e"]
    page, token = paginator.paginate(names, 2, None, key=lambda n: n)
    assert page == ["a", "b"]
    assert paginator.paginate(names, 2, token, key=lambda n: n)[0] == ["c", "d"]
    pairs = [("x", 2), ("x", 1), ("a", 9)]
    page, token = paginator.paginate(pairs, 2, None, key=lambda p: p)
    assert page == [("a", 9), ("x", 1)]
    assert paginator.decode(token or "") == ("x", 1)
    assert paginator.paginate(pairs, 2, token, key=lambda p: p) == ([("x", 2)], None)


def test_tampered_token_is_rejected() -> None:
    paginator = Paginator(SECRET)
    _, token = paginator.paginate(list(range(10)), 3, None, key=lambda item: item)
    assert token is not None
    payload, mac = token.split(".")
    forged_payload = base64.urlsafe_b64encode(b'{"k":0}').rstrip(b"=").decode()
    flipped_mac = ("B" if mac[0] == "A" else "A") + mac[1:]
    for bad in [
        f"{forged_payload}.{mac}",
        f"{payload}.{flipped_mac}",
        f"{payload}.",
        "garbage",
        "a.b.c",
        "!!!.???",
        "é.é",
    ]:
        with pytest.raises(AwsError) as caught:
            paginator.paginate(list(range(10)), 3, bad, key=lambda item: item)
        assert caught.value.code == "InvalidNextToken"


def test_token_from_another_secret_or_scope_is_rejected_with_callers_code() -> None:
    _, token = Paginator(SECRET).paginate(
        list(range(10)), 3, None, key=lambda item: item, scope="DescribeVpcs"
    )
    assert token is not None
    with pytest.raises(AwsError) as caught:
        Paginator(b"another-secret-0123456789").paginate(
            list(range(10)),
            3,
            token,
            key=lambda item: item,
            scope="DescribeVpcs",
            code="InvalidParameterValue",
        )
    assert caught.value.code == "InvalidParameterValue"
    with pytest.raises(AwsError):
        Paginator(SECRET).paginate(list(range(10)), 3, token, key=lambda item: item, scope="DescribeSubnets")
    page, _ = Paginator(SECRET).paginate(
        list(range(10)), 3, token, key=lambda item: item, scope="DescribeVpcs"
    )
    assert page == [3, 4, 5]


def test_token_is_opaque_text() -> None:
    token = Paginator(SECRET).encode(("vpc-0123", 5))
    assert all(c.isalnum() or c in "-_." for c in token)


def test_bad_arguments_are_programming_errors() -> None:
    with pytest.raises(ValueError):
        Paginator(b"short")
    with pytest.raises(ValueError):
        Paginator(SECRET).paginate([1], 0, None, key=lambda item: item)
