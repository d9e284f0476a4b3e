"""CloudWatch Logs filter pattern syntax: terms, phrases, exclusions, OR, JSON and space-delimited."""

from __future__ import annotations

import pytest

from onebox.aws.errors import AwsError
from onebox.services.logs.filter_pattern import compile_pattern

LINES = [
    "ERROR disk full on /dev/sda1",
    "INFO request served in 12 ms",
    "WARN slow request: 950 ms",
    "ERROR Exiting after fatal error",
    "error lowercase",
]


def matching(pattern: str, lines: list[str] = LINES) -> list[str]:
    compiled = compile_pattern(pattern)
    return [line for line in lines if compiled.matches(line)]


def test_empty_pattern_matches_everything() -> None:
    assert matching("") == LINES


def test_terms_are_case_sensitive_and_anded() -> None:
    assert matching("ERROR") == [LINES[0], LINES[3]]
    assert matching("ERROR disk") == [LINES[0]]
    assert matching("request ms") == [LINES[1], LINES[2]]


def test_quoted_phrases() -> None:
    assert matching('"disk full"') == [LINES[0]]
    assert matching('"full disk"') == []
    assert matching('"slow request:"') == [LINES[2]]


def test_exclusions() -> None:
    assert matching("ERROR -Exiting") == [LINES[0]]
    assert matching('ERROR -"disk full"') == [LINES[3]]


def test_or_terms() -> None:
    assert matching("?WARN ?INFO") == [LINES[1], LINES[2]]
    assert matching('?"disk full" ?lowercase') == [LINES[0], LINES[4]]


JSON_LINES = [
    '{"status": 500, "latency": 120, "user": {"name": "ann", "roles": ["admin"]}, "ok": false}',
    '{"status": 200, "latency": 80, "user": {"name": "bob", "roles": []}, "ok": true, "extra": null}',
    '{"status": "404", "latency": 300.5, "path": "/api/items"}',
    "not json at all",
    "[1, 2, 3]",
]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("{ $.status = 500 }", [0]),
        ("{ $.status = 404 }", []),  # a string "404" is not the number 404
        ('{ $.status = "404" }', [2]),
        ("{ $.status != 500 }", [1, 2]),
        ("{ $.latency > 100 }", [0, 2]),
        ("{ $.latency >= 80 && $.latency < 121 }", [0, 1]),
        ("{ ($.status = 500) || ($.latency > 200) }", [0, 2]),
        ('{ $.user.name = "a*" }', [0]),
        ("{ $.user.name = bob }", [1]),
        ('{ $.user.roles[0] = "admin" }', [0]),
        ("{ $.extra IS NULL }", [1]),
        ("{ $.path NOT EXISTS }", [0, 1]),
        ("{ $.ok IS TRUE }", [1]),
        ("{ $.ok IS FALSE }", [0]),
        ('{ $.path = "/api/*" }', [2]),
    ],
)
def test_json_patterns(pattern: str, expected: list[int]) -> None:
    assert matching(pattern, JSON_LINES) == [JSON_LINES[i] for i in expected]


def test_json_extracts_values() -> None:
    assert compile_pattern("{ $.latency > 100 }").match(JSON_LINES[0]) == {"$.latency": 120}


APACHE = [
    '127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534',
    '127.0.0.1 - bob [10/Oct/2000:13:35:22 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326',
    "short line",
]


def test_space_delimited() -> None:
    pattern = "[ip, id, user, timestamp, request, status_code = 4*, bytes]"
    assert matching(pattern, APACHE) == [APACHE[0]]
    extracted = compile_pattern(pattern).match(APACHE[0])
    assert extracted is not None
    assert extracted["$user"] == "frank" and extracted["$bytes"] == "1534"
    assert extracted["$request"] == "GET /index.html HTTP/1.0"
    assert matching("[..., status_code, bytes > 2000]", APACHE) == [APACHE[1]]
    assert matching("[ip, ..., status_code = 200, bytes]", APACHE) == [APACHE[1]]


@pytest.mark.parametrize("pattern", ["{ $.a = }", "{ status = 1 }", "{ $.a = 1", "[a, ,b]", '{ $.a > "x" }'])
def test_bad_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(AwsError) as error:
        compile_pattern(pattern)
    assert error.value.code == "InvalidParameterException"
