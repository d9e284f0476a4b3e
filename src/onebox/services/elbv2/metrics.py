"""AWS/ApplicationELB metrics from HAProxy's counters, published each minute through CloudWatch's ingest.

Counters are cumulative per HAProxy worker (a reload starts a new worker at zero), so each minute
publishes the difference from the previous reading, or the reading itself after a new worker started.
As in AWS, traffic metrics are sent only when there was traffic; host counts are sent every minute.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from onebox.runtime import Runtime
from onebox.store import Record

log = logging.getLogger(__name__)

NAMESPACE = "AWS/ApplicationELB"


def _ingest() -> Any:
    try:
        return importlib.import_module("onebox.services.cloudwatch.ingest")
    except ImportError:
        return None


def lb_dimension(lb: Record) -> str:
    return f"app/{lb.name}/{lb.id}"


def tg_dimension(group: Record) -> str:
    return f"targetgroup/{group.name}/{group.id}"


@dataclass
class Reading:
    """One minute's traffic, already differenced: what `metric_data` turns into points."""

    requests: int = 0
    new_connections: int = 0
    active_connections: int = 0
    target_responses: dict[str, int] = field(default_factory=dict)  # "2xx".. from targets
    elb_responses: dict[str, int] = field(default_factory=dict)  # "4xx"/"5xx" made by the balancer
    response_time_ms: float | None = None
    groups: dict[str, GroupReading] = field(default_factory=dict)  # by data-plane group key


@dataclass
class GroupReading:
    requests: int = 0
    target_responses: dict[str, int] = field(default_factory=dict)
    response_time_ms: float | None = None
    healthy: dict[str | None, int] = field(default_factory=dict)  # by AZ (None: zone unknown)
    unhealthy: dict[str | None, int] = field(default_factory=dict)
    targets: int = 0


def _delta(now: int, before: int | None) -> int:
    if before is None or now < before:
        return now
    return now - before


def difference(current: Any, previous: Any | None) -> Reading:
    """A Reading from two BalancerStats (previous None or from another worker: current counts whole)."""
    same_worker = previous is not None and previous.worker_pid == current.worker_pid
    before = previous if same_worker else None
    reading = Reading()
    for key, counters in current.listeners.items():
        old = before.listeners.get(key) if before else None
        reading.requests += _delta(counters.requests, old.requests if old else None)
        reading.new_connections += _delta(counters.total_connections, old.total_connections if old else None)
        reading.active_connections += counters.current_connections
    for code, n in current.elb_responses.items():
        old_n = before.elb_responses.get(code) if before else None
        reading.elb_responses[code] = _delta(n, old_n)
    times: list[tuple[int, float]] = []
    for group_key, counters in current.target_groups.items():
        group = GroupReading()
        per_target = current.targets.get(group_key, {})
        old_targets = before.targets.get(group_key, {}) if before else {}
        for target_key, target_counters in per_target.items():
            old_target = old_targets.get(target_key)
            for code, n in target_counters.responses.items():
                old_n = old_target.responses.get(code) if old_target else None
                group.target_responses[code] = group.target_responses.get(code, 0) + _delta(n, old_n)
        group.requests = sum(
            group.target_responses.get(c, 0) for c in ("1xx", "2xx", "3xx", "4xx", "5xx", "other")
        )
        if group.requests and counters.response_time_ms:
            group.response_time_ms = float(counters.response_time_ms)
            times.append((group.requests, float(counters.response_time_ms)))
        reading.groups[group_key] = group
        for code, n in group.target_responses.items():
            reading.target_responses[code] = reading.target_responses.get(code, 0) + n
    if times:
        total = sum(n for n, _ in times)
        reading.response_time_ms = sum(n * t for n, t in times) / total
    return reading


def _add(into: dict[str, int], more: dict[str, int]) -> None:
    for code, n in more.items():
        into[code] = into.get(code, 0) + n


def _weighted(a: float | None, a_n: int, b: float | None, b_n: int) -> float | None:
    if a is None or not a_n:
        return b
    if b is None or not b_n:
        return a
    return (a * a_n + b * b_n) / (a_n + b_n)


def merge(earlier: Reading, later: Reading) -> Reading:
    """One reading for a minute in which a reload replaced the worker: traffic adds up, response times
    average by requests, connections open now are the later worker's."""
    merged = Reading(
        requests=earlier.requests + later.requests,
        new_connections=earlier.new_connections + later.new_connections,
        active_connections=later.active_connections,
        response_time_ms=_weighted(
            earlier.response_time_ms,
            sum(g.requests for g in earlier.groups.values()),
            later.response_time_ms,
            sum(g.requests for g in later.groups.values()),
        ),
    )
    for reading in (earlier, later):
        _add(merged.target_responses, reading.target_responses)
        _add(merged.elb_responses, reading.elb_responses)
    for key in {*earlier.groups, *later.groups}:
        a, b = earlier.groups.get(key, GroupReading()), later.groups.get(key, GroupReading())
        group = GroupReading(
            requests=a.requests + b.requests,
            response_time_ms=_weighted(a.response_time_ms, a.requests, b.response_time_ms, b.requests),
        )
        _add(group.target_responses, a.target_responses)
        _add(group.target_responses, b.target_responses)
        merged.groups[key] = group
    return merged


def metric_data(
    lb: Record, groups: dict[str, Record], reading: Reading, when: datetime
) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = []
    lb_dims = [{"Name": "LoadBalancer", "Value": lb_dimension(lb)}]

    def point(name: str, dims: list[dict[str, str]], value: float, unit: str) -> None:
        data.append({"MetricName": name, "Dimensions": dims, "Timestamp": when, "Value": value, "Unit": unit})

    def traffic(
        dims: list[dict[str, str]], requests: int, responses: dict[str, int], seconds: float | None
    ) -> None:
        if not requests:
            return
        point("RequestCount", dims, float(requests), "Count")
        for code in ("2xx", "3xx", "4xx", "5xx"):
            if responses.get(code):
                point(f"HTTPCode_Target_{code.upper()}_Count", dims, float(responses[code]), "Count")
        if seconds is not None:
            point("TargetResponseTime", dims, seconds / 1000.0, "Seconds")

    traffic(lb_dims, reading.requests, reading.target_responses, reading.response_time_ms)
    for code in ("4xx", "5xx"):
        if reading.elb_responses.get(code):
            point(f"HTTPCode_ELB_{code.upper()}_Count", lb_dims, float(reading.elb_responses[code]), "Count")
    if reading.requests or reading.new_connections:
        point("NewConnectionCount", lb_dims, float(reading.new_connections), "Count")
        point("ActiveConnectionCount", lb_dims, float(reading.active_connections), "Count")
    for group_key, group_reading in reading.groups.items():
        group = groups.get(group_key)
        if group is None:
            continue
        dims = [{"Name": "TargetGroup", "Value": tg_dimension(group)}, *lb_dims]
        traffic(dims, group_reading.requests, group_reading.target_responses, group_reading.response_time_ms)
        if group_reading.requests and group_reading.targets:
            per_target = group_reading.requests / group_reading.targets
            point("RequestCountPerTarget", dims, per_target, "Count")
            # Also by TargetGroup alone, as AWS publishes it (target tracking's ALBRequestCountPerTarget).
            point("RequestCountPerTarget", dims[:1], per_target, "Count")
        point("HealthyHostCount", dims, float(sum(group_reading.healthy.values())), "Count")
        point("UnHealthyHostCount", dims, float(sum(group_reading.unhealthy.values())), "Count")
        zones = {z for z in (*group_reading.healthy, *group_reading.unhealthy) if z}
        for zone in sorted(zones):
            zone_dims = [*dims, {"Name": "AvailabilityZone", "Value": zone}]
            point("HealthyHostCount", zone_dims, float(group_reading.healthy.get(zone, 0)), "Count")
            point("UnHealthyHostCount", zone_dims, float(group_reading.unhealthy.get(zone, 0)), "Count")
    return data


def publish(runtime: Runtime, lb: Record, data: list[dict[str, Any]]) -> None:
    ingest = _ingest()
    if ingest is None or not data:
        return
    try:
        # PutMetricData takes at most MAX_VALUES data per call.
        for start in range(0, len(data), 100):
            ingest.put_metric_data(runtime, lb.account, lb.region, NAMESPACE, data[start : start + 100])
    except Exception as exc:
        log.warning("elbv2: publishing metrics of %s failed: %s", lb.arn, exc)
