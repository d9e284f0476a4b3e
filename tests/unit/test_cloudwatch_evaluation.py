"""AWS's alarm decision tables (AlarmThatSendsEmail.html, 'how alarm evaluation works')."""

from __future__ import annotations

import pytest

from onebox.services.cloudwatch.evaluation import ALARM, INSUFFICIENT, OK, decide, extra_periods


def _points(text: str) -> list[bool | None]:
    return [{"0": False, "X": True, "-": None}[c] for c in text.split()]


# N = M = 3, range 5: columns missing / ignore / breaching / notBreaching ("keep" = current state).
THREE_OF_THREE = [
    ("0 - X - X", OK, OK, OK, OK),
    ("0 - - - -", OK, OK, OK, OK),
    ("- - - - -", INSUFFICIENT, "keep", ALARM, OK),
    ("0 X X - X", ALARM, ALARM, ALARM, ALARM),
    ("- - X - -", ALARM, "keep", ALARM, OK),
]
TWO_OF_THREE = [
    ("0 - X - -", OK, OK, ALARM, OK),
    ("- - - X -", ALARM, "keep", ALARM, OK),
]


@pytest.mark.parametrize(
    ("points", "m", "expected"),
    [(r[0], 3, r[1:]) for r in THREE_OF_THREE] + [(r[0], 2, r[1:]) for r in TWO_OF_THREE],
)
@pytest.mark.parametrize("current", [OK, ALARM, INSUFFICIENT])
def test_documented_tables(points: str, m: int, expected: tuple[str, ...], current: str) -> None:
    for treatment, want in zip(("missing", "ignore", "breaching", "notBreaching"), expected, strict=True):
        want = current if want == "keep" else want
        assert decide(_points(points), 3, m, treatment, current) == want, (points, treatment)


@pytest.mark.parametrize("points", ["- - - - X", "- - - X -"])
def test_premature_alarm_guard_keeps_state(points: str) -> None:
    assert decide(_points(points), 3, 3, "missing", OK) == OK
    assert decide(_points(points), 3, 3, "missing", INSUFFICIENT) == INSUFFICIENT


def test_m_of_n_need_not_be_consecutive() -> None:
    assert decide(_points("0 0 X 0 X 0 X"), 5, 3, "missing", OK) == ALARM
    assert decide(_points("0 0 X 0 X 0 0"), 5, 3, "missing", ALARM) == OK


def test_evaluation_range_covers_five_minutes_or_two_periods() -> None:
    assert extra_periods(60) == 5
    assert extra_periods(300) == 2
    assert extra_periods(10) == 30
