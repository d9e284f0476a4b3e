"""Alarms as stored: one record per alarm (kind `cloudwatch:alarm`, id = name; metric and composite alarms
share the name space as in AWS). `spec` is the Put*Alarm input; `status` holds the state and the
evaluator's bookkeeping. How they are shown to DescribeAlarms, and their history items."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from onebox.services.cloudwatch.evaluation import INSUFFICIENT
from onebox.services.cloudwatch.metric_store import metric_store

if TYPE_CHECKING:
    from onebox.runtime import Runtime
    from onebox.store import Record

ALARM_KIND = "cloudwatch:alarm"
METRIC_ALARM = "MetricAlarm"
COMPOSITE_ALARM = "CompositeAlarm"

# The members of PutMetricAlarm that DescribeAlarms shows back (AlarmName/ActionsEnabled aside).
METRIC_FIELDS = (
    "AlarmDescription",
    "OKActions",
    "AlarmActions",
    "InsufficientDataActions",
    "MetricName",
    "Namespace",
    "Statistic",
    "ExtendedStatistic",
    "Dimensions",
    "Period",
    "Unit",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "EvaluateLowSampleCountPercentile",
    "Metrics",
    "ThresholdMetricId",
)
_COMPOSITE_FIELDS = (
    "AlarmDescription",
    "OKActions",
    "AlarmActions",
    "InsufficientDataActions",
    "AlarmRule",
    "ActionsSuppressor",
    "ActionsSuppressorWaitPeriod",
    "ActionsSuppressorExtensionPeriod",
)


def _time(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts is not None else None


def initial_status(now: float) -> dict[str, Any]:
    return {
        "StateValue": INSUFFICIENT,
        "StateReason": "Unchecked: Initial alarm creation",
        "StateUpdatedTimestamp": now,
        "StateTransitionedTimestamp": now,
    }


def alarm_type(record: Record) -> str:
    return str(record.spec.get("AlarmType", METRIC_ALARM))


def alarm_view(record: Record) -> dict[str, Any]:
    """The alarm as DescribeAlarms returns it (MetricAlarm or CompositeAlarm shape)."""
    spec, status = record.spec, record.status
    composite = alarm_type(record) == COMPOSITE_ALARM
    view: dict[str, Any] = {
        "AlarmName": record.name,
        "AlarmArn": record.arn,
        "AlarmConfigurationUpdatedTimestamp": _time(spec.get("ConfigUpdated")),
        "ActionsEnabled": spec.get("ActionsEnabled", True),
        "StateValue": status.get("StateValue", INSUFFICIENT),
        "StateReason": status.get("StateReason", ""),
        "StateUpdatedTimestamp": _time(status.get("StateUpdatedTimestamp")),
        "StateTransitionedTimestamp": _time(status.get("StateTransitionedTimestamp")),
    }
    if status.get("StateReasonData"):
        view["StateReasonData"] = status["StateReasonData"]
    for name in _COMPOSITE_FIELDS if composite else METRIC_FIELDS:
        if spec.get(name) is not None:
            view[name] = spec[name]
    for name in ("OKActions", "AlarmActions", "InsufficientDataActions"):
        view.setdefault(name, [])
    if not composite:
        view.setdefault("Dimensions", [] if spec.get("MetricName") else None)
        if view["Dimensions"] is None:
            del view["Dimensions"]
        view.setdefault("TreatMissingData", "missing")
    return view


def record_history(
    runtime: Runtime,
    record: Record,
    item_type: str,
    summary: str,
    data: dict[str, Any],
    now: float,
) -> None:
    metric_store(runtime).add_history(
        record.account,
        record.region,
        record.name or record.id,
        alarm_type(record),
        now,
        item_type,
        summary,
        json.dumps(data, default=str),
    )
