"""Rule conditions and actions: AWS's validation, the stored (normalized) form and the API's view.

Stored conditions always use the *Config form (`{"Field", "<X>Config": {...}}`); stored actions always
carry `Order` and, for forward, a ForwardConfig (a plain TargetGroupArn becomes one group of weight 1).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from onebox.aws.errors import AwsError
from onebox.services.elbv2.common import get_target_group, load_balancers_of_group
from onebox.store import Record, Store

FIELDS = ("host-header", "path-pattern", "http-header", "http-request-method", "query-string", "source-ip")
_CONFIG_KEY = {
    "host-header": "HostHeaderConfig",
    "path-pattern": "PathPatternConfig",
    "http-header": "HttpHeaderConfig",
    "http-request-method": "HttpRequestMethodConfig",
    "query-string": "QueryStringConfig",
    "source-ip": "SourceIpConfig",
}
_ONCE = ("host-header", "path-pattern", "http-request-method", "source-ip")
MAX_VALUES_PER_RULE = 5
MAX_WILDCARDS_PER_RULE = 5
_HOST = re.compile(r"^[A-Za-z0-9\-.*?]+$")
_PATH = re.compile(r"^[A-Za-z0-9_\-.$/~\"'@:+&*?;=%]+$")
_METHOD = re.compile(r"^[A-Za-z_\-]+$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$")
_VISIBLE = re.compile(r"^[\x21-\x7e ]*$")
CONTENT_TYPES = ("text/plain", "text/css", "text/html", "application/javascript", "application/json")


def _invalid(message: str) -> AwsError:
    return AwsError("ValidationError", message)


# -- conditions ----------------------------------------------------------------------------------------


def _values_of(condition: dict[str, Any], field: str) -> list[Any]:
    config_key = _CONFIG_KEY[field]
    legacy = condition.get("Values")
    config = condition.get(config_key)
    others = [k for k in _CONFIG_KEY.values() if k != config_key and condition.get(k)]
    if others:
        raise _invalid(f"A '{field}' condition cannot have '{others[0]}'")
    if condition.get("RegexValues") or (config or {}).get("RegexValues"):
        raise _invalid("Regular expression match conditions are not supported by onebox yet")
    if legacy and config:
        raise _invalid(f"You cannot specify both 'Values' and '{config_key}' in a '{field}' condition")
    if legacy:
        if field not in ("host-header", "path-pattern"):
            raise _invalid(f"A '{field}' condition must use '{config_key}', not 'Values'")
        return list(legacy)
    if config is None:
        raise _invalid(f"A '{field}' condition must have '{config_key}'")
    return list(config.get("Values") or [])


def normalize_conditions(conditions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not conditions:
        raise _invalid("A rule must have at least one condition")
    # The rule-wide limit is checked first: six values in one condition get AWS's rule-wide message.
    counted = 0
    for condition in conditions:
        if condition.get("Field") in FIELDS:
            try:
                counted += len(_values_of(condition, condition["Field"]))
            except AwsError:
                pass  # reported with its own message below
    if counted > MAX_VALUES_PER_RULE:
        raise AwsError("TooManyConditions", f"A rule can only have '{MAX_VALUES_PER_RULE}' condition values")
    seen: set[str] = set()
    normalized: list[dict[str, Any]] = []
    total_values = 0
    wildcards = 0
    for condition in conditions:
        field = condition.get("Field")
        if field not in FIELDS:
            raise _invalid(f"Condition field '{field}' must be one of [{', '.join(FIELDS)}]")
        if field in _ONCE and field in seen:
            raise _invalid(f"A rule can only have one '{field}' condition")
        seen.add(field)
        values = _values_of(condition, field)
        if not values:
            raise _invalid(f"A '{field}' condition must have at least one value")
        if len(values) > 3 and field != "source-ip":
            raise _invalid(f"A '{field}' condition can only have '3' values")
        total_values += len(values)
        entry: dict[str, Any] = {"Field": field}
        if field == "host-header":
            for value in values:
                _check_host(value)
                wildcards += value.count("*") + value.count("?")
            entry["HostHeaderConfig"] = {"Values": values}
        elif field == "path-pattern":
            for value in values:
                if len(value) > 128 or not _PATH.match(value):
                    raise _invalid(f"Path pattern '{value}' is not valid")
                wildcards += value.count("*") + value.count("?")
            entry["PathPatternConfig"] = {"Values": values}
        elif field == "http-request-method":
            for value in values:
                if len(value) > 40 or not _METHOD.match(value):
                    raise _invalid(f"HTTP request method '{value}' is not valid")
            entry["HttpRequestMethodConfig"] = {"Values": values}
        elif field == "http-header":
            name = (condition.get("HttpHeaderConfig") or {}).get("HttpHeaderName") or ""
            if not name or len(name) > 40 or not _HEADER_NAME.match(name):
                raise _invalid(f"HTTP header name '{name}' is not valid")
            for value in values:
                if len(value) > 128 or not _VISIBLE.match(value):
                    raise _invalid(f"HTTP header value '{value}' is not valid")
                wildcards += value.count("*") + value.count("?")
            entry["HttpHeaderConfig"] = {"HttpHeaderName": name, "Values": values}
        elif field == "query-string":
            pairs = []
            for pair in values:
                key, value = pair.get("Key"), pair.get("Value")
                if not value:
                    raise _invalid("A query string condition value must have a 'Value'")
                for part in (key or "", value):
                    if len(part) > 128 or not _VISIBLE.match(part):
                        raise _invalid(f"Query string condition '{part}' is not valid")
                    wildcards += part.count("*") + part.count("?")
                pairs.append({"Key": key, "Value": value} if key is not None else {"Value": value})
            entry["QueryStringConfig"] = {"Values": pairs}
        else:
            for value in values:
                try:
                    network = ipaddress.ip_network(value, strict=False)
                except ValueError:
                    raise _invalid(f"Source IP '{value}' is not a valid CIDR block") from None
                if "/" not in value:
                    raise _invalid(f"Source IP '{value}' must be a CIDR block")
                if str(network) == "255.255.255.255/32":
                    raise _invalid("Source IP '255.255.255.255/32' is not allowed")
            entry["SourceIpConfig"] = {"Values": values}
        normalized.append(entry)
    if total_values > MAX_VALUES_PER_RULE:
        raise AwsError("TooManyConditions", f"A rule can only have '{MAX_VALUES_PER_RULE}' condition values")
    if wildcards > MAX_WILDCARDS_PER_RULE:
        raise _invalid(f"A rule can only have '{MAX_WILDCARDS_PER_RULE}' wildcards")
    return normalized


def _check_host(value: str) -> None:
    if len(value) > 128 or not _HOST.match(value) or "." not in value:
        raise _invalid(f"Host header '{value}' is not valid: it must contain a '.'")
    last = value.rsplit(".", 1)[1]
    if not last or not all(c.isalpha() or c in "*?" for c in last):
        raise _invalid(f"Host header '{value}' is not valid: only letters may follow the last '.'")


def condition_view(condition: dict[str, Any]) -> dict[str, Any]:
    view = {k: v for k, v in condition.items()}
    if condition["Field"] in ("host-header", "path-pattern"):
        view["Values"] = list(condition[_CONFIG_KEY[condition["Field"]]]["Values"])
    return view


# -- actions -------------------------------------------------------------------------------------------


def normalize_actions(
    store: Store,
    account: str,
    region: str,
    actions: list[dict[str, Any]],
    *,
    protocol: str,
    lb: Record,
) -> list[dict[str, Any]]:
    """Validate actions for a listener of `protocol` on balancer `lb`; the stored form, in order."""
    if not actions:
        raise _invalid("At least one action must be specified")
    orders = [a.get("Order") for a in actions]
    given = [o for o in orders if o is not None]
    if len(set(given)) != len(given):
        raise _invalid("Action orders must be unique")
    for order in given:
        if not 1 <= int(order) <= 50000:
            raise _invalid("Action order must be between 1 and 50000")
    numbered = sorted(
        (
            (int(o) if o is not None else index + 1, a)
            for index, (o, a) in enumerate(zip(orders, actions, strict=True))
        ),
        key=lambda pair: pair[0],
    )
    terminal = [a for _, a in numbered if a.get("Type") in ("forward", "redirect", "fixed-response")]
    for _, action in numbered:
        kind = action.get("Type")
        if kind in ("authenticate-oidc", "authenticate-cognito", "jwt-validation"):
            if protocol != "HTTPS":
                raise AwsError(
                    "InvalidLoadBalancerAction", "Authenticate actions are only supported on HTTPS listeners"
                )
            raise AwsError(
                "InvalidLoadBalancerAction", f"Action type '{kind}' is not supported by onebox yet"
            )
        if kind not in ("forward", "redirect", "fixed-response"):
            raise _invalid(f"Action type '{kind}' must be one of [forward, redirect, fixed-response]")
    if len(terminal) != 1:
        raise AwsError(
            "InvalidLoadBalancerAction",
            "A rule must have exactly one forward, redirect or fixed-response action",
        )
    if numbered[-1][1] is not terminal[0]:
        raise AwsError(
            "InvalidLoadBalancerAction", "The forward, redirect or fixed-response action must be last"
        )
    stored = []
    for order, action in numbered:
        kind = action["Type"]
        if kind == "forward":
            stored.append(_forward(store, account, region, action, order, lb))
        elif kind == "redirect":
            stored.append(_redirect(action, order, protocol))
        else:
            stored.append(_fixed_response(action, order))
    return stored


def _forward(
    store: Store, account: str, region: str, action: dict[str, Any], order: int, lb: Record
) -> dict[str, Any]:
    single = action.get("TargetGroupArn")
    config = action.get("ForwardConfig") or {}
    groups = list(config.get("TargetGroups") or [])
    if single and groups:
        if len(groups) != 1 or groups[0].get("TargetGroupArn") != single:
            raise _invalid("You cannot specify both 'TargetGroupArn' and a different 'ForwardConfig'")
    if not single and not groups:
        raise _invalid("A forward action must have a 'TargetGroupArn' or 'ForwardConfig'")
    if single and not groups:
        groups = [{"TargetGroupArn": single, "Weight": 1}]
    if len(groups) > 5:
        raise AwsError("TooManyTargetGroups", "A forward action can have at most '5' target groups")
    arns = [g.get("TargetGroupArn") or "" for g in groups]
    if len(set(arns)) != len(arns):
        raise _invalid("A target group can only be specified once in a forward action")
    tuples = []
    for group_spec in groups:
        group = get_target_group(store, account, region, group_spec.get("TargetGroupArn") or "")
        if group.spec["VpcId"] != lb.spec["VpcId"]:
            raise AwsError(
                "InvalidConfigurationRequest",
                f"The target group '{group.arn}' is in VPC '{group.spec['VpcId']}', not the load balancer's "
                f"VPC '{lb.spec['VpcId']}'",
            )
        others = load_balancers_of_group(store, group) - {lb.id}
        if others:
            raise AwsError(
                "TargetGroupAssociationLimit",
                f"The following target groups cannot be associated with more than one load balancer: {group.arn}",
            )
        weight = group_spec.get("Weight")
        weight = 1 if weight is None else int(weight)
        if not 0 <= weight <= 999:
            raise _invalid("Target group weights must be between 0 and 999")
        tuples.append({"TargetGroupArn": group.arn, "Weight": weight})
    stickiness = config.get("TargetGroupStickinessConfig") or {}
    sticky: dict[str, Any] = {"Enabled": bool(stickiness.get("Enabled"))}
    if sticky["Enabled"]:
        duration = stickiness.get("DurationSeconds")
        if duration is None or not 1 <= int(duration) <= 604800:
            raise _invalid("Target group stickiness duration must be between 1 and 604800 seconds")
        sticky["DurationSeconds"] = int(duration)
    return {
        "Type": "forward",
        "Order": order,
        "ForwardConfig": {"TargetGroups": tuples, "TargetGroupStickinessConfig": sticky},
    }


_PLACEHOLDER = re.compile(r"#\{(protocol|host|port|path|query)\}")


def _redirect(action: dict[str, Any], order: int, listener_protocol: str) -> dict[str, Any]:
    config = action.get("RedirectConfig")
    if not config:
        raise _invalid("A redirect action must have a 'RedirectConfig'")
    status = config.get("StatusCode")
    if status not in ("HTTP_301", "HTTP_302"):
        raise _invalid("Redirect status code must be one of [HTTP_301, HTTP_302]")
    protocol = config.get("Protocol") or "#{protocol}"
    host = config.get("Host") or "#{host}"
    port = config.get("Port") or "#{port}"
    path = config.get("Path") or "/#{path}"
    query = config.get("Query") if config.get("Query") is not None else "#{query}"
    if protocol not in ("HTTP", "HTTPS", "#{protocol}"):
        raise _invalid("Redirect protocol must be one of [HTTP, HTTPS, #{protocol}]")
    if listener_protocol == "HTTPS" and protocol == "HTTP":
        raise AwsError("InvalidLoadBalancerAction", "You cannot redirect HTTPS to HTTP")
    if port != "#{port}" and not (port.isdigit() and 1 <= int(port) <= 65535):
        raise _invalid("Redirect port must be between 1 and 65535 or '#{port}'")
    if not path.startswith("/"):
        raise _invalid("Redirect path must start with a '/'")
    for part, value in (("host", host), ("path", path), ("query", query)):
        if len(value) > 128:
            raise _invalid(f"Redirect {part} cannot be longer than 128 characters")
        for name in re.findall(r"#\{([^}]*)\}", value):
            if not _PLACEHOLDER.fullmatch("#{" + name + "}"):
                raise _invalid(f"Redirect {part} has an unknown placeholder '#{{{name}}}'")
    if (protocol, host, port, path) == ("#{protocol}", "#{host}", "#{port}", "/#{path}"):
        raise AwsError(
            "InvalidLoadBalancerAction",
            "The redirect must change at least one of protocol, host, port or path, to avoid a loop",
        )
    return {
        "Type": "redirect",
        "Order": order,
        "RedirectConfig": {
            "Protocol": protocol,
            "Port": port,
            "Host": host,
            "Path": path,
            "Query": query,
            "StatusCode": status,
        },
    }


def _fixed_response(action: dict[str, Any], order: int) -> dict[str, Any]:
    config = action.get("FixedResponseConfig")
    if not config:
        raise _invalid("A fixed-response action must have a 'FixedResponseConfig'")
    status = str(config.get("StatusCode") or "")
    if not re.fullmatch(r"[245]\d\d", status):
        raise _invalid("Fixed response status code must be a 2XX, 4XX or 5XX code")
    content_type = config.get("ContentType")
    if content_type is not None and content_type not in CONTENT_TYPES:
        raise _invalid(f"Fixed response content type must be one of [{', '.join(CONTENT_TYPES)}]")
    body = config.get("MessageBody")
    if body is not None and len(body) > 1024:
        raise _invalid("Fixed response message body cannot be longer than 1024 characters")
    stored: dict[str, Any] = {"StatusCode": status}
    if body is not None:
        stored["MessageBody"] = body
    if content_type is not None:
        stored["ContentType"] = content_type
    return {"Type": "fixed-response", "Order": order, "FixedResponseConfig": stored}


def action_view(action: dict[str, Any]) -> dict[str, Any]:
    view = {k: v for k, v in action.items()}
    if action["Type"] == "forward":
        groups = action["ForwardConfig"]["TargetGroups"]
        if len(groups) == 1:
            view["TargetGroupArn"] = groups[0]["TargetGroupArn"]
    return view
