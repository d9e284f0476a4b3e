"""Records -> `LoadBalancerSpec`, the data plane's contract (host/loadbalancer/spec.py).

Pure reads of the store, plus ACM writing a certificate's PEM file (idempotent). Instance targets resolve
to the instance's private IP; instances that are not running are not routed to.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from onebox.aws.errors import AwsError
from onebox.host.loadbalancer import spec as dp
from onebox.runtime import Runtime
from onebox.services.elbv2.common import (
    LISTENER,
    RULE,
    TARGET_GROUP,
    action_target_groups,
    data_plane_key,
    target_key,
)
from onebox.store import Record

log = logging.getLogger(__name__)

INSTANCE = "ec2:instance"


def group_key_of_arn(arn: str) -> str:
    return "tg-" + arn.rsplit("/", 1)[1]


def listener_key(listener: Record) -> str:
    return listener.id


@dataclass
class Built:
    spec: dp.LoadBalancerSpec
    groups: dict[str, Record] = field(default_factory=dict)  # data-plane group key -> record
    registered_at: dict[tuple[str, str], float] = field(default_factory=dict)  # (group key, target key)


def _action(action: dict[str, Any]) -> dp.Action:
    kind = action["Type"]
    if kind == "forward":
        config = action["ForwardConfig"]
        sticky = config.get("TargetGroupStickinessConfig") or {}
        return dp.ForwardAction(
            groups=tuple(
                dp.WeightedGroup(group_key_of_arn(g["TargetGroupArn"]), int(g["Weight"]))
                for g in config["TargetGroups"]
            ),
            group_stickiness_s=int(sticky["DurationSeconds"]) if sticky.get("Enabled") else None,
        )
    if kind == "redirect":
        config = action["RedirectConfig"]
        return dp.RedirectAction(
            protocol=config["Protocol"],
            host=config["Host"],
            port=config["Port"],
            path=config["Path"],
            query=config["Query"],
            status_code=config["StatusCode"],
        )
    config = action["FixedResponseConfig"]
    return dp.FixedResponseAction(
        status_code=int(config["StatusCode"]),
        content_type=config.get("ContentType"),
        body=config.get("MessageBody") or "",
    )


def _terminal(actions: list[dict[str, Any]]) -> dp.Action:
    return _action(actions[-1])


def _condition(condition: dict[str, Any]) -> dp.Condition:
    field_name = condition["Field"]
    if field_name == "http-header":
        config = condition["HttpHeaderConfig"]
        return dp.Condition(field_name, tuple(config["Values"]), header_name=config["HttpHeaderName"])
    if field_name == "query-string":
        pairs = tuple((p.get("Key"), p["Value"]) for p in condition["QueryStringConfig"]["Values"])
        return dp.Condition(field_name, pairs=pairs)
    key = {
        "host-header": "HostHeaderConfig",
        "path-pattern": "PathPatternConfig",
        "http-request-method": "HttpRequestMethodConfig",
        "source-ip": "SourceIpConfig",
    }[field_name]
    return dp.Condition(field_name, tuple(condition[key]["Values"]))  # type: ignore[arg-type]


def _certificates(runtime: Runtime, listener: Record) -> tuple[dp.Certificate, ...]:
    arns = [c["CertificateArn"] for c in listener.spec.get("Certificates") or []]
    arns += list(listener.spec.get("ExtraCertificates") or [])
    if not arns:
        return ()
    try:
        from onebox.services.acm.certificates import certificate_pem
    except ImportError:
        return ()
    found = []
    for arn in arns:
        try:
            path, names = certificate_pem(runtime, listener.account, listener.region, arn)
        except AwsError as error:
            log.warning("elbv2: listener %s: certificate %s unusable: %s", listener.arn, arn, error)
            continue
        found.append(dp.Certificate(pem_path=path, server_names=tuple(names), arn=arn))
    return tuple(found)


def _health_check(group: Record) -> dp.HealthCheck:
    spec = group.spec
    port = spec["HealthCheckPort"]
    return dp.HealthCheck(
        protocol=spec["HealthCheckProtocol"],
        port=None if port == "traffic-port" else int(port),
        path=spec["HealthCheckPath"],
        interval_s=int(spec["HealthCheckIntervalSeconds"]),
        timeout_s=int(spec["HealthCheckTimeoutSeconds"]),
        healthy_threshold=int(spec["HealthyThresholdCount"]),
        unhealthy_threshold=int(spec["UnhealthyThresholdCount"]),
        matcher=spec["Matcher"]["HttpCode"],
        enabled=bool(spec["HealthCheckEnabled"]),
    )


def _target_group(runtime: Runtime, group: Record, built: Built) -> dp.TargetGroup:
    attributes = group.spec["Attributes"]
    instances: dict[str, Record] = {}
    if group.spec["TargetType"] == "instance":
        ids = [t["Id"] for t in group.spec["Targets"]]
        instances = {r.id: r for r in runtime.store.list(INSTANCE, group.account, group.region, ids=ids)}
    key = group_key_of_arn(group.arn)
    targets = []
    for target in group.spec["Targets"]:
        address = target["Id"]
        if group.spec["TargetType"] == "instance":
            instance = instances.get(target["Id"])
            if instance is None or instance.status.get("State") != "running":
                continue  # stopped, stopping, pending or gone: not routed (Target.InvalidState)
            address = instance.spec.get("PrivateIpAddress") or ""
            if not address:
                continue
        tkey = target_key(target["Id"], target["Port"])
        built.registered_at[(key, tkey)] = float(target.get("RegisteredAt") or 0)
        zone = target.get("AvailabilityZone")
        zone = zone if zone and zone != "all" else None
        targets.append(
            dp.Target(
                key=tkey,
                target_id=target["Id"],
                address=address,
                port=int(target["Port"]),
                availability_zone=zone,
                draining=target.get("DrainingSince") is not None,
            )
        )
    stickiness = None
    if attributes.get("stickiness.enabled") == "true" and attributes.get("stickiness.type") == "lb_cookie":
        stickiness = dp.Stickiness(duration_s=int(attributes["stickiness.lb_cookie.duration_seconds"]))
    algorithm = attributes.get("load_balancing.algorithm.type", "round_robin")
    return dp.TargetGroup(
        key=key,
        arn=group.arn,
        name=group.name or key,
        protocol=group.spec["Protocol"],
        targets=tuple(targets),
        health_check=_health_check(group),
        algorithm=algorithm,  # type: ignore[arg-type]
        stickiness=stickiness,
        slow_start_s=int(attributes.get("slow_start.duration_seconds", "0")),
        deregistration_delay_s=int(attributes.get("deregistration_delay.timeout_seconds", "300")),
    )


def build(runtime: Runtime, lb: Record, vpc_addresses: tuple[dp.VpcAddress, ...] = ()) -> Built:
    """The balancer's spec; `vpc_addresses` are its interfaces already plugged into their subnets."""
    store = runtime.store
    listeners = sorted(
        (r for r in store.list(LISTENER, lb.account, lb.region) if r.spec["LoadBalancerId"] == lb.id),
        key=lambda r: r.spec["Port"],
    )
    rules = [r for r in store.list(RULE, lb.account, lb.region) if r.spec["LoadBalancerId"] == lb.id]
    groups_by_arn = {g.arn: g for g in store.list(TARGET_GROUP, lb.account, lb.region)}
    built = Built(spec=dp.LoadBalancerSpec(key="", arn="", name="", dns_name="", address=""))
    used: list[str] = []
    dp_listeners = []
    for listener in listeners:
        own_rules = [r for r in rules if r.spec["ListenerId"] == listener.id and not r.spec.get("IsDefault")]
        for actions in [listener.spec["DefaultActions"], *(r.spec["Actions"] for r in own_rules)]:
            used += [a for a in action_target_groups(actions) if a in groups_by_arn]
        certificates = _certificates(runtime, listener)
        if listener.spec["Protocol"] == "HTTPS" and not certificates:
            log.warning("elbv2: HTTPS listener %s has no usable certificate; not served", listener.arn)
            continue
        dp_listeners.append(
            dp.Listener(
                key=listener_key(listener),
                port=int(listener.spec["Port"]),
                protocol=listener.spec["Protocol"],
                default_action=_terminal(listener.spec["DefaultActions"]),
                rules=tuple(
                    dp.Rule(
                        priority=int(r.spec["Priority"]),
                        conditions=tuple(_condition(c) for c in r.spec["Conditions"]),
                        action=_terminal(r.spec["Actions"]),
                    )
                    for r in sorted(own_rules, key=lambda r: int(r.spec["Priority"]))
                ),
                certificates=certificates,
            )
        )
    dp_groups = []
    for arn in dict.fromkeys(used):
        group = groups_by_arn[arn]
        built.groups[group_key_of_arn(arn)] = group
        dp_groups.append(_target_group(runtime, group, built))
    built.spec = dp.LoadBalancerSpec(
        key=data_plane_key(lb.id),
        arn=lb.arn,
        name=lb.name or lb.id,
        dns_name=lb.spec["DNSName"],
        address=lb.spec["Address"],
        listeners=tuple(dp_listeners),
        target_groups=tuple(dp_groups),
        idle_timeout_s=int(lb.spec["Attributes"].get("idle_timeout.timeout_seconds", "60")),
        internal=lb.spec["Scheme"] == "internal",
        vpc_addresses=vpc_addresses,
        access_log=lb.spec["Attributes"].get("access_logs.s3.enabled") == "true",
    )
    return built
