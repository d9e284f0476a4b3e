"""The one path metric data enters onebox: the PutMetricData handler and every internal producer
(EC2 instance metrics, RDS, Logs metric filters, load balancers) call `put_metric_data`.

It validates like PutMetricData (AWS's codes and messages), turns each datum into stored samples and
appends them to the metric store's write buffer: no disk write on the caller's path. Alarms watching
a metric that received data are woken so they evaluate at once instead of at the next minute.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from onebox.aws.errors import AwsError
from onebox.services.cloudwatch.metric_store import (
    MetricKey,
    MetricStore,
    Row,
    Sample,
    dims_key,
    metric_store,
)

if TYPE_CHECKING:
    from onebox.runtime import Runtime

MAX_DIMENSIONS = 30
MAX_VALUES = 150
PAST_LIMIT = 14 * 86400  # timestamps may be two weeks in the past
FUTURE_LIMIT = 2 * 3600  # and two hours in the future

# Called with the keys of metrics that just received data (the alarm evaluator registers one).
_listeners: list[Callable[[Any, set[MetricKey]], None]] = []


def add_listener(listener: Callable[[Any, set[MetricKey]], None]) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def put_metric_data(
    runtime: Runtime, account: str, region: str, namespace: str, metric_data: list[dict[str, Any]]
) -> None:
    """Store `metric_data` (shaped like PutMetricData's MetricData) under `namespace`."""
    if not put_simple_metric_data(runtime, account, region, namespace, metric_data):
        _put_metric_data(runtime, account, region, namespace, metric_data)


def put_simple_metric_data(
    runtime: Runtime, account: str, region: str, namespace: str, metric_data: Any
) -> bool:
    """The fast path: store `metric_data` and return True if every datum is a single `Value` that
    both PutMetricData's input model and AWS's rules accept; else store nothing and return False
    (the caller takes the general path, which gives the exact error).

    It stores exactly the rows the general path would (tests/unit/test_cloudwatch_ingest.py).
    """
    now = runtime.clock.time()
    store = metric_store(runtime)
    rows = simple_rows(store, account, region, namespace, metric_data, now)
    if rows is None:
        return False
    samples, touched = rows
    store.add_rows(samples, touched, now)
    for listener in _listeners:
        listener(runtime, touched)
    return True


# PutMetricData's StandardUnit enum (tests compare it with botocore's model).
UNITS = frozenset(
    {
        "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
        "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
        "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second",
        "Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second",
        "Count/Second", "None",
    }
)  # fmt: skip
_NAMESPACE = re.compile(r"[^:].*")  # the model's pattern, matched whole as the input validator does
_INT_LIMIT = 2**53


def simple_rows(
    store: MetricStore, account: str, region: str, namespace: Any, metric_data: Any, now: float
) -> tuple[list[Row], set[MetricKey]] | None:
    """Rows for `metric_data` when all of it is plainly valid (see `put_simple_metric_data`), else None.

    Each test below is a constraint of the input model or of AWS's rules; anything unusual (Values,
    StatisticValues, a float StorageResolution, a string timestamp, unknown members, nulls) is left to
    the general path. `metric_data` may also be awsJson input before shape conversion (`RawJson`):
    the checks hold for it too (timestamps as epoch numbers, extra members refused).
    """
    if type(namespace) is not str or not 0 < len(namespace) <= 255 or _NAMESPACE.fullmatch(namespace) is None:
        return None
    if type(metric_data) is not list or not metric_data:
        return None
    rows: list[Row] = []
    append = rows.append
    # (name, dimension names and values) -> (metric id, key): each metric is checked once per call.
    known: dict[tuple[Any, ...], tuple[int, MetricKey]] = {}
    earliest, latest = now - PAST_LIMIT, now + FUTURE_LIMIT
    earliest_plain, latest_plain = earliest + 1, latest - 1
    smallest, largest, units = _SMALLEST, _LARGEST, UNITS
    try:
        for datum in metric_data:
            if type(datum) is not dict:
                return None
            value = datum.get("Value")
            if type(value) is not float:
                if type(value) is not int or not -_INT_LIMIT < value < _INT_LIMIT:
                    return None
                value = float(value)
            if not (value == 0 or smallest <= abs(value) <= largest):  # NaN fails both
                return None
            name = datum.get("MetricName")
            dimensions = datum.get("Dimensions")
            if not dimensions:
                signature: tuple[Any, ...] = (name,)
            elif type(dimensions) is list and len(dimensions) == 1:
                only = dimensions[0]
                signature = (name, only.get("Name"), only.get("Value"))
            else:
                signature = (name, *(part for d in dimensions for part in (d.get("Name"), d.get("Value"))))
            entry = known.get(signature)
            if entry is None:
                key = _simple_key(account, region, namespace, name, dimensions)
                if key is None:
                    return None
                entry = known[signature] = (store.id_for(key), key)
            ts = stamp = datum.get("Timestamp")
            if ts is None:
                ts = now
            elif type(ts) is datetime:
                ts = ts.timestamp()
                if not earliest <= ts <= latest:
                    return None
            # An epoch number (internal producers; awsJson before conversion to a datetime, which rounds
            # to the microsecond): only where that rounding cannot change the range check or the bucket.
            elif type(ts) is float or type(ts) is int:
                if not earliest_plain < ts < latest_plain or ts % 1 > 0.999998:
                    return None
            else:
                return None
            res = stated = datum.get("StorageResolution")
            if res is None:
                res = 60
            elif type(res) is not int or (res != 60 and res != 1):
                return None
            unit = given = datum.get("Unit")
            if unit is None:
                unit = "None"
            elif type(unit) is not str or unit not in units:
                return None
            # Only the members read above (a datum with others, or with nulls, takes the general path).
            if len(datum) != 2 + (dimensions is not None) + (stamp is not None) + (stated is not None) + (
                given is not None
            ):
                return None
            append((entry[0], res, int(ts // res * res), unit, value, 1.0, value, value, value))
    except (AttributeError, TypeError):  # a dimension that is not a mapping, an unhashable value
        return None
    return rows, {key for _, key in known.values()}


def _simple_key(account: str, region: str, namespace: str, name: Any, dimensions: Any) -> MetricKey | None:
    if type(name) is not str or not 0 < len(name) <= 255:
        return None
    if dimensions:
        if type(dimensions) is not list or len(dimensions) > MAX_DIMENSIONS:
            return None
        names = set()
        for dimension in dimensions:
            if type(dimension) is not dict:
                return None
            dimension_name, dimension_value = dimension.get("Name"), dimension.get("Value")
            if type(dimension_name) is not str or not 0 < len(dimension_name) <= 255:
                return None
            if type(dimension_value) is not str or not 0 < len(dimension_value) <= 1024:
                return None
            names.add(dimension_name)
        if len(names) != len(dimensions):
            return None
    return (account, region, namespace, name, dims_key(dimensions))


def _put_metric_data(
    runtime: Runtime, account: str, region: str, namespace: str, metric_data: list[dict[str, Any]]
) -> None:
    now = runtime.clock.time()
    samples: list[Sample] = []
    # Producers send many datums of few metrics: validate and canonicalize each metric once per call.
    keys: dict[tuple[Any, ...], MetricKey] = {}
    for index, datum in enumerate(metric_data, start=1):
        where = f"MetricData.member.{index}"
        dimensions = datum.get("Dimensions")
        seen = (datum.get("MetricName"), tuple((d.get("Name"), d.get("Value")) for d in dimensions or ()))
        key = keys.get(seen)
        if key is None:
            key = keys[seen] = _metric_key(account, region, namespace, datum, where)
        res = _resolution(datum, where)
        ts = _timestamp(datum.get("Timestamp"), now, where)
        bucket = int(ts // res * res)
        unit = datum.get("Unit") or "None"
        samples.extend(_samples(key, res, bucket, unit, datum, where))
    metric_store(runtime).add(samples, now)
    touched = set(keys.values())
    for listener in _listeners:
        listener(runtime, touched)


def _metric_key(account: str, region: str, namespace: str, datum: dict[str, Any], where: str) -> MetricKey:
    name = datum.get("MetricName")
    if not name:
        raise AwsError("MissingParameter", f"The parameter {where}.MetricName is required.")
    dimensions = datum.get("Dimensions") or []
    if len(dimensions) > MAX_DIMENSIONS:
        raise AwsError(
            "InvalidParameterValue",
            f"The collection {where}.Dimensions must not have a size greater than {MAX_DIMENSIONS}.",
        )
    names = [d.get("Name") for d in dimensions]
    if len(set(names)) != len(names):
        raise AwsError(
            "InvalidParameterValue", f"No duplicate dimension names allowed in {where}.Dimensions."
        )
    for number, dimension in enumerate(dimensions, start=1):
        if not dimension.get("Name") or dimension.get("Value") in (None, ""):
            raise AwsError(
                "InvalidParameterValue",
                f"The parameter {where}.Dimensions.member.{number} must have a Name and a non-empty Value.",
            )
    return (account, region, namespace, name, dims_key(dimensions))


def _resolution(datum: dict[str, Any], where: str) -> int:
    res = datum.get("StorageResolution")
    if res is None or res == 60:
        return 60
    if res != 1:
        raise AwsError(
            "InvalidParameterValue",
            f"The value {res} for parameter {where}.StorageResolution is not supported. "
            "Supported values are 1 and 60.",
        )
    return int(res)


def _timestamp(value: Any, now: float, where: str) -> float:
    if value is None:
        return now
    ts = value.timestamp() if isinstance(value, datetime) else float(value)
    if ts < now - PAST_LIMIT:
        raise AwsError(
            "InvalidParameterValue",
            f"The parameter {where}.Timestamp must specify a time no more than two weeks in the past.",
        )
    if ts > now + FUTURE_LIMIT:
        raise AwsError(
            "InvalidParameterValue",
            f"The parameter {where}.Timestamp must specify a time no more than two hours in the future.",
        )
    return ts


_SMALLEST, _LARGEST = 2.0**-260, 2.0**360


def _number(value: Any, name: str) -> float:
    number = float(value)
    if number == 0 or _SMALLEST <= abs(number) <= _LARGEST:
        return number
    if math.isnan(number) or math.isinf(number):
        raise AwsError("InvalidParameterValue", f"The value {value} for parameter {name} is invalid.")
    raise AwsError(
        "InvalidParameterValue",
        f"The value {value} for parameter {name} is out of range (it must be 0 or within 2^-260..2^360).",
    )


def _samples(key: MetricKey, res: int, ts: int, unit: str, datum: dict[str, Any], where: str) -> list[Sample]:
    value = datum.get("Value")
    if value is not None and datum.get("Values") is None and datum.get("StatisticValues") is None:
        value = _number(value, f"{where}.Value")  # the common case first
        return [Sample(key, res, ts, unit, value, 1.0, value, value, value)]
    present = [name for name in ("Value", "Values", "StatisticValues") if datum.get(name) is not None]
    if len(present) > 1:
        raise AwsError(
            "InvalidParameterCombination",
            f"The parameters {where}.{present[0]} and {where}.{present[1]} are mutually exclusive "
            "and you have specified both.",
        )
    if not present:
        raise AwsError(
            "InvalidParameterCombination",
            f"At least one of the parameters {where}.Value, {where}.Values or {where}.StatisticValues "
            "must be specified.",
        )
    if datum.get("Value") is not None:
        value = _number(datum["Value"], f"{where}.Value")
        return [Sample(key, res, ts, unit, value, 1.0, value, value, value)]
    if datum.get("Values") is not None:
        values = [_number(v, f"{where}.Values") for v in datum["Values"]]
        counts = datum.get("Counts")
        if len(values) > MAX_VALUES:
            raise AwsError(
                "InvalidParameterValue",
                f"The collection {where}.Values must not have a size greater than {MAX_VALUES}.",
            )
        if counts is not None and len(counts) != len(values):
            raise AwsError(
                "InvalidParameterValue",
                f"The parameters {where}.Values and {where}.Counts must be of the same size.",
            )
        counts = [1.0] * len(values) if counts is None else [_number(c, f"{where}.Counts") for c in counts]
        return [Sample(key, res, ts, unit, v, c, v * c, v, v) for v, c in zip(values, counts, strict=True)]
    stats = datum["StatisticValues"]
    count = _number(stats["SampleCount"], f"{where}.StatisticValues.SampleCount")
    total = _number(stats["Sum"], f"{where}.StatisticValues.Sum")
    minimum = _number(stats["Minimum"], f"{where}.StatisticValues.Minimum")
    maximum = _number(stats["Maximum"], f"{where}.StatisticValues.Maximum")
    if count <= 0 or minimum > maximum:
        raise AwsError(
            "InvalidParameterValue",
            f"The parameter {where}.StatisticValues is invalid: SampleCount must be positive and "
            "Minimum must not exceed Maximum.",
        )
    # A set qualifies for percentiles only if it describes identical values (AWS's rule).
    if count == 1 or (minimum == maximum and math.isclose(total, minimum * count)):
        return [Sample(key, res, ts, unit, minimum, count, total, minimum, maximum)]
    return [Sample(key, res, ts, unit, None, count, total, minimum, maximum)]
