"""Target groups: create, describe, modify, delete, and their attributes (AWS's defaults and ranges).
Registered targets live in the group's record (`spec.Targets`); see targets.py."""

from __future__ import annotations

import re
from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.services.elbv2.common import (
    ELB_TAG_RULES,
    LIMITS,
    TARGET_GROUP,
    check_name,
    get_load_balancer,
    get_many,
    get_target_group,
    new_elb_id,
    paginate,
    target_group_usage,
    tg_arn,
)
from onebox.store import AlreadyExists, Record
from onebox.store.tags import apply_tags, tags_from_list

api = ServiceApi("elbv2")

PROTOCOLS = ("HTTP", "HTTPS")
TARGET_TYPES = ("instance", "ip")

# Attributes of an ALB target group of instance or ip targets, with AWS's defaults.
DEFAULT_ATTRIBUTES: dict[str, str] = {
    "deregistration_delay.timeout_seconds": "300",
    "stickiness.enabled": "false",
    "stickiness.type": "lb_cookie",
    "stickiness.lb_cookie.duration_seconds": "86400",
    "stickiness.app_cookie.cookie_name": "",
    "stickiness.app_cookie.duration_seconds": "86400",
    "slow_start.duration_seconds": "0",
    "load_balancing.algorithm.type": "round_robin",
    "load_balancing.algorithm.anomaly_mitigation": "off",
    "load_balancing.cross_zone.enabled": "use_load_balancer_configuration",
    "target_group_health.dns_failover.minimum_healthy_targets.count": "1",
    "target_group_health.dns_failover.minimum_healthy_targets.percentage": "off",
    "target_group_health.unhealthy_state_routing.minimum_healthy_targets.count": "1",
    "target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage": "off",
}

_MATCHER = re.compile(r"^\d{3}(-\d{3})?(,\d{3}(-\d{3})?)*$")


def _int_range(params: dict[str, Any], name: str, low: int, high: int, default: int) -> int:
    value = params.get(name)
    if value is None:
        return default
    if not low <= int(value) <= high:
        raise AwsError("ValidationError", f"{name} must be between {low} and {high}")
    return int(value)


def check_matcher(code: str) -> str:
    """HttpCode: 200-499 as a value, a comma list or a range ("200", "200,202", "200-299")."""
    if not _MATCHER.match(code or ""):
        raise AwsError("ValidationError", f"Health check matcher HTTP code '{code}' is not valid")
    for part in code.split(","):
        low, _, high = part.partition("-")
        if not 200 <= int(low) <= 499 or (high and not int(low) <= int(high) <= 499):
            raise AwsError(
                "InvalidConfigurationRequest",
                f"Health check matcher HTTP code '{code}' must be within '200-499'",
            )
    return code


def health_check(params: dict[str, Any], protocol: str, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """The health-check settings of a create (defaults from AWS) or modify (defaults from `base`)."""
    base = base or {
        "HealthCheckProtocol": protocol,
        "HealthCheckPort": "traffic-port",
        "HealthCheckEnabled": True,
        "HealthCheckPath": "/",
        "HealthCheckIntervalSeconds": 30,
        "HealthCheckTimeoutSeconds": 5,
        "HealthyThresholdCount": 5,
        "UnhealthyThresholdCount": 2,
        "Matcher": {"HttpCode": "200"},
    }
    check = dict(base)
    hc_protocol = params.get("HealthCheckProtocol")
    if hc_protocol:
        if hc_protocol not in PROTOCOLS:
            raise AwsError(
                "ValidationError",
                f"Health check protocol '{hc_protocol}' is not supported; use HTTP or HTTPS",
            )
        check["HealthCheckProtocol"] = hc_protocol
    port = params.get("HealthCheckPort")
    if port:
        if port != "traffic-port" and not (port.isdigit() and 1 <= int(port) <= 65535):
            raise AwsError(
                "ValidationError", "Health check port must be 'traffic-port' or between 1 and 65535"
            )
        check["HealthCheckPort"] = port
    if params.get("HealthCheckEnabled") is not None:
        check["HealthCheckEnabled"] = bool(params["HealthCheckEnabled"])
    path = params.get("HealthCheckPath")
    if path:
        if not path.startswith("/") or len(path) > 1024:
            raise AwsError(
                "ValidationError", "Health check path must begin with '/' and be at most 1024 characters long"
            )
        check["HealthCheckPath"] = path
    check["HealthCheckIntervalSeconds"] = _int_range(
        params, "HealthCheckIntervalSeconds", 5, 300, check["HealthCheckIntervalSeconds"]
    )
    check["HealthCheckTimeoutSeconds"] = _int_range(
        params, "HealthCheckTimeoutSeconds", 2, 120, check["HealthCheckTimeoutSeconds"]
    )
    check["HealthyThresholdCount"] = _int_range(
        params, "HealthyThresholdCount", 2, 10, check["HealthyThresholdCount"]
    )
    check["UnhealthyThresholdCount"] = _int_range(
        params, "UnhealthyThresholdCount", 2, 10, check["UnhealthyThresholdCount"]
    )
    matcher = params.get("Matcher")
    if matcher is not None:
        if matcher.get("GrpcCode"):
            raise AwsError("ValidationError", "A gRPC matcher is only valid for gRPC target groups")
        check["Matcher"] = {"HttpCode": check_matcher(matcher.get("HttpCode") or "")}
    if check["HealthCheckTimeoutSeconds"] >= check["HealthCheckIntervalSeconds"]:
        raise AwsError(
            "ValidationError",
            f"Health check timeout '{check['HealthCheckTimeoutSeconds']}' must be smaller than the interval "
            f"'{check['HealthCheckIntervalSeconds']}'",
        )
    return check


def _vpc(ctx: RequestContext, vpc_id: str) -> None:
    from onebox.services.ec2 import vpc_records

    store = ctx.runtime.store
    if (
        not re.match(r"^vpc-[0-9a-f]{8,17}$", vpc_id)
        or store.get(vpc_records.VPC, ctx.account_id, ctx.region, vpc_id) is None
    ):
        raise AwsError("ValidationError", f"The VPC ID '{vpc_id}' is not found")


@api.operation("CreateTargetGroup")
def create_target_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = check_name(params.get("Name") or "", "Target group")
    target_type = params.get("TargetType") or "instance"  # empty strings count as absent
    if target_type not in TARGET_TYPES:
        raise AwsError(
            "ValidationError", f"Target type '{target_type}' is not supported by onebox; use instance or ip"
        )
    protocol = params.get("Protocol")
    port = params.get("Port")
    vpc_id = params.get("VpcId")
    if protocol is None:
        raise AwsError("ValidationError", "A protocol must be specified")
    if protocol not in PROTOCOLS:
        raise AwsError(
            "ValidationError",
            f"Protocol '{protocol}' is not supported for Application Load Balancer target groups",
        )
    if port is None:
        raise AwsError("ValidationError", "A port must be specified")
    if not 1 <= int(port) <= 65535:
        raise AwsError("ValidationError", "Port must be between 1 and 65535")
    if not vpc_id:
        raise AwsError("ValidationError", "A VPC ID must be specified")
    version = params.get("ProtocolVersion") or None
    if version not in (None, "HTTP1", "HTTP2", "GRPC"):
        raise AwsError("ValidationError", f"Protocol version '{version}' must be one of HTTP1, HTTP2, GRPC")
    if params.get("IpAddressType") not in (None, "", "ipv4"):
        raise AwsError("ValidationError", "onebox target groups support only the ipv4 address type")
    _vpc(ctx, vpc_id)
    check = health_check(params, protocol)
    tags = apply_tags({}, tags_from_list(params.get("Tags")), ELB_TAG_RULES)
    spec = {
        "Protocol": protocol,
        "Port": int(port),
        "VpcId": vpc_id,
        "TargetType": target_type,
        "ProtocolVersion": params.get("ProtocolVersion") or "HTTP1",
        "IpAddressType": "ipv4",
        **check,
        "Attributes": dict(DEFAULT_ATTRIBUTES),
        "Targets": [],
    }
    store = ctx.runtime.store
    with store.transaction():
        existing = store.get_by_name(TARGET_GROUP, ctx.account_id, ctx.region, name)
        if existing is not None:
            same = all(
                existing.spec.get(k) == v for k, v in spec.items() if k not in ("Targets", "Attributes")
            )
            if not same:
                raise AwsError(
                    "DuplicateTargetGroupName",
                    f"A target group with the same name '{name}' exists, but with different settings",
                )
            return {"TargetGroups": [target_group_view(ctx, existing)]}
        if store.count(TARGET_GROUP, ctx.account_id, ctx.region) >= LIMITS["target-groups"]:
            raise AwsError("TooManyTargetGroups", "You have reached the maximum number of target groups")
        group_id = new_elb_id()
        try:
            record = store.create(
                TARGET_GROUP,
                ctx.account_id,
                ctx.region,
                group_id,
                arn=tg_arn(ctx.region, ctx.account_id, name, group_id),
                name=name,
                spec=spec,
                tags=tags,
            )
        except AlreadyExists:
            raise AwsError(
                "DuplicateTargetGroupName", f"A target group with the same name '{name}' exists"
            ) from None
    return {"TargetGroups": [target_group_view(ctx, record)]}


def target_group_view(
    ctx: RequestContext, record: Record, usage: dict[str, set[str]] | None = None
) -> dict[str, Any]:
    from onebox.services.elbv2.common import LOAD_BALANCER

    spec = record.spec
    if usage is None:
        usage = target_group_usage(ctx.runtime.store, record.account, record.region)
    lb_arns = []
    for lb_id in sorted(usage.get(record.arn, ())):
        lb = ctx.runtime.store.get(LOAD_BALANCER, record.account, record.region, lb_id)
        if lb is not None:
            lb_arns.append(lb.arn)
    return {
        "TargetGroupArn": record.arn,
        "TargetGroupName": record.name,
        "Protocol": spec["Protocol"],
        "Port": spec["Port"],
        "VpcId": spec["VpcId"],
        "HealthCheckProtocol": spec["HealthCheckProtocol"],
        "HealthCheckPort": spec["HealthCheckPort"],
        "HealthCheckEnabled": spec["HealthCheckEnabled"],
        "HealthCheckIntervalSeconds": spec["HealthCheckIntervalSeconds"],
        "HealthCheckTimeoutSeconds": spec["HealthCheckTimeoutSeconds"],
        "HealthyThresholdCount": spec["HealthyThresholdCount"],
        "UnhealthyThresholdCount": spec["UnhealthyThresholdCount"],
        "HealthCheckPath": spec["HealthCheckPath"],
        "Matcher": spec["Matcher"],
        "LoadBalancerArns": lb_arns,
        "TargetType": spec["TargetType"],
        "ProtocolVersion": spec["ProtocolVersion"],
        "IpAddressType": spec["IpAddressType"],
    }


@api.operation("DescribeTargetGroups")
def describe_target_groups(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    arns = params.get("TargetGroupArns") or []
    names = params.get("Names") or []
    lb_arn = params.get("LoadBalancerArn")
    if sum(bool(x) for x in (arns, names, lb_arn)) > 1:
        raise AwsError(
            "ValidationError",
            "Target group names, target group ARNs, and a load balancer ARN cannot be specified at the same time",
        )
    usage = target_group_usage(store, ctx.account_id, ctx.region)
    if arns:
        records = get_many(store, ctx.account_id, ctx.region, arns, "targetgroup/")
    elif names:
        records = []
        for name in dict.fromkeys(names):
            record = store.get_by_name(TARGET_GROUP, ctx.account_id, ctx.region, name)
            if record is None:
                raise AwsError("TargetGroupNotFound", "One or more target groups not found")
            records.append(record)
    else:
        records = store.list(TARGET_GROUP, ctx.account_id, ctx.region)
        if lb_arn:
            lb = get_load_balancer(store, ctx.account_id, ctx.region, lb_arn)
            records = [r for r in records if lb.id in usage.get(r.arn, set())]
    page, marker = paginate(
        store, records, params, f"elbv2:DescribeTargetGroups:{ctx.account_id}:{ctx.region}"
    )
    result: dict[str, Any] = {"TargetGroups": [target_group_view(ctx, r, usage) for r in page]}
    if marker:
        result["NextMarker"] = marker
    return result


@api.operation("ModifyTargetGroup")
def modify_target_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    with store.transaction():
        record = get_target_group(store, ctx.account_id, ctx.region, params.get("TargetGroupArn") or "")
        check = health_check(params, record.spec["Protocol"], {k: record.spec[k] for k in _HEALTH_KEYS})
        record = store.update(record, spec={**record.spec, **check})
    return {"TargetGroups": [target_group_view(ctx, record)]}


_HEALTH_KEYS = (
    "HealthCheckProtocol",
    "HealthCheckPort",
    "HealthCheckEnabled",
    "HealthCheckPath",
    "HealthCheckIntervalSeconds",
    "HealthCheckTimeoutSeconds",
    "HealthyThresholdCount",
    "UnhealthyThresholdCount",
    "Matcher",
)


@api.operation("DeleteTargetGroup")
def delete_target_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    with store.transaction():
        record = get_target_group(store, ctx.account_id, ctx.region, params.get("TargetGroupArn") or "")
        if target_group_usage(store, ctx.account_id, ctx.region).get(record.arn):
            raise AwsError(
                "ResourceInUse", f"Target group '{record.arn}' is currently in use by a listener or a rule"
            )
        store.delete(record)
    return {}


# -- attributes --------------------------------------------------------------------------------------


def _check_attribute(key: str, value: str, merged: dict[str, str]) -> None:
    def integer(low: int, high: int) -> None:
        if not value.lstrip("-").isdigit() or not low <= int(value) <= high:
            raise AwsError(
                "ValidationError", f"'{key}' must be an integer between {low} and {high}, not '{value}'"
            )

    if key not in DEFAULT_ATTRIBUTES:
        raise AwsError("ValidationError", f"Target group attribute key '{key}' is not recognized")
    if key == "deregistration_delay.timeout_seconds":
        integer(0, 3600)
    elif key == "stickiness.enabled":
        if value not in ("true", "false"):
            raise AwsError("ValidationError", f"'{key}' must be 'true' or 'false'")
    elif key == "stickiness.type":
        if value not in ("lb_cookie", "app_cookie"):
            raise AwsError("ValidationError", f"'{key}' must be one of 'lb_cookie', 'app_cookie'")
    elif key in ("stickiness.lb_cookie.duration_seconds", "stickiness.app_cookie.duration_seconds"):
        integer(1, 604800)
    elif key == "slow_start.duration_seconds":
        if value != "0":
            integer(30, 900)
    elif key == "load_balancing.algorithm.type":
        if value not in ("round_robin", "least_outstanding_requests"):
            raise AwsError(
                "ValidationError", f"'{key}' must be one of 'round_robin', 'least_outstanding_requests'"
            )
    elif key == "stickiness.app_cookie.cookie_name":
        if value.startswith(("AWSALB", "AWSALBAPP", "AWSALBTG")):
            raise AwsError("ValidationError", "App cookie names cannot start with 'AWSALB'")


@api.operation("ModifyTargetGroupAttributes")
def modify_target_group_attributes(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    with store.transaction():
        record = get_target_group(store, ctx.account_id, ctx.region, params.get("TargetGroupArn") or "")
        changes = {str(a.get("Key") or ""): str(a.get("Value") or "") for a in params.get("Attributes") or []}
        merged = {**record.spec["Attributes"], **changes}
        for key, value in changes.items():
            _check_attribute(key, value, merged)
        if merged["stickiness.type"] == "app_cookie" and merged["stickiness.enabled"] == "true":
            if not merged["stickiness.app_cookie.cookie_name"]:
                raise AwsError("ValidationError", "An app cookie name is required for app_cookie stickiness")
        if merged["slow_start.duration_seconds"] != "0" and (
            merged["load_balancing.algorithm.type"] == "least_outstanding_requests"
        ):
            raise AwsError(
                "InvalidConfigurationRequest",
                "Slow start cannot be enabled with the least outstanding requests algorithm",
            )
        store.update(record, spec={**record.spec, "Attributes": merged})
    return {"Attributes": [{"Key": k, "Value": v} for k, v in merged.items()]}


@api.operation("DescribeTargetGroupAttributes")
def describe_target_group_attributes(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    record = get_target_group(
        ctx.runtime.store, ctx.account_id, ctx.region, params.get("TargetGroupArn") or ""
    )
    return {"Attributes": [{"Key": k, "Value": v} for k, v in record.spec["Attributes"].items()]}


def attribute(record: Record, key: str) -> str:
    return str(record.spec.get("Attributes", {}).get(key, DEFAULT_ATTRIBUTES[key]))
