"""CloudWatch alarm operations: PutMetricAlarm, PutCompositeAlarm, DescribeAlarms, DescribeAlarmsForMetric,
DeleteAlarms, SetAlarmState, Enable/DisableAlarmActions, DescribeAlarmHistory."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.services.cloudwatch.actions import action_kind
from onebox.services.cloudwatch.alarm_model import (
    ALARM_KIND,
    COMPOSITE_ALARM,
    METRIC_ALARM,
    METRIC_FIELDS,
    alarm_type,
    alarm_view,
    initial_status,
    record_history,
)
from onebox.services.cloudwatch.evaluation import BAND_COMPARISONS, COMPARISONS
from onebox.services.cloudwatch.evaluator import (
    RuleError,
    alarm_period,
    change_state,
    evaluator_for,
    parse_rule,
    rule_children,
    slot,
)
from onebox.services.cloudwatch.metric_math import check_expression
from onebox.services.cloudwatch.metric_store import dims_key, metric_store
from onebox.services.cloudwatch.statistics import STANDARD, parse_extended
from onebox.store import AlreadyExists, Record
from onebox.store.tags import tags_from_list

api = ServiceApi("cloudwatch")

MAX_EVALUATION_SECONDS = 86400
MAX_ALARM_METRICS = 10


def _error(message: str) -> AwsError:
    return AwsError("ValidationError", message)


def _arn(ctx: RequestContext, name: str) -> str:
    return f"arn:aws:cloudwatch:{ctx.region}:{ctx.account_id}:alarm:{name}"


def _check_actions(params: dict[str, Any], *, composite: bool, math_alarm: bool) -> None:
    for field in ("AlarmActions", "OKActions", "InsufficientDataActions"):
        actions = params.get(field) or []
        if len(actions) > 5:
            raise _error(f"The collection {field} must not have a size greater than 5.")
        for arn in actions:
            kind = action_kind(arn)
            if kind is None:
                raise _error(f"Invalid arn syntax: {arn}")
            if composite and kind[0] in ("ec2", "autoscaling"):
                raise _error(f"Composite alarms do not support {kind[0]} actions: {arn}")
            if math_alarm and kind[0] == "ec2":
                raise _error(f"EC2 actions are not supported for alarms on metric math expressions: {arn}")
            if (
                kind[0] == "ec2"
                and not arn.startswith("arn:aws:swf")
                and arn.split(":")[3] != params["_region"]
            ):
                raise _error(
                    f"Invalid region {arn.split(':')[3]} specified. Only {params['_region']} is supported."
                )


def _check_metric_alarm(params: dict[str, Any]) -> None:
    operator = params["ComparisonOperator"]
    if operator not in COMPARISONS and operator not in BAND_COMPARISONS:
        raise _error(f"Invalid ComparisonOperator {operator}")
    if operator in BAND_COMPARISONS:
        raise AwsError(
            "ValidationError",
            f"onebox does not implement anomaly detection bands, so {operator} cannot be evaluated.",
        )
    if operator in COMPARISONS and params.get("Threshold") is None and not params.get("ThresholdMetricId"):
        raise _error("Threshold is required for the comparison operator " + operator)
    has_metric = bool(params.get("MetricName"))
    metrics = params.get("Metrics")
    if has_metric and metrics:
        raise AwsError(
            "InvalidParameterCombination",
            "The parameters MetricName and Metrics are mutually exclusive and you have specified both.",
        )
    if not has_metric and not metrics:
        raise _error("Either MetricName or Metrics must be specified.")
    n = params["EvaluationPeriods"]
    m = params.get("DatapointsToAlarm") or n
    if m > n:
        raise _error("DatapointsToAlarm must be less than or equal to EvaluationPeriods")
    if has_metric:
        if not params.get("Namespace"):
            raise _error("Namespace is required when MetricName is specified.")
        if bool(params.get("Statistic")) == bool(params.get("ExtendedStatistic")):
            raise AwsError(
                "InvalidParameterCombination",
                "Exactly one element of the Statistic and ExtendedStatistic parameters must be specified.",
            )
        if params.get("ExtendedStatistic"):
            parsed = parse_extended(params["ExtendedStatistic"])
            if parsed is None:
                raise _error(
                    f"The value {params['ExtendedStatistic']} for parameter ExtendedStatistic is invalid."
                )
            if parsed.kind in ("TM", "WM", "TC", "TS") and parsed.percent:
                for bound in (parsed.low, parsed.high):
                    if bound is not None and bound not in (0.0, 100.0) and not 10 <= bound <= 90:
                        raise _error(
                            f"The value {params['ExtendedStatistic']} for parameter ExtendedStatistic is "
                            "invalid: percentages must be between 10 and 90."
                        )
        period = params.get("Period")
        if period is None:
            raise _error("Period is required when MetricName is specified.")
        periods = [period]
    else:
        if len([q for q in metrics if q.get("MetricStat")]) > MAX_ALARM_METRICS:
            raise _error(f"Alarms on metric math may reference at most {MAX_ALARM_METRICS} metrics.")
        returned = [q for q in metrics if q.get("ReturnData", True)]
        if len(returned) != 1:
            raise _error("Exactly one element of the metrics list should return data.")
        periods = []
        for query in metrics:
            if bool(query.get("MetricStat")) == bool(query.get("Expression")):
                raise _error(f"Exactly one of MetricStat and Expression must be set for {query.get('Id')}.")
            if query.get("Expression"):
                check_expression(query["Expression"])
            else:
                stat = query["MetricStat"]["Stat"]
                if stat not in STANDARD and parse_extended(stat) is None:
                    raise _error(f"The statistic {stat} is not supported.")
                periods.append(query["MetricStat"]["Period"])
        if len(set(periods)) > 1:
            raise _error("All metrics in a metric math alarm must have the same period.")
    for period in periods:
        if period % 60 != 0 and period not in (10, 20, 30):
            raise _error("Period must be 10, 20, 30 or a multiple of 60")
        if period * n > MAX_EVALUATION_SECONDS:
            raise _error(
                "Metrics cannot be checked across more than a day (EvaluationPeriods * Period must be <= 86400)"
            )
    if params.get("TreatMissingData", "missing") not in ("missing", "ignore", "breaching", "notBreaching"):
        raise _error(f"Invalid TreatMissingData {params['TreatMissingData']}")
    if params.get("EvaluateLowSampleCountPercentile") not in (None, "", "evaluate", "ignore"):
        raise _error("EvaluateLowSampleCountPercentile must be evaluate or ignore")


def _put_alarm(ctx: RequestContext, spec: dict[str, Any], tags: list[dict[str, str]] | None) -> Record:
    store = ctx.runtime.store
    now = ctx.runtime.clock.time()
    name = spec["AlarmName"]
    spec["ConfigUpdated"] = now
    with store.transaction():
        existing = store.get(ALARM_KIND, ctx.account_id, ctx.region, name)
        if existing is not None:
            if alarm_type(existing) != spec["AlarmType"]:
                raise _error(f"An alarm named {name} of another type already exists.")
            merged_tags = dict(existing.tags)
            merged_tags.update(tags_from_list(tags or []))
            record = store.update(existing, spec=spec, tags=merged_tags)
            summary = f'Alarm "{name}" updated'
        else:
            try:
                record = store.create(
                    ALARM_KIND,
                    ctx.account_id,
                    ctx.region,
                    name,
                    arn=_arn(ctx, name),
                    name=name,
                    spec=spec,
                    status=initial_status(now),
                    tags=tags_from_list(tags or []),
                )
            except AlreadyExists as error:
                raise _error(f"An alarm named {name} already exists.") from error
            summary = f'Alarm "{name}" created'
    record_history(
        ctx.runtime,
        record,
        "ConfigurationUpdate",
        summary,
        {"version": "1.0", "type": "Update" if existing else "Create", "updatedAlarm": alarm_view(record)},
        now,
    )
    return record


_METRIC_SPEC = ("AlarmName", "ActionsEnabled", *METRIC_FIELDS)


@api.operation("PutMetricAlarm")
def put_metric_alarm(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _check_metric_alarm(params)
    _check_actions({**params, "_region": ctx.region}, composite=False, math_alarm=bool(params.get("Metrics")))
    spec = {name: params[name] for name in _METRIC_SPEC if params.get(name) is not None}
    spec.setdefault("ActionsEnabled", True)
    spec.setdefault("DatapointsToAlarm", params["EvaluationPeriods"])
    if spec.get("Threshold") is not None:
        spec["Threshold"] = float(spec["Threshold"])
    spec["AlarmType"] = METRIC_ALARM
    _put_alarm(ctx, spec, params.get("Tags"))
    return {}


@api.operation("PutCompositeAlarm")
def put_composite_alarm(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    try:
        children = rule_children(parse_rule(params["AlarmRule"]))
    except RuleError as error:
        raise _error(f"AlarmRule is invalid: {error}") from None
    if params["AlarmName"] in children:
        raise _error("A composite alarm cannot reference itself in its AlarmRule.")
    _check_actions({**params, "_region": ctx.region}, composite=True, math_alarm=False)
    spec = {
        name: params[name]
        for name in (
            "AlarmName",
            "AlarmDescription",
            "ActionsEnabled",
            "OKActions",
            "AlarmActions",
            "InsufficientDataActions",
            "AlarmRule",
            "ActionsSuppressor",
            "ActionsSuppressorWaitPeriod",
            "ActionsSuppressorExtensionPeriod",
        )
        if params.get(name) is not None
    }
    spec.setdefault("ActionsEnabled", True)
    spec["AlarmType"] = COMPOSITE_ALARM
    _put_alarm(ctx, spec, params.get("Tags"))
    return {}


@api.operation("DescribeAlarms")
def describe_alarms(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    records = ctx.runtime.store.list(ALARM_KIND, ctx.account_id, ctx.region)
    types = params.get("AlarmTypes") or [METRIC_ALARM]
    if params.get("ChildrenOfAlarmName") or params.get("ParentsOfAlarmName"):
        types = [METRIC_ALARM, COMPOSITE_ALARM]
    if params.get("AlarmNames") and params.get("AlarmNamePrefix"):
        raise AwsError(
            "InvalidParameterCombination",
            "The parameters AlarmNames and AlarmNamePrefix are mutually exclusive and you have specified both.",
        )
    by_name = {r.id: r for r in records}
    selected = [r for r in records if alarm_type(r) in types]
    if params.get("AlarmNames"):
        wanted = set(params["AlarmNames"])
        selected = [r for r in selected if r.id in wanted]
    if params.get("AlarmNamePrefix"):
        selected = [r for r in selected if r.id.startswith(params["AlarmNamePrefix"])]
    if params.get("StateValue"):
        selected = [r for r in selected if r.status.get("StateValue") == params["StateValue"]]
    if params.get("ActionPrefix"):
        prefix = params["ActionPrefix"]
        selected = [
            r
            for r in selected
            if any(
                a.startswith(prefix)
                for f in ("AlarmActions", "OKActions", "InsufficientDataActions")
                for a in r.spec.get(f) or []
            )
        ]
    if params.get("ChildrenOfAlarmName"):
        parent = by_name.get(params["ChildrenOfAlarmName"])
        names = (
            rule_children(parse_rule(parent.spec["AlarmRule"]))
            if parent and "AlarmRule" in parent.spec
            else set()
        )
        selected = [r for r in selected if r.id in names]
    if params.get("ParentsOfAlarmName"):
        child = params["ParentsOfAlarmName"]
        selected = [
            r
            for r in selected
            if "AlarmRule" in r.spec and child in rule_children(parse_rule(r.spec["AlarmRule"]))
        ]
    max_records = params.get("MaxRecords") or 50
    page, token = ctx.runtime.store.paginator.paginate(
        selected,
        max_records,
        params.get("NextToken"),
        key=lambda r: r.id,
        scope=f"cloudwatch:describe-alarms:{ctx.account_id}:{ctx.region}",
    )
    output: dict[str, Any] = {
        "MetricAlarms": [alarm_view(r) for r in page if alarm_type(r) == METRIC_ALARM],
        "CompositeAlarms": [alarm_view(r) for r in page if alarm_type(r) == COMPOSITE_ALARM],
    }
    if token:
        output["NextToken"] = token
    return output


@api.operation("DescribeAlarmsForMetric")
def describe_alarms_for_metric(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    wanted_dims = dims_key(params.get("Dimensions"))
    found = []
    for record in ctx.runtime.store.list(ALARM_KIND, ctx.account_id, ctx.region):
        spec = record.spec
        if alarm_type(record) != METRIC_ALARM:
            continue
        candidates = (
            [spec]
            if spec.get("MetricName")
            else [
                {
                    **q["MetricStat"]["Metric"],
                    "Period": q["MetricStat"]["Period"],
                    "Stat": q["MetricStat"]["Stat"],
                }
                for q in spec.get("Metrics") or []
                if q.get("MetricStat")
            ]
        )
        for metric in candidates:
            if (
                metric.get("MetricName") != params["MetricName"]
                or metric.get("Namespace") != params["Namespace"]
            ):
                continue
            if dims_key(metric.get("Dimensions")) != wanted_dims:
                continue
            stat = metric.get("Statistic") or metric.get("Stat")
            if params.get("Statistic") and stat != params["Statistic"]:
                continue
            if (
                params.get("ExtendedStatistic")
                and (metric.get("ExtendedStatistic") or stat) != params["ExtendedStatistic"]
            ):
                continue
            if params.get("Period") and metric.get("Period") != params["Period"]:
                continue
            if params.get("Unit") and spec.get("Unit") != params["Unit"]:
                continue
            found.append(alarm_view(record))
            break
    return {"MetricAlarms": found}


@api.operation("DeleteAlarms")
def delete_alarms(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    names = params["AlarmNames"]
    if len(names) > 100:
        raise _error("The collection AlarmNames must not have a size greater than 100.")
    with store.transaction():
        records = []
        for name in names:
            record = store.get(ALARM_KIND, ctx.account_id, ctx.region, name)
            if record is None:
                raise AwsError("ResourceNotFound", f"Alarm {name} does not exist.", 404)
            records.append(record)
        for record in records:
            store.delete_by_id(ALARM_KIND, ctx.account_id, ctx.region, record.id)
    now = ctx.runtime.clock.time()
    for record in records:
        record_history(
            ctx.runtime,
            record,
            "ConfigurationUpdate",
            f'Alarm "{record.id}" deleted',
            {"version": "1.0", "type": "Delete", "deletedAlarm": alarm_view(record)},
            now,
        )
    return {}


def _set_actions_enabled(ctx: RequestContext, names: list[str], enabled: bool) -> None:
    store = ctx.runtime.store
    for name in names:
        record = store.get(ALARM_KIND, ctx.account_id, ctx.region, name)
        if record is not None and record.spec.get("ActionsEnabled", True) != enabled:
            store.update(record, spec={**record.spec, "ActionsEnabled": enabled})


@api.operation("EnableAlarmActions")
def enable_alarm_actions(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _set_actions_enabled(ctx, params["AlarmNames"], True)
    return {}


@api.operation("DisableAlarmActions")
def disable_alarm_actions(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _set_actions_enabled(ctx, params["AlarmNames"], False)
    return {}


@api.operation("SetAlarmState")
async def set_alarm_state(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    record = ctx.runtime.store.get(ALARM_KIND, ctx.account_id, ctx.region, params["AlarmName"])
    if record is None:
        raise AwsError("ResourceNotFound", f"Alarm {params['AlarmName']} does not exist.", 404)
    data = params.get("StateReasonData") or ""
    if data:
        try:
            json.loads(data)
        except ValueError:
            raise AwsError("InvalidFormat", "StateReasonData is not valid JSON.") from None
    now = ctx.runtime.clock.time()
    grain = slot(alarm_period(record.spec)) if alarm_type(record) == METRIC_ALARM else 60
    held_until = (now // grain + 1) * grain  # the state holds until the next evaluation
    await change_state(
        ctx.runtime,
        record,
        params["StateValue"],
        params["StateReason"],
        data,
        now,
        extra_status={"HeldUntil": held_until},
        always_write=True,
    )
    evaluator = evaluator_for(ctx.runtime)
    for parent in evaluator._parents.get((ctx.account_id, ctx.region, record.id), ()):
        evaluator.force(parent)
    return {}


@api.operation("DescribeAlarmHistory")
def describe_alarm_history(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    rows = metric_store(ctx.runtime).history(ctx.account_id, ctx.region, params.get("AlarmName"))
    types = params.get("AlarmTypes") or [METRIC_ALARM, COMPOSITE_ALARM]
    rows = [r for r in rows if r.alarm_type in types]
    if params.get("HistoryItemType"):
        rows = [r for r in rows if r.item_type == params["HistoryItemType"]]
    if params.get("StartDate"):
        rows = [r for r in rows if r.ts >= params["StartDate"].timestamp()]
    if params.get("EndDate"):
        rows = [r for r in rows if r.ts <= params["EndDate"].timestamp()]
    descending = params.get("ScanBy", "TimestampDescending") == "TimestampDescending"
    page, token = ctx.runtime.store.paginator.paginate(
        rows,
        params.get("MaxRecords") or 100,
        params.get("NextToken"),
        key=(lambda r: -r.seq) if descending else (lambda r: r.seq),
        scope=f"cloudwatch:alarm-history:{ctx.account_id}:{ctx.region}:{descending}",
    )
    output: dict[str, Any] = {
        "AlarmHistoryItems": [
            {
                "AlarmName": r.alarm,
                "AlarmType": r.alarm_type,
                "Timestamp": datetime.fromtimestamp(r.ts, UTC),
                "HistoryItemType": r.item_type,
                "HistorySummary": r.summary,
                "HistoryData": r.data,
            }
            for r in page
        ]
    }
    if token:
        output["NextToken"] = token
    return output


# -- tags (alarms are CloudWatch's taggable resources here) --------------------------------------------

MAX_TAGS = 50


def _tagged_alarm(ctx: RequestContext, arn: str) -> Record:
    prefix = f"arn:aws:cloudwatch:{ctx.region}:{ctx.account_id}:alarm:"
    record = None
    if arn.startswith(prefix):
        record = ctx.runtime.store.get(ALARM_KIND, ctx.account_id, ctx.region, arn[len(prefix) :])
    if record is None:
        raise AwsError("ResourceNotFoundException", f"The resource {arn} does not exist.", 404)
    return record


@api.operation("ListTagsForResource")
def list_tags_for_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    record = _tagged_alarm(ctx, params["ResourceARN"])
    return {"Tags": [{"Key": key, "Value": value} for key, value in record.tags.items()]}


@api.operation("TagResource")
def tag_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    record = _tagged_alarm(ctx, params["ResourceARN"])
    tags = dict(record.tags)
    tags.update(tags_from_list(params["Tags"]))
    if any(key.lower().startswith("aws:") for key in tags_from_list(params["Tags"])):
        raise AwsError("InvalidParameterValue", "Tag keys starting with aws: are reserved.")
    if len(tags) > MAX_TAGS:
        raise AwsError("LimitExceededException", f"A resource can have at most {MAX_TAGS} tags.")
    ctx.runtime.store.update(record, tags=tags)
    return {}


@api.operation("UntagResource")
def untag_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    record = _tagged_alarm(ctx, params["ResourceARN"])
    removed = set(params["TagKeys"])
    ctx.runtime.store.update(record, tags={k: v for k, v in record.tags.items() if k not in removed})
    return {}
