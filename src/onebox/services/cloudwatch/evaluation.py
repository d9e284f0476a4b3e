"""AWS's alarm decision over an evaluation range, as a pure function (docs/cloudwatch.md explains it).

The range holds more periods than EvaluationPeriods (N): `extra_periods` more, i.e. the window plus
max(2 periods, 5 minutes), which is also how long data must be absent before an alarm turns
INSUFFICIENT_DATA. Given each period's point (breaching True/False, or None when missing):

1. at least N real points in the range: the latest N real points decide (TreatMissingData unused);
2. no real point: missing -> INSUFFICIENT_DATA, ignore -> keep, breaching -> ALARM, notBreaching -> OK;
3. fewer than N real points: the real points plus as few filled ones as possible:
   breaching/notBreaching fill with their value; missing/ignore fill with nothing, so ALARM needs M
   real breaching points, a real non-breaching point means OK, and otherwise (only breaching points,
   fewer than M) the state is kept, except that `missing` applies the premature-alarm rule: ALARM when
   the oldest breaching point of the last N periods is at least M periods old and every later point is
   breaching or missing.
"""

from __future__ import annotations

import math
from collections.abc import Callable

OK = "OK"
ALARM = "ALARM"
INSUFFICIENT = "INSUFFICIENT_DATA"

COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "GreaterThanThreshold": lambda v, t: v > t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}
# Anomaly-band operators compare with a band (a time series) instead of a threshold.
BAND_COMPARISONS: dict[str, Callable[[float, float, float], bool]] = {
    "LessThanLowerOrGreaterThanUpperThreshold": lambda v, lo, hi: v < lo or v > hi,
    "GreaterThanUpperThreshold": lambda v, lo, hi: v > hi,
    "LessThanLowerThreshold": lambda v, lo, hi: v < lo,
}


def extra_periods(period: int) -> int:
    return max(2, math.ceil(300 / period))


def decide(points: list[bool | None], n: int, m: int, treatment: str, current: str) -> str:
    """The alarm state for `points` (oldest first, the whole evaluation range)."""
    real = [p for p in points if p is not None]
    if len(real) >= n:
        return ALARM if sum(real[-n:]) >= m else OK
    if not real:
        return {"missing": INSUFFICIENT, "ignore": current, "breaching": ALARM, "notBreaching": OK}[treatment]
    breaching = sum(real)
    filler = n - len(real)
    if treatment == "breaching":
        return ALARM if breaching + filler >= m else OK
    if treatment == "notBreaching":
        return ALARM if breaching >= m else OK
    if breaching >= m:
        return ALARM
    if breaching < len(real):  # a real non-breaching point among too few to alarm
        return OK
    if treatment == "missing" and premature_alarm_rule(points[-n:], m):
        return ALARM
    return current


def premature_alarm_rule(last_n: list[bool | None], m: int) -> bool:
    """ALARM although fewer than M points breach: the oldest breaching point is at least M periods old
    and everything after it breaches or is missing."""
    for index, point in enumerate(last_n):
        if point is True:
            age = len(last_n) - index
            return age >= m and all(p is not False for p in last_n[index:])
    return False
