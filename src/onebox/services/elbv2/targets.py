"""Registered targets and their health: RegisterTargets, DeregisterTargets, DescribeTargetHealth, and the
same operations as plain functions for other services (Auto Scaling attaches its instances here):

    register_targets(runtime, account, region, target_group_arn, [(id, port or None), ...])
    deregister_targets(runtime, account, region, target_group_arn, [(id, port or None), ...])
        starts draining: the target shows `draining` for the group's deregistration delay, then is gone
    target_states(runtime, account, region, target_group_arn) -> {target id: AWS State}
    check_target_group(runtime, account, region, target_group_arn)
        AwsError ValidationError (not an ARN) or TargetGroupNotFound, as Auto Scaling surfaces them

Targets live in the group's record: `spec.Targets` is a list of {Id, Port, AvailabilityZone,
RegisteredAt, DrainingSince}. Health observed by the controller is in `status.Health`, keyed by
`common.target_key(id, port)`: {State, Reason, Description}.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.runtime import Runtime
from onebox.services.elbv2.common import (
    LIMITS,
    get_target_group,
    load_balancers_of_group,
    target_key,
)
from onebox.store import Record, Store

api = ServiceApi("elbv2")

INSTANCE = "ec2:instance"
_PRIVATE = tuple(
    ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)
# onebox's own extension: targets on the host's loopback (simple local servers in tests and demos).
_LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")

TargetSpec = tuple[str, int | None]

REASONS = {
    "Elb.RegistrationInProgress": "Target registration is in progress",
    "Elb.InitialHealthChecking": "Initial health checks in progress",
    "Target.ResponseCodeMismatch": "Health checks failed",
    "Target.Timeout": "Request timed out",
    "Target.FailedHealthChecks": "Health checks failed",
    "Target.NotRegistered": "Target is not registered to the target group",
    "Target.NotInUse": "Target group is not configured to receive traffic from the load balancer",
    "Target.DeregistrationInProgress": "Target deregistration is in progress",
    "Target.InvalidState": "Target is in the stopped state",
    "Target.HealthCheckDisabled": "Health checks are disabled",
}


# -- the functions other services call ---------------------------------------------------------------


def check_target_group(runtime: Runtime, account: str, region: str, arn: str) -> None:
    get_target_group(runtime.store, account, region, arn)


def register_targets(
    runtime: Runtime, account: str, region: str, target_group_arn: str, targets: list[TargetSpec]
) -> None:
    store = runtime.store
    now = runtime.clock.time()
    with store.transaction():
        group = get_target_group(store, account, region, target_group_arn)
        wanted = _resolve(store, group, [(i, p, None) for i, p in targets])
        _store_registration(store, group, wanted, now)


def deregister_targets(
    runtime: Runtime, account: str, region: str, target_group_arn: str, targets: list[TargetSpec]
) -> None:
    store = runtime.store
    now = runtime.clock.time()
    with store.transaction():
        group = get_target_group(store, account, region, target_group_arn)
        _store_deregistration(store, group, targets, now)


def target_states(runtime: Runtime, account: str, region: str, target_group_arn: str) -> dict[str, str]:
    group = get_target_group(runtime.store, account, region, target_group_arn)
    return {item["Target"]["Id"]: item["TargetHealth"]["State"] for item in describe_health(runtime, group)}


# -- validation and storage --------------------------------------------------------------------------


def _port(group: Record, port: int | None) -> int:
    value = group.spec["Port"] if port is None else int(port)
    if not 1 <= value <= 65535:
        raise AwsError("ValidationError", "Target port must be between 1 and 65535")
    return value


def _resolve(
    store: Store, group: Record, targets: Iterable[tuple[str, int | None, str | None]]
) -> list[dict[str, Any]]:
    """Check each (id, port, zone) against the group's target type and VPC; InvalidTarget otherwise."""
    items = list(targets)
    if not items:
        raise AwsError("ValidationError", "At least one target must be specified")
    resolved = []
    if group.spec["TargetType"] == "instance":
        resolved = _resolve_instances(store, group, items)
    else:
        resolved = _resolve_ips(store, group, items)
    return resolved


def _resolve_instances(
    store: Store, group: Record, items: list[tuple[str, int | None, str | None]]
) -> list[dict[str, Any]]:
    bad_ids = [i for i, _, _ in items if not i.startswith("i-")]
    if bad_ids:
        raise AwsError(
            "ValidationError", f"The following targets are not valid instance IDs: {_quoted(bad_ids)}"
        )
    found = {r.id: r for r in store.list(INSTANCE, group.account, group.region, ids=[i for i, _, _ in items])}
    missing = [i for i, _, _ in items if i not in found]
    if missing:
        raise AwsError("InvalidTarget", f"The following targets are not valid instances: {_quoted(missing)}")
    gone = [i for i, _, _ in items if found[i].status.get("State") in ("terminated", "shutting-down")]
    if gone:
        raise AwsError(
            "InvalidTarget",
            f"The following targets are not in a running state and cannot be registered: {_quoted(gone)}",
        )
    # Instances without a VPC (the process driver's loopback instances) fit any group.
    outside = [
        i
        for i, _, _ in items
        if found[i].spec.get("VpcId") and found[i].spec.get("VpcId") != group.spec["VpcId"]
    ]
    if outside:
        raise AwsError(
            "InvalidTarget",
            f"The following targets are not in the target group VPC '{group.spec['VpcId']}': {_quoted(outside)}",
        )
    for _, _, zone in items:
        if zone is not None:
            raise AwsError("ValidationError", "An Availability Zone cannot be specified for instance targets")
    return [
        {"Id": i, "Port": _port(group, p), "AvailabilityZone": found[i].spec.get("AvailabilityZone")}
        for i, p, _ in items
    ]


def _resolve_ips(
    store: Store, group: Record, items: list[tuple[str, int | None, str | None]]
) -> list[dict[str, Any]]:
    from onebox.services.ec2 import vpc_records

    vpc = store.get(vpc_records.VPC, group.account, group.region, group.spec["VpcId"])
    vpc_block = ipaddress.IPv4Network(vpc.spec["CidrBlock"]) if vpc is not None else None
    subnets = [
        (ipaddress.IPv4Network(s.spec["CidrBlock"]), s.spec["AvailabilityZone"])
        for s in store.list(vpc_records.SUBNET, group.account, group.region)
        if s.spec["VpcId"] == group.spec["VpcId"]
    ]
    resolved = []
    for target_id, port, zone in items:
        try:
            address = ipaddress.IPv4Address(target_id)
        except ValueError:
            raise AwsError(
                "ValidationError", f"The IP address '{target_id}' is not a valid IPv4 address"
            ) from None
        if vpc_block is not None and address in vpc_block:
            if zone == "all":
                raise AwsError(
                    "ValidationError",
                    f"The IP address '{target_id}' is in the target group's VPC; 'all' is only for addresses "
                    "outside it",
                )
            in_subnet = next((z for block, z in subnets if address in block), None)
            zone = zone or in_subnet
        elif address in _LOOPBACK:
            zone = zone or "all"
        elif any(address in block for block in _PRIVATE):
            if zone != "all":
                raise AwsError(
                    "ValidationError",
                    f"The IP address '{target_id}' is outside the VPC; specify 'all' as its Availability Zone",
                )
        else:
            raise AwsError(
                "InvalidTarget",
                f"The IP address '{target_id}' is not in the target group VPC '{group.spec['VpcId']}' or a "
                "private address range",
            )
        resolved.append({"Id": str(address), "Port": _port(group, port), "AvailabilityZone": zone})
    return resolved


def _quoted(ids: list[str]) -> str:
    return ", ".join(f"'{i}'" for i in ids)


def live_targets(store: Store, group: Record, now: float) -> list[dict[str, Any]]:
    """The group's targets without those whose draining is over: the delay passed, or no balancer uses
    the group any more (the controller also drops them from the record, but only for groups in use)."""
    delay = int(group.spec["Attributes"].get("deregistration_delay.timeout_seconds", "300"))
    targets = group.spec["Targets"]
    if not any(t.get("DrainingSince") is not None for t in targets):
        return list(targets)
    in_use = bool(load_balancers_of_group(store, group))
    return [
        t for t in targets if t.get("DrainingSince") is None or (in_use and now < t["DrainingSince"] + delay)
    ]


def _store_registration(store: Store, group: Record, wanted: list[dict[str, Any]], now: float) -> None:
    current = [dict(t) for t in live_targets(store, group, now)]
    index = {(t["Id"], t["Port"]): t for t in current}
    for target in wanted:
        existing = index.get((target["Id"], target["Port"]))
        if existing is not None:
            if existing.get("DrainingSince") is not None:  # registered again while draining
                existing["DrainingSince"] = None
                existing["RegisteredAt"] = now
            continue
        entry = {**target, "RegisteredAt": now, "DrainingSince": None}
        current.append(entry)
        index[(target["Id"], target["Port"])] = entry
    if len(current) > LIMITS["targets-per-application-load-balancer"]:
        raise AwsError("TooManyTargets", "You've reached the limit on the number of targets")
    store.update(group, spec={**group.spec, "Targets": current})


def _store_deregistration(store: Store, group: Record, targets: list[TargetSpec], now: float) -> None:
    if not targets:
        raise AwsError("ValidationError", "At least one target must be specified")
    current = [dict(t) for t in live_targets(store, group, now)]
    index = {(t["Id"], t["Port"]): t for t in current}
    # A target that is not registered (for instance, named without its port, which then means the
    # group's port) is ignored: AWS answers 200 and changes nothing.
    delay = int(group.spec["Attributes"].get("deregistration_delay.timeout_seconds", "300"))
    in_use = bool(load_balancers_of_group(store, group))
    gone: set[tuple[str, int]] = set()
    for target_id, port in targets:
        key = (target_id, _port(group, port))
        if key not in index:
            continue
        if not in_use or delay == 0:
            gone.add(key)  # nothing routes to it: deregistration completes at once
        elif index[key].get("DrainingSince") is None:
            index[key]["DrainingSince"] = now
    remaining = [t for t in current if (t["Id"], t["Port"]) not in gone]
    store.update(group, spec={**group.spec, "Targets": remaining})


def expire_draining(store: Store, group: Record, now: float) -> Record:
    """Drop targets whose deregistration delay has passed (the controller calls this)."""
    delay = int(group.spec["Attributes"].get("deregistration_delay.timeout_seconds", "300"))
    targets = group.spec["Targets"]
    remaining = [t for t in targets if t.get("DrainingSince") is None or now < t["DrainingSince"] + delay]
    if len(remaining) == len(targets):
        return group
    return store.update(group, spec={**group.spec, "Targets": remaining})


def next_drain_deadline(group: Record) -> float | None:
    delay = int(group.spec["Attributes"].get("deregistration_delay.timeout_seconds", "300"))
    deadlines = [
        t["DrainingSince"] + delay for t in group.spec["Targets"] if t.get("DrainingSince") is not None
    ]
    return min(deadlines) if deadlines else None


# -- health ------------------------------------------------------------------------------------------


def _health(state: str, reason: str | None = None, description: str | None = None) -> dict[str, str]:
    health = {"State": state}
    if reason:
        health["Reason"] = reason
        health["Description"] = description or REASONS.get(reason, "")
    return health


def target_health(
    runtime: Runtime, group: Record, target: dict[str, Any], in_use: bool, instances: dict[str, Record]
) -> dict[str, str]:
    if target.get("DrainingSince") is not None:
        return _health("draining", "Target.DeregistrationInProgress")
    if not in_use:
        return _health("unused", "Target.NotInUse")
    if group.spec["TargetType"] == "instance":
        instance = instances.get(target["Id"])
        state = instance.status.get("State", "pending") if instance is not None else "terminated"
        if state != "running":
            return _health("unused", "Target.InvalidState", f"Target is in the {state} state")
    if not group.spec["HealthCheckEnabled"]:
        return _health("unavailable", "Target.HealthCheckDisabled")
    observed = (group.status.get("Health") or {}).get(target_key(target["Id"], target["Port"]))
    if not observed:
        return _health("initial", "Elb.RegistrationInProgress")
    if observed.get("RegisteredAt", 0) < target.get("RegisteredAt", 0):
        return _health("initial", "Elb.RegistrationInProgress")  # an older registration's result
    return _health(observed["State"], observed.get("Reason"), observed.get("Description"))


def describe_health(
    runtime: Runtime, group: Record, requested: list[tuple[str, int | None]] | None = None
) -> list[dict[str, Any]]:
    store = runtime.store
    in_use = bool(load_balancers_of_group(store, group))
    registered = live_targets(store, group, runtime.clock.time())
    instances: dict[str, Record] = {}
    if group.spec["TargetType"] == "instance":
        ids = [t["Id"] for t in registered] + [i for i, _ in requested or []]
        instances = {r.id: r for r in store.list(INSTANCE, group.account, group.region, ids=ids)}
    result = []
    if requested is None:
        chosen = [(t, t) for t in registered]
    else:
        index = {(t["Id"], t["Port"]): t for t in registered}
        chosen = []
        for target_id, port in requested:
            key = (target_id, group.spec["Port"] if port is None else int(port))
            found = index.get(key)
            chosen.append((found, {"Id": target_id, "Port": found["Port"] if found else key[1]}))
    for found, shown in chosen:
        target_view: dict[str, Any] = {"Id": shown["Id"], "Port": shown["Port"]}
        if found is not None and found.get("AvailabilityZone"):
            target_view["AvailabilityZone"] = found["AvailabilityZone"]
        if found is None:
            health = _health("unused", "Target.NotRegistered")
        else:
            health = target_health(runtime, group, found, in_use, instances)
        hc_port = group.spec["HealthCheckPort"]
        result.append(
            {
                "Target": target_view,
                "HealthCheckPort": str(shown["Port"]) if hc_port == "traffic-port" else hc_port,
                "TargetHealth": health,
            }
        )
    return result


# -- handlers ----------------------------------------------------------------------------------------


def _targets_param(params: dict[str, Any]) -> list[dict[str, Any]]:
    targets = params.get("Targets") or []
    if not targets:
        raise AwsError("ValidationError", "At least one target must be specified")
    return targets


@api.operation("RegisterTargets")
def register_targets_handler(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    targets = _targets_param(params)
    with store.transaction():
        group = get_target_group(store, ctx.account_id, ctx.region, params.get("TargetGroupArn") or "")
        wanted = _resolve(
            store, group, [(t["Id"], t.get("Port"), t.get("AvailabilityZone")) for t in targets]
        )
        _store_registration(store, group, wanted, ctx.runtime.clock.time())
    return {}


@api.operation("DeregisterTargets")
def deregister_targets_handler(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    targets = _targets_param(params)
    with store.transaction():
        group = get_target_group(store, ctx.account_id, ctx.region, params.get("TargetGroupArn") or "")
        _store_deregistration(
            store, group, [(t["Id"], t.get("Port")) for t in targets], ctx.runtime.clock.time()
        )
    return {}


@api.operation("DescribeTargetHealth")
def describe_target_health(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    group = get_target_group(
        ctx.runtime.store, ctx.account_id, ctx.region, params.get("TargetGroupArn") or ""
    )
    requested = None
    if params.get("Targets"):
        requested = [(t["Id"], t.get("Port")) for t in params["Targets"]]
    return {"TargetHealthDescriptions": describe_health(ctx.runtime, group, requested)}
