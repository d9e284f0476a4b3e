"""Reading statistics out of the metric store: one metric, one statistic, buckets of one period.
Shared by GetMetricStatistics, GetMetricData and alarm evaluation."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from onebox.aws.errors import AwsError
from onebox.services.cloudwatch.metric_store import MetricKey, dims_key, metric_store
from onebox.services.cloudwatch.statistics import STANDARD, Bucket, compute_extended, parse_extended

if TYPE_CHECKING:
    from onebox.runtime import Runtime

Series = dict[int, float]


def metric_key(account: str, region: str, metric: dict[str, Any]) -> MetricKey:
    return (account, region, metric["Namespace"], metric["MetricName"], dims_key(metric.get("Dimensions")))


def round_start(start: float, now: float, period: int) -> int:
    """AWS rounds a query's start down: to the period under a minute, to the minute within 15 days,
    to 5 minutes within 63 days, to the hour beyond."""
    age = now - start
    if period < 60:
        grain = period
    elif age <= 15 * 86400:
        grain = 60
    elif age <= 63 * 86400:
        grain = 300
    else:
        grain = 3600
    return int(start // grain * grain)


def check_period(period: int, field: str = "Period") -> None:
    if period < 1 or (period % 60 != 0 and period not in (1, 5, 10, 20, 30)):
        raise AwsError(
            "InvalidParameterValue",
            f"The parameter {field} must be 1, 5, 10, 20, 30, 60, or any multiple of 60.",
        )


def statistic_value(bucket: Bucket, stat: str) -> float | None:
    if stat in STANDARD:
        return bucket.standard(stat)
    parsed = parse_extended(stat)
    if parsed is None:
        raise AwsError("InvalidParameterValue", f"The statistic {stat} is not supported.")
    return compute_extended(bucket, parsed)


def buckets(
    runtime: Runtime, key: MetricKey, start: int, end: float, period: int, unit: str | None = None
) -> tuple[dict[int, Bucket], str | None]:
    return metric_store(runtime).buckets(key, start, end, period, unit)


def stat_series(
    runtime: Runtime,
    key: MetricKey,
    stat: str,
    start: int,
    end: float,
    period: int,
    unit: str | None = None,
) -> Series:
    """timestamp (period start) -> statistic, for every period of [start, end) that has data."""
    found, _ = buckets(runtime, key, start, end, period, unit)
    out: Series = {}
    for ts, bucket in found.items():
        value = statistic_value(bucket, stat)
        if value is not None and not math.isnan(value):
            out[ts] = value
    return out
