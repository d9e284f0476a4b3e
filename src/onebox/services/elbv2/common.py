"""Shared by the elbv2 handlers and controller: record kinds, ARNs, lookups with ELB's error codes,
names, addresses and the small helpers every resource module needs."""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Iterable
from typing import Any

from onebox.aws.errors import AwsError
from onebox.runtime import Runtime
from onebox.store import Record, Store
from onebox.store.ids import arn, parse_arn, random_hex
from onebox.store.tags import TagRules

LOAD_BALANCER = "elbv2:load-balancer"
TARGET_GROUP = "elbv2:target-group"
LISTENER = "elbv2:listener"
RULE = "elbv2:rule"
# What the controller still has to take down after DeleteLoadBalancer removed the records at once
# (AWS shows a deleted balancer as gone immediately; its name is free again).
TEARDOWN = "elbv2:teardown"

SERVICE = "elasticloadbalancing"
ELB_TAG_RULES = TagRules(code="ValidationError", limit_code="TooManyTags", max_tags=50)

# Route 53 hosted zone of ALB DNS names per region (AWS's published values).
HOSTED_ZONES = {
    "us-east-1": "Z35SXDOTRQ7X7K",
    "us-east-2": "Z3AADJGX6KTTL2",
    "us-west-1": "Z368ELLRRE2KJ0",
    "us-west-2": "Z1H1FL5HABSF5",
    "eu-west-1": "Z32O12XQLNTSW2",
    "eu-central-1": "Z215JYRZR1TBD5",
    "ap-southeast-1": "Z1LMS91P8CMLE5",
    "ap-northeast-1": "Z14GRHDCWA56QT",
}

# AWS quotas (defaults) for Application Load Balancers.
LIMITS = {
    "application-load-balancers": 50,
    "target-groups": 3000,
    "targets-per-application-load-balancer": 1000,
    "listeners-per-application-load-balancer": 50,
    "rules-per-application-load-balancer": 100,
    "certificates-per-application-load-balancer": 25,
    "target-groups-per-action-on-application-load-balancer": 5,
    "target-groups-per-application-load-balancer": 100,
    "condition-values-per-alb-rule": 5,
    "condition-wildcards-per-alb-rule": 5,
}

_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$")


def new_elb_id() -> str:
    return random_hex(16)


def lb_arn(region: str, account: str, name: str, lb_id: str) -> str:
    return arn(SERVICE, region, account, f"loadbalancer/app/{name}/{lb_id}")


def tg_arn(region: str, account: str, name: str, tg_id: str) -> str:
    return arn(SERVICE, region, account, f"targetgroup/{name}/{tg_id}")


def listener_arn(lb: Record, listener_id: str) -> str:
    return arn(SERVICE, lb.region, lb.account, f"listener/app/{lb.name}/{lb.id}/{listener_id}")


def rule_arn(lb: Record, listener_id: str, rule_id: str) -> str:
    return arn(SERVICE, lb.region, lb.account, f"listener-rule/app/{lb.name}/{lb.id}/{listener_id}/{rule_id}")


def check_name(value: str, what: str) -> str:
    """Load balancer and target group names: 1-32 letters, digits or hyphens, no hyphen at either end."""
    if not value:
        raise AwsError("ValidationError", f"{what} name cannot be empty")
    if len(value) > 32:
        raise AwsError("ValidationError", f"{what} name cannot be longer than '32' characters")
    if not _NAME.match(value):
        raise AwsError(
            "ValidationError",
            f"{what} name '{value}' can only contain characters that are alphanumeric characters or "
            "hyphens(-), and must not begin or end with a hyphen",
        )
    return value


# -- lookups by ARN ---------------------------------------------------------------------------------

_KINDS = {
    "loadbalancer/app/": (
        LOAD_BALANCER,
        "load balancer",
        "LoadBalancerNotFound",
        "One or more load balancers not found",
    ),
    "targetgroup/": (
        TARGET_GROUP,
        "target group",
        "TargetGroupNotFound",
        "One or more target groups not found",
    ),
    "listener/app/": (LISTENER, "listener", "ListenerNotFound", "One or more listeners not found"),
    "listener-rule/app/": (RULE, "rule", "RuleNotFound", "One or more rules not found"),
}
_PARTS = {"loadbalancer/app/": 2, "targetgroup/": 2, "listener/app/": 3, "listener-rule/app/": 4}


def not_found(kind: str) -> AwsError:
    for known, _, code, message in _KINDS.values():
        if known == kind:
            return AwsError(code, message)
    raise ValueError(kind)


def resource_id(text: str, prefix: str) -> tuple[str, str, str] | None:
    """(account, region, id) of an ELB ARN of the given resource type, or None if it is not one."""
    try:
        parsed = parse_arn(text)
    except ValueError:
        return None
    if parsed.service != SERVICE or not parsed.resource.startswith(prefix):
        return None
    parts = parsed.resource[len(prefix) :].split("/")
    if len(parts) != _PARTS[prefix] or not all(parts):
        return None
    return parsed.account, parsed.region, parts[-1]


def get_by_arn(store: Store, account: str, region: str, text: str, prefix: str) -> Record:
    kind, word, _, _ = _KINDS[prefix]
    found = resource_id(text or "", prefix)
    if found is None:
        raise AwsError("ValidationError", f"'{text}' is not a valid {word} ARN")
    owner, where, ident = found
    record = None
    if owner == account and where == region:
        record = store.get(kind, account, region, ident)
    if record is None or record.arn != text or record.spec.get("Desired") == "deleted":
        raise not_found(kind)
    return record


def get_load_balancer(store: Store, account: str, region: str, text: str) -> Record:
    return get_by_arn(store, account, region, text, "loadbalancer/app/")


def get_target_group(store: Store, account: str, region: str, text: str) -> Record:
    return get_by_arn(store, account, region, text, "targetgroup/")


def get_listener(store: Store, account: str, region: str, text: str) -> Record:
    return get_by_arn(store, account, region, text, "listener/app/")


def get_many(store: Store, account: str, region: str, arns: Iterable[str], prefix: str) -> list[Record]:
    return [get_by_arn(store, account, region, value, prefix) for value in dict.fromkeys(arns)]


def kind_of_arn(text: str) -> str | None:
    """The record kind an ELB ARN names (for tags), or None."""
    for prefix, (kind, *_) in _KINDS.items():
        if resource_id(text, prefix) is not None:
            return kind
    return None


def get_any(store: Store, account: str, region: str, text: str) -> Record:
    for prefix in _KINDS:
        if resource_id(text, prefix) is not None:
            return get_by_arn(store, account, region, text, prefix)
    raise AwsError("ValidationError", f"'{text}' is not a valid resource ARN")


# -- what uses what ---------------------------------------------------------------------------------


def action_target_groups(actions: Iterable[dict[str, Any]]) -> list[str]:
    """Target group ARNs a stored action list forwards to."""
    arns: list[str] = []
    for action in actions:
        if action.get("Type") == "forward":
            for group in (action.get("ForwardConfig") or {}).get("TargetGroups") or []:
                arns.append(group["TargetGroupArn"])
    return arns


def target_group_usage(store: Store, account: str, region: str) -> dict[str, set[str]]:
    """Target group ARN -> ids of the load balancers whose listeners or rules forward to it."""
    usage: dict[str, set[str]] = {}
    for listener in store.list(LISTENER, account, region):
        for group in action_target_groups(listener.spec["DefaultActions"]):
            usage.setdefault(group, set()).add(listener.spec["LoadBalancerId"])
    for rule in store.list(RULE, account, region):
        for group in action_target_groups(rule.spec["Actions"]):
            usage.setdefault(group, set()).add(rule.spec["LoadBalancerId"])
    return usage


def load_balancers_of_group(store: Store, group: Record) -> set[str]:
    return target_group_usage(store, group.account, group.region).get(group.arn, set())


# -- addressing -------------------------------------------------------------------------------------


def dns_name(name: str, lb_id: str, region: str, scheme: str) -> str:
    """`NAME-ID.REGION.elb.localhost` (AWS: NAME-NUMBER.REGION.elb.amazonaws.com); `internal-` first for
    internal balancers, as AWS does. Under *.localhost so curl and browsers reach it without DNS set-up."""
    prefix = "internal-" if scheme == "internal" else ""
    return f"{prefix}{name}-{lb_id}.{region}.elb.localhost".lower()


def address_block(state_dir: object) -> ipaddress.IPv4Network:
    """127.N.0.0/16 with N in 210..249 chosen by the state directory: apart from RDS's 127.10-209 and
    the process driver's 127.100, and distinct per state directory so two daemons do not collide."""
    n = 210 + int(hashlib.sha256(str(state_dir).encode()).hexdigest(), 16) % 40
    return ipaddress.ip_network(f"127.{n}.0.0/16")


def allocate_address(runtime: Runtime) -> str:
    store = runtime.store
    used = {r.spec.get("Address") for r in store.list_all(LOAD_BALANCER)}
    used |= {r.spec.get("Address") for r in store.list_all(TEARDOWN)}
    for host in address_block(runtime.config.state_dir).hosts():
        if str(host) not in used and int(host) & 0xFF not in (0, 255):
            return str(host)
    raise AwsError("TooManyLoadBalancers", "No more load balancer addresses are available on this host.")


def data_plane_key(lb_id: str) -> str:
    """The balancer's name in the data plane (process and file names): derivable from the id alone, so a
    deleted balancer can still be taken down."""
    return f"alb-{lb_id}"


def target_key(target_id: str, port: int) -> str:
    return f"{target_id.replace('.', '-').replace(':', '-').lower()}_{port}"


def tg_key(group: Record) -> str:
    return f"tg-{group.id}"


def page_size(params: dict[str, Any], limit: int = 400) -> int | None:
    size = params.get("PageSize")
    if size is None:
        return None
    if not 1 <= int(size) <= limit:
        raise AwsError("ValidationError", f"Page size must be between 1 and {limit}")
    return int(size)


def paginate(
    store: Store, records: list[Record], params: dict[str, Any], scope: str
) -> tuple[list[Record], str | None]:
    return store.paginator.paginate(
        records,
        page_size(params),
        params.get("Marker"),
        key=lambda r: r.seq,
        scope=scope,
        code="ValidationError",
        message="The specified marker is not valid",
    )


def bool_text(value: Any) -> str:
    return "true" if value else "false"
