"""CloudWatch metrics operations: PutMetricData, GetMetricStatistics, GetMetricData, ListMetrics."""

from __future__ import annotations

import hashlib
import json
import math
import re
from datetime import UTC, datetime
from typing import Any

from onebox.aws import specs
from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.aws.protocols.jsonrpc import RawJson
from onebox.aws.validate import handler_takes_raw_json, validate_input
from onebox.services.cloudwatch import metric_math
from onebox.services.cloudwatch.ingest import put_metric_data, put_simple_metric_data
from onebox.services.cloudwatch.metric_store import dims_list, metric_store
from onebox.services.cloudwatch.queries import (
    buckets,
    check_period,
    metric_key,
    round_start,
    stat_series,
    statistic_value,
)
from onebox.services.cloudwatch.statistics import STANDARD, require_extended

api = ServiceApi("cloudwatch")

_SIMPLE_INPUT = frozenset({"Namespace", "MetricData"})
MAX_STATISTICS_POINTS = 1440
MAX_QUERIES = 500
MAX_DATA_POINTS = 100_800
LIST_PAGE = 500
RECENT = 3 * 3600
METRIC_EXPIRY = 14 * 86400
_QUERY_ID = re.compile(r"^[a-z][a-zA-Z0-9_]*$")


def _epoch(value: datetime) -> float:
    return value.timestamp()


def _time(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _put_simple(ctx: RequestContext, params: dict[str, Any]) -> bool:
    namespace = params.get("Namespace")
    return (
        params.keys() <= _SIMPLE_INPUT
        and type(namespace) is str
        and not namespace.startswith("AWS/")
        and put_simple_metric_data(
            ctx.runtime, ctx.account_id, ctx.region, namespace, params.get("MetricData")
        )
    )


# The handler converts and checks its input itself: 1000-datum requests are the heavy traffic, and
# the quick check of plain datums in `put_simple_metric_data` costs a fraction of the generic decoder
# and validator. Anything else gets exactly what the gateway would have done, then the general path.
handler_takes_raw_json("cloudwatch", "PutMetricData")


@api.operation("PutMetricData")
def put_metric_data_handler(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    if isinstance(params, RawJson):
        with params.parsed() as body:
            stored = _put_simple(ctx, body)
            del body  # freed here, while the garbage collector is still paused
        if stored:
            return {}
        params = params.decoded()
    elif _put_simple(ctx, params):
        return {}
    operation = specs.service_model("cloudwatch").operation_model("PutMetricData")
    validate_input("cloudwatch", operation, params)
    namespace = params["Namespace"]
    if namespace.startswith("AWS/"):
        raise AwsError("InvalidParameterValue", "The value AWS/ for parameter Namespace is invalid.")
    data = params.get("MetricData")
    if not data:
        raise AwsError("MissingParameter", "The parameter MetricData is required.")
    put_metric_data(ctx.runtime, ctx.account_id, ctx.region, namespace, data)
    return {}


@api.operation("GetMetricStatistics")
def get_metric_statistics(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    statistics = params.get("Statistics") or []
    extended = params.get("ExtendedStatistics") or []
    if not statistics and not extended:
        raise AwsError(
            "MissingParameter", "Must specify either the Statistics or ExtendedStatistics parameter."
        )
    if statistics and extended:
        raise AwsError(
            "InvalidParameterCombination",
            "The parameters Statistics and ExtendedStatistics are mutually exclusive and you have "
            "specified both.",
        )
    for stat in extended:
        require_extended(stat, "ExtendedStatistics")
    period = params["Period"]
    check_period(period)
    now = ctx.runtime.clock.time()
    start = round_start(_epoch(params["StartTime"]), now, period)
    end = _epoch(params["EndTime"])
    if start >= end:
        raise AwsError(
            "InvalidParameterValue", "The parameter StartTime must be less than the parameter EndTime."
        )
    points = math.ceil((end - start) / period)
    if points > MAX_STATISTICS_POINTS:
        raise AwsError(
            "InvalidParameterCombination",
            f"You have requested up to {points} datapoints, which exceeds the limit of "
            f"{MAX_STATISTICS_POINTS}. You may reduce the datapoints requested by increasing Period, "
            "or decreasing the time range.",
        )
    key = metric_key(ctx.account_id, ctx.region, params)
    found, stored_unit = buckets(ctx.runtime, key, start, end, period, params.get("Unit"))
    datapoints = []
    for ts in sorted(found):
        bucket = found[ts]
        point: dict[str, Any] = {"Timestamp": _time(ts), "Unit": params.get("Unit") or stored_unit or "None"}
        for stat in statistics:
            point[stat] = bucket.standard(stat)
        values = {stat: statistic_value(bucket, stat) for stat in extended}
        if extended:
            point["ExtendedStatistics"] = {s: v for s, v in values.items() if v is not None}
        datapoints.append(point)
    return {"Label": params["MetricName"], "Datapoints": datapoints}


@api.operation("ListMetrics")
def list_metrics(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    now = ctx.runtime.clock.time()
    recently = params.get("RecentlyActive")
    if recently is not None and recently != "PT3H":
        raise AwsError(
            "InvalidParameterValue", f"The value {recently} for parameter RecentlyActive is invalid."
        )
    wanted_dims = params.get("Dimensions") or []
    rows = []
    for row in metric_store(ctx.runtime).metrics(ctx.account_id, ctx.region):
        if row.last_put < now - METRIC_EXPIRY:
            continue
        if recently and row.last_put < now - RECENT:
            continue
        if params.get("Namespace") and row.namespace != params["Namespace"]:
            continue
        if params.get("MetricName") and row.name != params["MetricName"]:
            continue
        dims = dict(json.loads(row.dims))
        if any(
            d["Name"] not in dims or (d.get("Value") is not None and dims[d["Name"]] != d["Value"])
            for d in wanted_dims
        ):
            continue
        rows.append(row)
    page, token = ctx.runtime.store.paginator.paginate(
        rows,
        LIST_PAGE,
        params.get("NextToken"),
        key=lambda r: (r.namespace, r.name, r.dims),
        scope=f"cloudwatch:list-metrics:{ctx.account_id}:{ctx.region}",
    )
    output: dict[str, Any] = {
        "Metrics": [
            {"Namespace": r.namespace, "MetricName": r.name, "Dimensions": dims_list(r.dims)} for r in page
        ]
    }
    if token:
        output["NextToken"] = token
    return output


# -- GetMetricData -------------------------------------------------------------------------------------


@api.operation("GetMetricData")
def get_metric_data(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    queries = params["MetricDataQueries"]
    if len(queries) > MAX_QUERIES:
        raise AwsError(
            "InvalidParameterValue",
            f"The collection MetricDataQueries must not have a size greater than {MAX_QUERIES}.",
        )
    now = ctx.runtime.clock.time()
    start_raw = _epoch(params["StartTime"])
    end = _epoch(params["EndTime"])
    if start_raw >= end:
        raise AwsError("ValidationError", "The parameter StartTime must be less than the parameter EndTime.")
    results = run_queries(ctx.runtime, ctx.account_id, ctx.region, queries, start_raw, end, now)
    descending = params.get("ScanBy", "TimestampDescending") == "TimestampDescending"
    max_points = params.get("MaxDatapoints") or MAX_DATA_POINTS
    flat: list[tuple[int, int, float]] = []
    for index, (_, series) in enumerate(results):
        for ts in sorted(series, reverse=descending):
            flat.append((index, ts, series[ts]))
    fingerprint = hashlib.sha256(
        json.dumps([queries, start_raw, end, descending], sort_keys=True, default=str).encode()
    ).hexdigest()[:16]
    scope = f"cloudwatch:get-metric-data:{ctx.account_id}:{ctx.region}:{fingerprint}"
    offset = 0
    if params.get("NextToken"):
        offset = int(ctx.runtime.store.paginator.decode(params["NextToken"], scope))
    page = flat[offset : offset + max_points]
    next_offset = offset + len(page)
    output_results = []
    for index, (query, series) in enumerate(results):
        stamps = [ts for i, ts, _ in page if i == index]
        output_results.append(
            {
                "Id": query["Id"],
                "Label": query.get("Label") or _default_label(query),
                "Timestamps": [_time(ts) for ts in stamps],
                "Values": [series[ts] for ts in stamps],
                "StatusCode": "PartialData" if next_offset < len(flat) else "Complete",
            }
        )
    output: dict[str, Any] = {"MetricDataResults": output_results, "Messages": []}
    if next_offset < len(flat):
        output["NextToken"] = ctx.runtime.store.paginator.encode(next_offset, scope)
    return output


def _default_label(query: dict[str, Any]) -> str:
    if query.get("MetricStat"):
        return query["MetricStat"]["Metric"]["MetricName"]
    return query["Id"]


def run_queries(
    runtime: Any,
    account: str,
    region: str,
    queries: list[dict[str, Any]],
    start_raw: float,
    end: float,
    now: float,
) -> list[tuple[dict[str, Any], dict[int, float]]]:
    """Every query's series (MetricStat fetched, expressions computed in dependency order); only the
    queries with ReturnData (default true) are returned, in request order."""
    by_id: dict[str, dict[str, Any]] = {}
    for query in queries:
        query_id = query.get("Id", "")
        if not _QUERY_ID.match(query_id):
            raise AwsError(
                "ValidationError",
                f"The value {query_id} for parameter MetricDataQueries.member.Id is not valid: it must "
                "start with a lowercase letter and contain only letters, numbers and underscores.",
            )
        if query_id in by_id:
            raise AwsError("ValidationError", f"The value {query_id} for field Id is not unique.")
        if bool(query.get("MetricStat")) == bool(query.get("Expression")):
            raise AwsError(
                "ValidationError",
                f"Exactly one of MetricStat and Expression must be specified for query {query_id}.",
            )
        by_id[query_id] = query
    stat_periods = [q["MetricStat"]["Period"] for q in queries if q.get("MetricStat")]
    for period in stat_periods:
        check_period(period, "MetricStat.Period")
    default_period = min(stat_periods) if stat_periods else 60
    computed: dict[str, dict[int, float]] = {}
    expressions = {
        q["Id"]: metric_math.check_expression(q["Expression"]) for q in queries if q.get("Expression")
    }

    def compute(query_id: str, path: tuple[str, ...]) -> dict[int, float]:
        if query_id in computed:
            return computed[query_id]
        if query_id in path:
            raise AwsError("ValidationError", f"Circular dependency in metric math expression {query_id}.")
        query = by_id[query_id]
        if query.get("MetricStat"):
            stat = query["MetricStat"]
            period = stat["Period"]
            start = round_start(start_raw, now, period)
            _check_stat(stat["Stat"])
            series = stat_series(
                runtime,
                metric_key(account, region, stat["Metric"]),
                stat["Stat"],
                start,
                end,
                period,
                stat.get("Unit"),
            )
        else:
            node = expressions[query_id]
            refs = metric_math.references(node)
            if "*" in refs:
                refs = {q for q in by_id if q != query_id and by_id[q].get("MetricStat")}
            for ref in refs:
                if ref not in by_id:
                    raise AwsError("ValidationError", f"Unknown metric or expression id {ref} in {query_id}.")
            inputs = {ref: compute(ref, (*path, query_id)) for ref in sorted(refs)}
            period = query.get("Period") or default_period
            start = round_start(start_raw, now, period)
            grid = list(range(start, int(math.ceil(end)), period))
            try:
                value = metric_math.evaluate(node, metric_math.Context(inputs, period, grid))
            except metric_math.MathError as error:
                raise AwsError("ValidationError", f"Invalid metrics math expression: {error}") from None
            series_list = metric_math.as_series_list(value, grid)
            if len(series_list) != 1:
                raise AwsError(
                    "ValidationError",
                    f"Expression {query_id} returns {len(series_list)} time series; GetMetricData needs one "
                    "series per query id.",
                )
            series = {ts: v for ts, v in series_list[0].items() if not math.isnan(v) and not math.isinf(v)}
        computed[query_id] = series
        return series

    results = []
    for query in queries:
        series = compute(query["Id"], ())
        if query.get("ReturnData", True):
            results.append((query, series))
    return results


def _check_stat(stat: str) -> None:
    if stat not in STANDARD:
        require_extended(stat, "MetricStat.Stat")
