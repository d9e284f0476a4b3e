"""Listener rules: create, describe, modify, delete, SetRulePriorities. A listener's default rule is a
record too (IsDefault); its actions are the listener's DefaultActions, and it cannot be deleted or moved."""

from __future__ import annotations

from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.services.elbv2.common import (
    ELB_TAG_RULES,
    LIMITS,
    LISTENER,
    LOAD_BALANCER,
    RULE,
    get_by_arn,
    get_listener,
    new_elb_id,
    page_size,
    rule_arn,
)
from onebox.services.elbv2.rule_model import (
    action_view,
    condition_view,
    normalize_actions,
    normalize_conditions,
)
from onebox.store import Record, Store
from onebox.store.tags import apply_tags, tags_from_list

api = ServiceApi("elbv2")


def _get_rule(store: Store, ctx: RequestContext, arn: str) -> Record:
    return get_by_arn(store, ctx.account_id, ctx.region, arn, "listener-rule/app/")


def _check_priority(value: Any) -> int:
    if value is None:
        raise AwsError("ValidationError", "A rule priority must be specified")
    if not 1 <= int(value) <= 50000:
        raise AwsError("ValidationError", "Rule priority must be between 1 and 50000")
    return int(value)


def _rules_of_listener(store: Store, listener: Record) -> list[Record]:
    return [
        r for r in store.list(RULE, listener.account, listener.region) if r.spec["ListenerId"] == listener.id
    ]


def _listener_of(store: Store, rule: Record) -> Record:
    listener = store.get(LISTENER, rule.account, rule.region, rule.spec["ListenerId"])
    if listener is None:
        raise AwsError("RuleNotFound", "One or more rules not found")
    return listener


def _lb_of(store: Store, listener: Record) -> Record:
    lb = store.get(LOAD_BALANCER, listener.account, listener.region, listener.spec["LoadBalancerId"])
    if lb is None:
        raise AwsError("ListenerNotFound", "One or more listeners not found")
    return lb


@api.operation("CreateRule")
def create_rule(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    if params.get("Transforms"):
        raise AwsError("ValidationError", "Rule transforms are not supported by onebox yet")
    tags = apply_tags({}, tags_from_list(params.get("Tags")), ELB_TAG_RULES)
    with store.transaction():
        listener = get_listener(store, ctx.account_id, ctx.region, params.get("ListenerArn") or "")
        lb = _lb_of(store, listener)
        priority = _check_priority(params.get("Priority"))
        conditions = normalize_conditions(params.get("Conditions") or [])
        actions = normalize_actions(
            store,
            ctx.account_id,
            ctx.region,
            params.get("Actions") or [],
            protocol=listener.spec["Protocol"],
            lb=lb,
        )
        siblings = _rules_of_listener(store, listener)
        if any(r.spec["Priority"] == priority for r in siblings):
            raise AwsError("PriorityInUse", f"Priority '{priority}' is currently in use")
        count = sum(
            1
            for r in store.list(RULE, ctx.account_id, ctx.region)
            if r.spec["LoadBalancerId"] == lb.id and not r.spec.get("IsDefault")
        )
        if count >= LIMITS["rules-per-application-load-balancer"]:
            raise AwsError(
                "TooManyRules", "You've reached the limit on the number of rules per load balancer"
            )
        rule_id = new_elb_id()
        record = store.create(
            RULE,
            ctx.account_id,
            ctx.region,
            rule_id,
            arn=rule_arn(lb, listener.id, rule_id),
            spec={
                "ListenerId": listener.id,
                "LoadBalancerId": lb.id,
                "IsDefault": False,
                "Priority": priority,
                "Conditions": conditions,
                "Actions": actions,
            },
            tags=tags,
        )
    return {"Rules": [rule_view(store, record)]}


def rule_view(store: Store, record: Record, listener: Record | None = None) -> dict[str, Any]:
    spec = record.spec
    if spec.get("IsDefault"):
        listener = listener or store.get(LISTENER, record.account, record.region, spec["ListenerId"])
        actions = listener.spec["DefaultActions"] if listener is not None else []
        return {
            "RuleArn": record.arn,
            "Priority": "default",
            "Conditions": [],
            "Actions": [action_view(a) for a in actions],
            "IsDefault": True,
        }
    return {
        "RuleArn": record.arn,
        "Priority": str(spec["Priority"]),
        "Conditions": [condition_view(c) for c in spec["Conditions"]],
        "Actions": [action_view(a) for a in spec["Actions"]],
        "IsDefault": False,
    }


def _order(record: Record) -> tuple[int, int, int]:
    if record.spec.get("IsDefault"):
        return (1, 0, record.seq)
    return (0, int(record.spec["Priority"]), record.seq)


@api.operation("DescribeRules")
def describe_rules(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    arns = params.get("RuleArns") or []
    listener_arn = params.get("ListenerArn")
    if arns and listener_arn:
        raise AwsError("ValidationError", "Rule ARNs and a listener ARN cannot be specified at the same time")
    if arns:
        records = [_get_rule(store, ctx, arn) for arn in dict.fromkeys(arns)]
    elif listener_arn:
        listener = get_listener(store, ctx.account_id, ctx.region, listener_arn)
        records = _rules_of_listener(store, listener)
    else:
        raise AwsError("ValidationError", "You must specify either listener ARN or rule ARNs")
    page, marker = store.paginator.paginate(
        records,
        page_size(params),
        params.get("Marker"),
        key=_order,
        scope=f"elbv2:DescribeRules:{ctx.account_id}:{ctx.region}:{listener_arn}",
        code="ValidationError",
        message="The specified marker is not valid",
    )
    result: dict[str, Any] = {"Rules": [rule_view(store, r) for r in page]}
    if marker:
        result["NextMarker"] = marker
    return result


@api.operation("ModifyRule")
def modify_rule(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    if params.get("Transforms"):
        raise AwsError("ValidationError", "Rule transforms are not supported by onebox yet")
    with store.transaction():
        record = _get_rule(store, ctx, params.get("RuleArn") or "")
        listener = _listener_of(store, record)
        lb = _lb_of(store, listener)
        protocol = listener.spec["Protocol"]
        if record.spec.get("IsDefault"):
            if params.get("Conditions"):
                raise AwsError("ValidationError", "Conditions cannot be specified for the default rule")
            if params.get("Actions"):
                actions = normalize_actions(
                    store, ctx.account_id, ctx.region, params["Actions"], protocol=protocol, lb=lb
                )
                listener = store.update(listener, spec={**listener.spec, "DefaultActions": actions})
            return {"Rules": [rule_view(store, record, listener)]}
        spec = dict(record.spec)
        if params.get("Conditions") is not None:
            spec["Conditions"] = normalize_conditions(params["Conditions"])
        if params.get("Actions") is not None:
            spec["Actions"] = normalize_actions(
                store, ctx.account_id, ctx.region, params["Actions"], protocol=protocol, lb=lb
            )
        record = store.update(record, spec=spec)
    return {"Rules": [rule_view(store, record)]}


@api.operation("DeleteRule")
def delete_rule(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    with store.transaction():
        record = _get_rule(store, ctx, params.get("RuleArn") or "")
        if record.spec.get("IsDefault"):
            raise AwsError("OperationNotPermitted", "Default rule cannot be deleted")
        store.delete(record)
    return {}


@api.operation("SetRulePriorities")
def set_rule_priorities(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    pairs = params.get("RulePriorities") or []
    if not pairs:
        raise AwsError("ValidationError", "At least one rule priority must be specified")
    with store.transaction():
        changes: dict[str, tuple[Record, int]] = {}
        for pair in pairs:
            record = _get_rule(store, ctx, pair.get("RuleArn") or "")
            if record.spec.get("IsDefault"):
                raise AwsError("OperationNotPermitted", "Default rule priority cannot be modified")
            if record.id in changes:
                raise AwsError("ValidationError", f"Rule '{record.arn}' is specified more than once")
            changes[record.id] = (record, _check_priority(pair.get("Priority")))
        listeners = {record.spec["ListenerId"] for record, _ in changes.values()}
        for listener_id in listeners:
            final: dict[int, str] = {}
            for rule in store.list(RULE, ctx.account_id, ctx.region):
                if rule.spec["ListenerId"] != listener_id or rule.spec.get("IsDefault"):
                    continue
                priority = changes[rule.id][1] if rule.id in changes else rule.spec["Priority"]
                if priority in final:
                    raise AwsError("PriorityInUse", f"Priority '{priority}' is currently in use")
                final[priority] = rule.id
        updated = [
            store.update(record, spec={**record.spec, "Priority": priority})
            for record, priority in changes.values()
        ]
    return {"Rules": [rule_view(store, r) for r in updated]}
