"""Target health (DescribeTargetHealth) and traffic counters (CloudWatch) from a balancer's runtime API."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from onebox.host.loadbalancer import runtime_api
from onebox.host.loadbalancer.paths import BalancerPaths
from onebox.host.loadbalancer.process import read_pending, write_pending

_BACKEND_PREFIX = "tg_"
_CHECK_PREFIX = "hc_"
_FRONTEND_PREFIX = "listener_"
_FALLBACK_SUFFIX = ".failopen"
_TIMEOUTS = ("L4TOUT", "L6TOUT", "L7TOUT")


@dataclass(frozen=True)
class TargetHealth:
    """AWS's TargetHealth: State, Reason, Description (reason and description None when healthy)."""

    state: str  # initial | healthy | unhealthy | draining | unavailable
    reason: str | None = None
    description: str | None = None


def target_health(row: dict[str, str]) -> TargetHealth:
    """One server row of `show stat` as AWS's target health."""
    status = row.get("status", "")
    check = row.get("check_status", "").lstrip("* ").strip()
    if status.startswith("MAINT"):
        return TargetHealth(
            "draining", "Target.DeregistrationInProgress", "Target deregistration is in progress"
        )
    if status == "no check":
        return TargetHealth("unavailable", "Target.HealthCheckDisabled", "Health checks are disabled")
    if check in ("", "INI", "UNK"):
        return TargetHealth("initial", "Elb.InitialHealthChecking", "Initial health checks in progress")
    if status.startswith("UP") or status in ("NOLB", "DRAIN"):
        return TargetHealth("healthy")
    if check == "L7STS":
        code = row.get("check_code") or "?"
        return TargetHealth(
            "unhealthy", "Target.ResponseCodeMismatch", f"Health checks failed with these codes: [{code}]"
        )
    if check in _TIMEOUTS:
        return TargetHealth("unhealthy", "Target.Timeout", "Request timed out")
    return TargetHealth("unhealthy", "Target.FailedHealthChecks", "Health checks failed")


_PASSED = ("L4OK", "L6OK", "L7OK", "L7OKC")


async def health(paths: BalancerPaths) -> dict[str, dict[str, TargetHealth]]:
    rows = await runtime_api.show_stat(paths.stats_socket)
    pending = read_pending(paths)
    settled: set[str] = set()
    checks: dict[tuple[str, str], dict[str, str]] = {}
    for row in rows:
        proxy, server = row["pxname"], row["svname"]
        if proxy.startswith(_CHECK_PREFIX) and server not in ("BACKEND", "FRONTEND"):
            group_key = proxy[len(_CHECK_PREFIX) :].rsplit(".", 1)[0]
            checks[(group_key, server)] = row
    result: dict[str, dict[str, TargetHealth]] = {}
    for row in rows:
        proxy, server = row["pxname"], row["svname"]
        if not proxy.startswith(_BACKEND_PREFIX):
            continue
        key = proxy[len(_BACKEND_PREFIX) :]
        group = result.setdefault(key, {})
        if server in ("BACKEND", "FRONTEND") or server.endswith(_FALLBACK_SUFFIX):
            continue
        check = checks.get((key, server))
        if check is None or row.get("status", "").startswith("MAINT"):
            group[server] = target_health(row)  # draining, or health checks disabled
            continue
        health = target_health(check)
        name = f"{check['pxname']}/{server}"
        if name in pending:
            last = check.get("check_status", "").lstrip("* ").strip()
            since_change = _int(check, "lastchg")
            if health.state == "unhealthy" and (last in _PASSED or since_change < pending[name]):
                # A new target on its way to a threshold: AWS says initial until it reaches one.
                health = TargetHealth(
                    "initial", "Elb.InitialHealthChecking", "Initial health checks in progress"
                )
            elif health.state in ("healthy", "unhealthy"):
                settled.add(name)
        group[server] = health
    if settled:
        write_pending(paths, {k: v for k, v in pending.items() if k not in settled})
    return result


@dataclass
class Counters:
    """Cumulative counters since the HAProxy worker started (a reload starts them again at zero:
    consumers take differences and treat a decrease as a restart)."""

    requests: int = 0
    responses: dict[str, int] = field(default_factory=dict)  # "1xx".."5xx", "other"
    current_connections: int = 0
    total_connections: int = 0
    response_time_ms: int = 0  # average over the last 1024 requests (targets' response time)
    bytes_in: int = 0
    bytes_out: int = 0


@dataclass
class BalancerStats:
    worker_pid: int
    listeners: dict[str, Counters]  # every response clients got, by listener key
    target_groups: dict[str, Counters]  # by target group key
    targets: dict[str, dict[str, Counters]]  # responses from each target (fail-open copies included)
    elb_responses: dict[str, int]  # responses the balancer made itself (listeners minus targets)


def _int(row: dict[str, str], name: str) -> int:
    value = row.get(name) or "0"
    try:
        return int(value)
    except ValueError:
        return 0


def _counters(row: dict[str, str]) -> Counters:
    responses = {k: _int(row, f"hrsp_{k}") for k in ("1xx", "2xx", "3xx", "4xx", "5xx", "other")}
    return Counters(
        requests=_int(row, "req_tot") or sum(responses.values()),
        responses=responses,
        current_connections=_int(row, "scur"),
        total_connections=_int(row, "conn_tot") or _int(row, "stot"),
        response_time_ms=_int(row, "rtime"),
        bytes_in=_int(row, "bin"),
        bytes_out=_int(row, "bout"),
    )


def _add(into: Counters, more: Counters) -> None:
    into.requests += more.requests
    for key, value in more.responses.items():
        into.responses[key] = into.responses.get(key, 0) + value
    into.current_connections += more.current_connections
    into.total_connections += more.total_connections
    into.bytes_in += more.bytes_in
    into.bytes_out += more.bytes_out
    into.response_time_ms = max(into.response_time_ms, more.response_time_ms)


async def stats(socket_path: Path) -> BalancerStats:
    pid = await runtime_api.worker_pid(socket_path)
    rows = await runtime_api.show_stat(socket_path)
    listeners: dict[str, Counters] = {}
    groups: dict[str, Counters] = {}
    targets: dict[str, dict[str, Counters]] = {}
    for row in rows:
        proxy, server = row["pxname"], row["svname"]
        if proxy.startswith(_FRONTEND_PREFIX) and server == "FRONTEND":
            listeners[proxy[len(_FRONTEND_PREFIX) :]] = _counters(row)
        elif proxy.startswith(_BACKEND_PREFIX):
            key = proxy[len(_BACKEND_PREFIX) :]
            if server == "BACKEND":
                groups[key] = _counters(row)
            elif server != "FRONTEND":
                name = server.removesuffix(_FALLBACK_SUFFIX)
                per_group = targets.setdefault(key, {})
                if name in per_group:
                    _add(per_group[name], _counters(row))
                else:
                    per_group[name] = _counters(row)
    from_targets: dict[str, int] = {}
    for per_group in targets.values():
        for counters in per_group.values():
            for code, n in counters.responses.items():
                from_targets[code] = from_targets.get(code, 0) + n
    elb: dict[str, int] = {}
    for counters in listeners.values():
        for code, n in counters.responses.items():
            elb[code] = elb.get(code, 0) + n
    elb_responses = {code: max(n - from_targets.get(code, 0), 0) for code, n in elb.items()}
    return BalancerStats(pid, listeners, groups, targets, elb_responses)
