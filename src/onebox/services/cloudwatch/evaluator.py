"""Alarms evaluated on the clock, and what happens when their state changes.

`AlarmEvaluator` is a controller over every alarm. Its resync runs every 10 s of the clock; an alarm is
evaluated when a new evaluation slot has begun (every minute for periods of 60 s or more, every 10 s
for 10/20/30 s periods, as AWS), when its definition changes, and, faster than AWS, as soon as one of
its metrics receives data. An evaluation at time t covers the periods ending at t rounded up to the
slot, over the evaluation range (evaluation.py). SetAlarmState holds until the next slot.

On a state change the alarm's actions for the new state run (actions.py) and its history records
the change and every action's outcome; Auto Scaling actions are re-invoked once a minute while the
alarm stays in that state. Composite alarms are re-evaluated when an alarm they name changes state.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from onebox.controllers import Controller
from onebox.services.cloudwatch import ingest
from onebox.services.cloudwatch.actions import AlarmAction, action_kind, run_action
from onebox.services.cloudwatch.alarm_model import (
    ALARM_KIND,
    COMPOSITE_ALARM,
    alarm_type,
    alarm_view,
    record_history,
)
from onebox.services.cloudwatch.evaluation import (
    ALARM,
    COMPARISONS,
    INSUFFICIENT,
    OK,
    decide,
    extra_periods,
)
from onebox.services.cloudwatch.metric_store import MetricKey
from onebox.services.cloudwatch.queries import buckets, metric_key, statistic_value
from onebox.services.cloudwatch.statistics import low_sample_count, parse_extended

if TYPE_CHECKING:
    from onebox.runtime import Runtime
    from onebox.store import Record
    from onebox.store.changes import Subscription

AlarmKey = tuple[str, str, str]  # account, region, alarm name
ACTION_FIELDS = {ALARM: "AlarmActions", OK: "OKActions", INSUFFICIENT: "InsufficientDataActions"}
AUTOSCALING_REINVOKE = 60.0


def slot(period: int) -> int:
    return 10 if period < 60 else 60


def alarm_period(spec: dict[str, Any]) -> int:
    if spec.get("Period"):
        return int(spec["Period"])
    for query in spec.get("Metrics") or []:
        if query.get("MetricStat"):
            return int(query["MetricStat"]["Period"])
        if query.get("Period"):
            return int(query["Period"])
    return 60


# -- metric alarms ------------------------------------------------------------------------------------


def _stamp(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%d/%m/%y %H:%M:%S")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "+0000")


_OPERATOR_TEXT = {
    "GreaterThanOrEqualToThreshold": "greater than or equal to",
    "GreaterThanThreshold": "greater than",
    "LessThanThreshold": "less than",
    "LessThanOrEqualToThreshold": "less than or equal to",
}


def metric_points(runtime: Runtime, record: Record, now: float) -> tuple[list[tuple[int, float | None]], int]:
    """(period start, value or None) over the alarm's evaluation range ending at the current slot."""
    spec = record.spec
    period = alarm_period(spec)
    n = int(spec["EvaluationPeriods"])
    grain = slot(period)
    end = int(math.ceil(now / grain) * grain)
    count = n + extra_periods(period)
    start = end - count * period
    values: dict[int, float] = {}
    if spec.get("MetricName"):
        stat = spec.get("ExtendedStatistic") or spec["Statistic"]
        found, _ = buckets(
            runtime, metric_key(record.account, record.region, spec), start, end, period, spec.get("Unit")
        )
        parsed = parse_extended(stat) if spec.get("ExtendedStatistic") else None
        for ts, bucket in found.items():
            if (
                parsed is not None
                and spec.get("EvaluateLowSampleCountPercentile") == "ignore"
                and low_sample_count(bucket, parsed)
            ):
                continue  # too few samples for this percentile: the period does not count
            value = statistic_value(bucket, stat)
            if value is not None:
                values[ts] = value
    else:
        from onebox.services.cloudwatch.metrics_api import run_queries

        results = run_queries(runtime, record.account, record.region, spec["Metrics"], start, end, now)
        if results:
            values = results[0][1]
    return [(start + i * period, values.get(start + i * period)) for i in range(count)], end


def evaluate_metric_alarm(runtime: Runtime, record: Record, now: float) -> tuple[str, str, str]:
    """(new state, StateReason, StateReasonData) for a metric alarm at `now`."""
    spec = record.spec
    points, end = metric_points(runtime, record, now)
    n = int(spec["EvaluationPeriods"])
    m = int(spec.get("DatapointsToAlarm") or n)
    operator = spec["ComparisonOperator"]
    threshold = float(spec.get("Threshold", 0.0))
    compare = COMPARISONS.get(operator)
    if compare is None:
        return record.status.get("StateValue", INSUFFICIENT), "Anomaly detection bands are not supported", ""
    treatment = spec.get("TreatMissingData") or "missing"
    if spec.get("Namespace") == "AWS/DynamoDB":
        treatment = "ignore"  # AWS: DynamoDB alarms always ignore missing data
    flags = [None if v is None else compare(v, threshold) for _, v in points]
    current = record.status.get("StateValue", INSUFFICIENT)
    state = decide(flags, n, m, treatment, current)
    real = [(ts, v) for ts, v in points if v is not None][-n:]
    recent = [v for _, v in real]
    text = _OPERATOR_TEXT.get(operator, operator)
    listed = ", ".join(f"{v} ({_stamp(ts)})" for ts, v in reversed(real))
    if state == ALARM:
        breaching = sum(1 for _, v in real if compare(v, threshold))
        verb = "was" if breaching == 1 else "were"
        reason = (
            f"Threshold Crossed: {breaching} out of the last {n} datapoints [{listed}] {verb} {text} the "
            f"threshold ({threshold}) (minimum {m} datapoint{'s' if m > 1 else ''} for "
            f"{current if current != ALARM else OK} -> ALARM transition)."
        )
    elif state == OK:
        reason = (
            f"Threshold Crossed: {len(real)} datapoint{'s' if len(real) != 1 else ''} [{listed}] "
            f"{'was' if len(real) == 1 else 'were'} not {text} the threshold ({threshold})."
        )
        if not real:
            reason = f"Threshold Crossed: no datapoints were received for {n} periods and {n} missing "
            reason += "datapoints were treated as [NonBreaching]."
    else:
        reason = f"Insufficient Data: {n} datapoint{'s were' if n > 1 else ' was'} unknown."
    data = {
        "version": "1.0",
        "queryDate": _iso(now),
        "startDate": _iso(points[0][0]),
        "period": alarm_period(spec),
        "recentDatapoints": recent,
        "threshold": threshold,
        "evaluatedDatapoints": [{"timestamp": _iso(ts), "value": v} for ts, v in reversed(real)],
    }
    if spec.get("Statistic"):
        data["statistic"] = spec["Statistic"]
    if spec.get("Unit"):
        data["unit"] = spec["Unit"]
    return state, reason, json.dumps(data)


# -- composite alarms ---------------------------------------------------------------------------------

_RULE_TOKEN = re.compile(r'\s*(\(|\)|"[^"]*"|[A-Za-z_]+\s*\(\s*(?:"[^"]*"|[^\s()]+)\s*\)|[A-Za-z_]+)')


class RuleError(ValueError):
    pass


def _rule_tokens(rule: str) -> list[str]:
    tokens, position = [], 0
    rule = rule.strip()
    while position < len(rule):
        match = _RULE_TOKEN.match(rule, position)
        if match is None:
            raise RuleError(f"Unexpected text in AlarmRule at position {position}")
        tokens.append(match.group(1).strip())
        position = match.end()
    return tokens


def parse_rule(rule: str) -> Any:
    """AlarmRule -> a nested tuple tree; functions ALARM/OK/INSUFFICIENT_DATA, TRUE, FALSE, AND/OR/NOT."""
    tokens = _rule_tokens(rule)
    position = 0

    def peek() -> str | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> str:
        nonlocal position
        if position >= len(tokens):
            raise RuleError("AlarmRule ends unexpectedly")
        position += 1
        return tokens[position - 1]

    def parse_or() -> Any:
        node = parse_and()
        while peek() == "OR":
            take()
            node = ("OR", node, parse_and())
        return node

    def parse_and() -> Any:
        node = parse_not()
        while peek() == "AND":
            take()
            node = ("AND", node, parse_not())
        return node

    def parse_not() -> Any:
        if peek() == "NOT":
            take()
            return ("NOT", parse_not())
        return atom()

    def atom() -> Any:
        token = take()
        if token == "(":
            node = parse_or()
            if take() != ")":
                raise RuleError("Missing ')' in AlarmRule")
            return node
        if token in ("TRUE", "FALSE"):
            return ("CONST", token == "TRUE")
        match = re.fullmatch(r'(ALARM|OK|INSUFFICIENT_DATA)\s*\(\s*"?([^"]*?)"?\s*\)', token)
        if match is None:
            raise RuleError(f"Invalid AlarmRule element: {token}")
        name = match.group(2)
        if name.startswith("arn:"):
            name = name.split(":alarm:", 1)[-1]
        return ("STATE", match.group(1), name)

    tree = parse_or()
    if position != len(tokens):
        raise RuleError(f"Unexpected {tokens[position]} in AlarmRule")
    return tree


def rule_children(tree: Any) -> set[str]:
    if tree[0] == "STATE":
        return {tree[2]}
    if tree[0] == "CONST":
        return set()
    return set().union(*(rule_children(child) for child in tree[1:]))


def rule_value(tree: Any, states: dict[str, str]) -> bool:
    kind = tree[0]
    if kind == "CONST":
        return bool(tree[1])
    if kind == "STATE":
        return states.get(tree[2], INSUFFICIENT) == tree[1]
    if kind == "NOT":
        return not rule_value(tree[1], states)
    if kind == "AND":
        return rule_value(tree[1], states) and rule_value(tree[2], states)
    return rule_value(tree[1], states) or rule_value(tree[2], states)


def evaluate_composite(runtime: Runtime, record: Record) -> tuple[str, str, str]:
    tree = parse_rule(record.spec["AlarmRule"])
    states: dict[str, str] = {}
    for name in rule_children(tree):
        child = runtime.store.get(ALARM_KIND, record.account, record.region, name)
        if child is not None:
            states[name] = child.status.get("StateValue", INSUFFICIENT)
    state = ALARM if rule_value(tree, states) else OK
    triggering = [
        {
            "arn": f"arn:aws:cloudwatch:{record.region}:{record.account}:alarm:{name}",
            "state": {"value": value},
        }
        for name, value in sorted(states.items())
        if value == ALARM
    ]
    reason = (
        f"arn:aws:cloudwatch:{record.region}:{record.account}:alarm:{triggering[0]['arn'].split(':alarm:')[1]} "
        "transitioned to ALARM"
        if state == ALARM and triggering
        else f"AlarmRule evaluated to {'TRUE' if state == ALARM else 'FALSE'}"
    )
    return state, reason, json.dumps({"triggeringAlarms": triggering})


# -- state changes and actions ------------------------------------------------------------------------


async def change_state(
    runtime: Runtime,
    record: Record,
    state: str,
    reason: str,
    reason_data: str,
    now: float,
    *,
    extra_status: dict[str, Any] | None = None,
    always_write: bool = False,
) -> tuple[Record, bool]:
    """Write the new state; on a change record history and run the state's actions. (record, changed)"""
    old = record.status.get("StateValue", INSUFFICIENT)
    changed = state != old
    if not changed and not always_write:
        return record, False
    status = dict(record.status)
    status.update(extra_status or {})
    status.update(StateValue=state, StateReason=reason, StateUpdatedTimestamp=now)
    if reason_data:
        status["StateReasonData"] = reason_data
    else:
        status.pop("StateReasonData", None)
    if changed:
        status["StateTransitionedTimestamp"] = now
    record = runtime.store.update_status(record.kind, record.account, record.region, record.id, status)
    if changed:
        record_history(
            runtime,
            record,
            "StateUpdate",
            f"Alarm updated from {old} to {state}",
            {
                "version": "1.0",
                "oldState": {"stateValue": old, "stateReason": record.status.get("StateReason", "")},
                "newState": {"stateValue": state, "stateReason": reason, "stateReasonData": reason_data},
            },
            now,
        )
        await run_actions(runtime, record, old, state, reason, now)
    return record, changed


async def run_actions(
    runtime: Runtime,
    record: Record,
    old: str,
    new: str,
    reason: str,
    now: float,
    *,
    only_kind: str | None = None,
) -> int:
    """Run the actions configured for `new` (only those of `only_kind` if given); how many ran."""
    if not record.spec.get("ActionsEnabled", True):
        return 0
    view = alarm_view(record)
    ran = 0
    for arn in record.spec.get(ACTION_FIELDS[new]) or []:
        kind, operation = action_kind(arn) or ("unknown", None)
        if only_kind is not None and kind != only_kind:
            continue
        action = AlarmAction(
            arn=arn,
            kind=kind,
            operation=operation,
            account=record.account,
            region=record.region,
            alarm_name=record.name or record.id,
            alarm_arn=record.arn,
            old_state=old,
            new_state=new,
            reason=reason,
            alarm=view,
        )
        succeeded, summary = await run_action(runtime, action)
        ran += 1
        record_history(
            runtime,
            record,
            "Action",
            summary,
            {
                "actionState": "Succeeded" if succeeded else "Failed",
                "stateUpdateTimestamp": _iso(now),
                "notificationResource": arn,
            },
            now,
        )
    return ran


# -- the controller -----------------------------------------------------------------------------------


class AlarmEvaluator(Controller[AlarmKey]):
    name = "cloudwatch-alarms"
    resync_interval = 10.0

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime.clock)
        self.runtime = runtime
        self._forced: set[AlarmKey] = set()
        self._last_evaluated: dict[AlarmKey, float] = {}
        self._autoscaling_at: dict[AlarmKey, float] = {}
        self._by_metric: dict[MetricKey, set[AlarmKey]] = {}
        self._parents: dict[AlarmKey, set[AlarmKey]] = {}
        ingest.add_listener(self._on_data)

    def force(self, key: AlarmKey) -> None:
        """Evaluate `key` at once (its definition changed, or one of its metrics got data)."""
        self._forced.add(key)
        self.enqueue(key)

    def _on_data(self, runtime: Any, metrics: set[MetricKey]) -> None:
        if runtime is not self.runtime:
            return
        for metric in metrics:
            for key in self._by_metric.get(metric, ()):
                self.force(key)

    def _index(self, records: Iterable[Record]) -> None:
        by_metric: dict[MetricKey, set[AlarmKey]] = {}
        parents: dict[AlarmKey, set[AlarmKey]] = {}
        for record in records:
            key = (record.account, record.region, record.id)
            if alarm_type(record) == COMPOSITE_ALARM:
                try:
                    children = rule_children(parse_rule(record.spec["AlarmRule"]))
                except RuleError:
                    continue
                for child in children:
                    parents.setdefault((record.account, record.region, child), set()).add(key)
                continue
            for metric in _alarm_metrics(record):
                by_metric.setdefault(metric, set()).add(key)
        self._by_metric = by_metric
        self._parents = parents

    async def list_keys(self) -> list[AlarmKey]:
        records = self.runtime.store.list_all(ALARM_KIND)
        self._index(records)
        return [(r.account, r.region, r.id) for r in records]

    async def reconcile(self, key: AlarmKey) -> None:
        record = self.runtime.store.get(ALARM_KIND, *key)
        if record is None:
            self._forced.discard(key)
            self._last_evaluated.pop(key, None)
            self._autoscaling_at.pop(key, None)
            return
        now = self.clock.time()
        forced = key in self._forced
        self._forced.discard(key)
        grain = slot(alarm_period(record.spec))
        last = self._last_evaluated.get(key)
        due = last is None or math.floor(now / grain) > math.floor(last / grain)
        if now < float(record.status.get("HeldUntil", 0.0)):
            return  # SetAlarmState holds until the next evaluation slot
        if not (forced or due):
            return
        await self.evaluate(record, now)

    async def evaluate(self, record: Record, now: float) -> Record:
        key = (record.account, record.region, record.id)
        self._last_evaluated[key] = now
        if alarm_type(record) == COMPOSITE_ALARM:
            for child in rule_children(parse_rule(record.spec["AlarmRule"])):
                self._parents.setdefault((record.account, record.region, child), set()).add(key)
            state, reason, data = evaluate_composite(self.runtime, record)
        else:
            for metric in _alarm_metrics(record):
                self._by_metric.setdefault(metric, set()).add(key)
            state, reason, data = evaluate_metric_alarm(self.runtime, record, now)
        record, changed = await change_state(self.runtime, record, state, reason, data, now)
        if changed:
            self._autoscaling_at[key] = now
            for parent in self._parents.get(key, ()):
                self.force(parent)
        elif now - self._autoscaling_at.get(key, now) >= AUTOSCALING_REINVOKE:
            # AWS re-invokes Auto Scaling actions once a minute while the alarm stays in the state.
            ran = await run_actions(
                self.runtime,
                record,
                state,
                state,
                record.status.get("StateReason", ""),
                now,
                only_kind="autoscaling",
            )
            if ran:
                self._autoscaling_at[key] = now
        else:
            self._autoscaling_at.setdefault(key, now)
        return record


def _alarm_metrics(record: Record) -> list[MetricKey]:
    spec = record.spec
    if spec.get("MetricName"):
        return [metric_key(record.account, record.region, spec)]
    return [
        metric_key(record.account, record.region, query["MetricStat"]["Metric"])
        for query in spec.get("Metrics") or []
        if query.get("MetricStat")
    ]


_evaluators: dict[int, AlarmEvaluator] = {}


def evaluator_for(runtime: Runtime) -> AlarmEvaluator:
    """The runtime's evaluator (created on first use; the daemon runs it as a controller)."""
    found = _evaluators.get(id(runtime))
    if found is None or found.runtime is not runtime:
        found = _evaluators[id(runtime)] = AlarmEvaluator(runtime)
    return found


async def alarm_changes(subscription: Subscription, evaluator: AlarmEvaluator) -> AsyncIterator[AlarmKey]:
    """Definition changes (not the evaluator's own status writes) wake an alarm for evaluation."""
    try:
        async for change in subscription:
            if change.status_only:
                continue
            key = (change.account, change.region, change.id)
            evaluator.force(key)
            yield key
    finally:
        subscription.close()
