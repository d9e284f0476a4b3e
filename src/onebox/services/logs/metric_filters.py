"""Metric filters: matching events become CloudWatch metric datapoints (through the CloudWatch ingest path)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.runtime import Runtime
from onebox.services.logs.filter_pattern import compile_pattern
from onebox.services.logs.model import METRIC_FILTER, get_group, invalid, now_ms

api = ServiceApi("logs")
log = logging.getLogger("onebox.logs.metric_filters")

MAX_FILTERS_PER_GROUP = 100
MAX_PAGE = 50
PUT_METRIC_DATA_MAX = 1000  # PutMetricData's own limit per call


def put_metric_data(
    runtime: Runtime, account: str, region: str, namespace: str, metric_data: list[dict]
) -> None:
    """Hand datapoints to CloudWatch (imported lazily: CloudWatch loads independently of Logs)."""
    from onebox.services.cloudwatch import ingest

    ingest.put_metric_data(runtime, account, region, namespace, metric_data)


@api.operation("PutMetricFilter")
def put_metric_filter(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    group = get_group(ctx.runtime, ctx.account_id, ctx.region, params["logGroupName"])
    name = params["filterName"]
    if ":" in name or "*" in name:
        raise invalid(
            f"1 validation error detected: Value '{name}' at 'filterName' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: [^:*]*"
        )
    pattern = compile_pattern(params["filterPattern"])
    transformations = params["metricTransformations"]
    for transformation in transformations:
        _check_transformation(transformation, pattern.kind)
    store = ctx.runtime.store
    key = f"{group.id}:{name}"
    spec = {
        "logGroupName": group.id,
        "filterName": name,
        "filterPattern": params["filterPattern"],
        "metricTransformations": transformations,
    }
    with store.transaction():
        existing = store.get(METRIC_FILTER, ctx.account_id, ctx.region, key)
        if existing is not None:
            store.update(existing, spec={**spec, "creationTime": existing.spec["creationTime"]})
            return {}
        count = sum(
            1
            for r in store.list(METRIC_FILTER, ctx.account_id, ctx.region)
            if r.spec["logGroupName"] == group.id
        )
        if count >= MAX_FILTERS_PER_GROUP:
            raise AwsError("LimitExceededException", "Resource limit exceeded.")
        store.create(
            METRIC_FILTER,
            ctx.account_id,
            ctx.region,
            key,
            arn=f"{group.arn}:metric-filter:{name}",
            spec={**spec, "creationTime": now_ms(ctx.runtime)},
        )
    return {}


@api.operation("DescribeMetricFilters")
def describe_metric_filters(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    records = ctx.runtime.store.list(METRIC_FILTER, ctx.account_id, ctx.region)
    group = params.get("logGroupName")
    prefix = params.get("filterNamePrefix")
    if prefix and not group:
        raise invalid("If filterNamePrefix is specified, logGroupName must also be specified.")
    if bool(params.get("metricName")) != bool(params.get("metricNamespace")):
        raise invalid("If metricName or metricNamespace is specified, both must be specified.")
    if group:
        get_group(ctx.runtime, ctx.account_id, ctx.region, group)
        records = [r for r in records if r.spec["logGroupName"] == group]
    if prefix:
        records = [r for r in records if r.spec["filterName"].startswith(prefix)]
    if params.get("metricName"):
        records = [
            r
            for r in records
            if any(
                t["metricName"] == params["metricName"] and t["metricNamespace"] == params["metricNamespace"]
                for t in r.spec["metricTransformations"]
            )
        ]
    page, token = ctx.runtime.store.paginator.paginate(
        records,
        params.get("limit") or MAX_PAGE,
        params.get("nextToken"),
        key=lambda r: (r.spec["logGroupName"], r.spec["filterName"]),
        scope=f"logs:DescribeMetricFilters:{group}:{prefix}",
        code="InvalidParameterException",
        message="The specified nextToken is invalid.",
    )
    result: dict[str, Any] = {
        "metricFilters": [
            {
                "filterName": r.spec["filterName"],
                "filterPattern": r.spec["filterPattern"],
                "metricTransformations": r.spec["metricTransformations"],
                "creationTime": r.spec["creationTime"],
                "logGroupName": r.spec["logGroupName"],
            }
            for r in page
        ]
    }
    if token:
        result["nextToken"] = token
    return result


@api.operation("DeleteMetricFilter")
def delete_metric_filter(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    get_group(ctx.runtime, ctx.account_id, ctx.region, params["logGroupName"])
    key = f"{params['logGroupName']}:{params['filterName']}"
    if ctx.runtime.store.delete_by_id(METRIC_FILTER, ctx.account_id, ctx.region, key) is None:
        raise AwsError("ResourceNotFoundException", "The specified metric filter does not exist.")
    return {}


@api.operation("TestMetricFilter")
def test_metric_filter(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    pattern = compile_pattern(params["filterPattern"])
    matches = []
    for number, message in enumerate(params["logEventMessages"], 1):
        extracted = pattern.match(message)
        if extracted is not None:
            values = {key: _text(value) for key, value in extracted.items() if value is not None}
            matches.append({"eventNumber": number, "eventMessage": message, "extractedValues": values})
    return {"matches": matches}


def apply(runtime: Runtime, account: str, region: str, group: str, events: Sequence[tuple[int, str]]) -> int:
    """Turn newly stored events into datapoints for every metric filter of `group`; returns how many."""
    filters = [
        r for r in runtime.store.list(METRIC_FILTER, account, region) if r.spec["logGroupName"] == group
    ]
    published = 0
    for record in filters:
        pattern = compile_pattern(record.spec["filterPattern"])
        for transformation in record.spec["metricTransformations"]:
            data: list[dict[str, Any]] = []
            for timestamp, message in events:
                extracted = pattern.match(message)
                if extracted is None:
                    continue
                value = _value(transformation["metricValue"], extracted)
                if value is None:
                    continue
                datum = _datum(transformation, timestamp, value)
                dimensions = _dimensions(transformation.get("dimensions") or {}, extracted)
                if dimensions is None:
                    continue
                if dimensions:
                    datum["Dimensions"] = dimensions
                data.append(datum)
            if not data and transformation.get("defaultValue") is not None and events:
                data.append(_datum(transformation, events[-1][0], float(transformation["defaultValue"])))
            for start in range(0, len(data), PUT_METRIC_DATA_MAX):
                chunk = data[start : start + PUT_METRIC_DATA_MAX]
                try:
                    put_metric_data(runtime, account, region, transformation["metricNamespace"], chunk)
                    published += len(chunk)
                except Exception:  # metrics must never lose the log events themselves
                    log.exception(
                        "metric filter %s could not publish to CloudWatch", record.spec["filterName"]
                    )
    return published


def _datum(transformation: dict[str, Any], timestamp: int, value: float) -> dict[str, Any]:
    datum: dict[str, Any] = {
        "MetricName": transformation["metricName"],
        "Timestamp": datetime.fromtimestamp(timestamp / 1000, UTC),
        "Value": value,
    }
    if transformation.get("unit"):
        datum["Unit"] = transformation["unit"]
    return datum


def _value(expression: str, extracted: dict[str, Any]) -> float | None:
    if expression.startswith("$"):
        found = extracted.get(expression)
        try:
            return float(found) if found is not None and not isinstance(found, bool) else None
        except (TypeError, ValueError):
            return None
    return float(expression)


def _dimensions(spec: dict[str, str], extracted: dict[str, Any]) -> list[dict[str, str]] | None:
    dimensions = []
    for name, expression in spec.items():
        value = extracted.get(expression)
        if value is None or value == "":
            return None  # AWS drops the datapoint when a dimension's field is missing
        dimensions.append({"Name": name, "Value": _text(value)})
    return dimensions


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _check_transformation(transformation: dict[str, Any], kind: str) -> None:
    value = transformation["metricValue"]
    if not value.startswith("$"):
        try:
            float(value)
        except ValueError:
            raise invalid(f"Invalid metric value: {value}") from None
    elif kind == "terms":
        raise invalid("Invalid metric value: a $ selector needs a JSON or space-delimited filter pattern.")
    dimensions = transformation.get("dimensions") or {}
    if dimensions and transformation.get("defaultValue") is not None:
        raise invalid("You cannot specify a default value when there are dimensions.")
    if len(dimensions) > 3:
        raise invalid("You can specify up to three dimensions for a metric filter.")
