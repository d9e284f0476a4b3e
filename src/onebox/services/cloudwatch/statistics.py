"""CloudWatch statistics over one period's samples: the five standard ones and every extended one
AWS accepts (pNN, tmNN/TM(a:b), wmNN/WM(a:b), tcNN/TC(a:b), tsNN/TS(a:b), PR(a:b), IQM).

A period's data is a `Bucket`: running count/sum/min/max over everything stored, plus the raw values
(value -> count) of the samples that can feed percentiles. A statistic set qualifies only when it
describes identical values (SampleCount 1, or Min = Max); other statistic sets count for the standard
statistics but make the extended ones unavailable for that period, as in AWS.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from onebox.aws.errors import AwsError

STANDARD = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")


@dataclass
class Bucket:
    count: float = 0.0
    sum: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf
    values: dict[float, float] = field(default_factory=dict)  # raw value -> how many times
    raw_only: bool = True  # every sample kept its value (so extended statistics are exact)

    def add_value(self, value: float, count: float = 1.0) -> None:
        self.count += count
        self.sum += value * count
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)
        self.values[value] = self.values.get(value, 0.0) + count

    def add_set(self, count: float, total: float, minimum: float, maximum: float) -> None:
        self.count += count
        self.sum += total
        self.minimum = min(self.minimum, minimum)
        self.maximum = max(self.maximum, maximum)
        self.raw_only = False

    def standard(self, name: str) -> float:
        if name == "SampleCount":
            return self.count
        if name == "Sum":
            return self.sum
        if name == "Minimum":
            return self.minimum
        if name == "Maximum":
            return self.maximum
        if name == "Average":
            return self.sum / self.count if self.count else 0.0
        raise ValueError(name)

    def sorted_values(self) -> list[tuple[float, float]]:
        return sorted(self.values.items())


# -- extended statistics ------------------------------------------------------------------------------

_NUMBER = r"\d+(?:\.\d+)?"
_SHORT = re.compile(rf"^(p|tm|wm|tc|ts)({_NUMBER})$")
_RANGE = re.compile(rf"^(TM|WM|TC|TS|PR)\((-?{_NUMBER})?(%?):(-?{_NUMBER})?(%?)\)$")


@dataclass(frozen=True)
class Extended:
    """A parsed extended statistic. Bounds are percentiles when `percent`, else absolute values."""

    kind: str  # "p", "TM", "WM", "TC", "TS", "PR"
    low: float | None
    high: float | None
    percent: bool


def parse_extended(text: str) -> Extended | None:
    """The extended statistic `text` names, or None if AWS would not accept it."""
    if text == "IQM":
        return Extended("TM", 25.0, 75.0, True)
    short = _SHORT.match(text)
    if short:
        kind, number = short.group(1), float(short.group(2))
        if not 0 <= number <= 100 or len(short.group(2).partition(".")[2]) > 2:
            return None
        if kind == "p":
            return Extended("p", None, number, True)
        return Extended(kind.upper(), None, number, True)
    ranged = _RANGE.match(text)
    if ranged:
        kind, low_text, low_pct, high_text, high_pct = ranged.groups()
        if low_text is None and high_text is None:
            return None
        low = float(low_text) if low_text is not None else None
        high = float(high_text) if high_text is not None else None
        # Both bounds use the same unit; a lone "%" on either side makes it a percentile range.
        percent = bool(low_pct or high_pct)
        if kind == "PR" and percent:
            return None  # PR takes absolute values only
        if kind != "PR" and low_text and high_text and bool(low_pct) != bool(high_pct):
            return None
        if percent and any(b is not None and not 0 <= b <= 100 for b in (low, high)):
            return None
        if low is not None and high is not None and low > high:
            return None
        return Extended(kind, low, high, percent)
    return None


def require_extended(text: str, field_name: str = "ExtendedStatistic") -> Extended:
    parsed = parse_extended(text)
    if parsed is None:
        raise AwsError(
            "InvalidParameterValue",
            f"The value {text} for parameter {field_name} is not supported.",
        )
    return parsed


def percentile(values: list[tuple[float, float]], pct: float) -> float:
    """Nearest rank: the largest value left after dropping the top (100 - pct)% (AWS's pNN)."""
    total = sum(count for _, count in values)
    if pct <= 0:
        return values[0][0]
    rank = math.ceil(total * pct / 100.0 - 1e-9)
    seen = 0.0
    for value, count in values:
        seen += count
        if seen >= rank:
            return value
    return values[-1][0]


def compute_extended(bucket: Bucket, stat: Extended) -> float | None:
    """The statistic over `bucket`'s raw values, or None when it has none (or only statistic sets)."""
    if not bucket.values or not bucket.raw_only:
        return None
    values = bucket.sorted_values()
    if stat.kind == "p":
        assert stat.high is not None
        return percentile(values, stat.high)
    low, high = stat.low, stat.high
    if stat.percent:
        low = percentile(values, low) if low not in (None, 0.0) else None
        high = percentile(values, high) if high not in (None, 100.0) else None
    total = sum(count for _, count in values)
    if stat.kind == "PR":
        inside = sum(c for v, c in values if (low is None or v > low) and (high is None or v <= high))
        return 100.0 * inside / total
    if stat.kind == "WM":
        clamped = 0.0
        for value, count in values:
            if low is not None and value < low:
                value = low
            if high is not None and value > high:
                value = high
            clamped += value * count
        return clamped / total
    # A value is kept when it is more than the low bound and at most the high bound.
    kept = [(v, c) for v, c in values if (low is None or v > low) and (high is None or v <= high)]
    kept_count = sum(c for _, c in kept)
    kept_sum = sum(v * c for v, c in kept)
    if stat.kind == "TC":
        return kept_count
    if stat.kind == "TS":
        return kept_sum
    return kept_sum / kept_count if kept_count else None


def low_sample_count(bucket: Bucket, stat: Extended) -> bool:
    """AWS's "low sample count" for percentile alarms: fewer than 10/(1-p) samples for p >= 0.5,
    else fewer than 10/p."""
    if stat.kind != "p" or stat.high is None:
        return False
    p = stat.high / 100.0
    if p >= 0.5:
        needed = math.inf if p >= 1 else 10 / (1 - p)
    else:
        needed = math.inf if p <= 0 else 10 / p
    return bucket.count < round(needed, 6)  # 10 / (1 - 0.9) is 100.00000000000001 in floating point
