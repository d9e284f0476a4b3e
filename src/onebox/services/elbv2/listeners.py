"""Listeners (HTTP and HTTPS), their certificates and SSL policies. Each listener has a default rule
(a RULE record with IsDefault, whose actions are the listener's DefaultActions)."""

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
    get_listener,
    get_load_balancer,
    get_many,
    listener_arn,
    new_elb_id,
    paginate,
    rule_arn,
)
from onebox.services.elbv2.load_balancers import release_certificates
from onebox.services.elbv2.rule_model import action_view, normalize_actions
from onebox.services.elbv2.ssl_policies import DEFAULT_SSL_POLICY, POLICIES
from onebox.store import Record, Store
from onebox.store.tags import apply_tags, tags_from_list

api = ServiceApi("elbv2")


def _check_certificate(ctx: RequestContext, arn: str) -> None:
    try:
        from onebox.services.acm.model import find_certificate
    except ImportError:
        raise AwsError("CertificateNotFound", f"Certificate '{arn}' not found") from None
    record = find_certificate(ctx.runtime, ctx.account_id, ctx.region, arn)
    if record is None:
        raise AwsError("CertificateNotFound", f"Certificate '{arn}' not found")


def _mark_certificates(ctx: RequestContext, lb: Record, arns: list[str]) -> None:
    try:
        from onebox.services.acm.certificates import mark_in_use
    except ImportError:
        return
    for arn in arns:
        mark_in_use(ctx.runtime, ctx.account_id, ctx.region, arn, lb.arn)


def _tls(
    ctx: RequestContext, protocol: str, params: dict[str, Any], current: dict[str, Any] | None
) -> dict[str, Any]:
    """Certificates and SslPolicy for a listener of `protocol` (merged with `current` on modify)."""
    current = current or {}
    certificates = params.get("Certificates")
    policy = params.get("SslPolicy")
    if protocol == "HTTP":
        if certificates:
            raise AwsError("ValidationError", "Certificates can only be specified for HTTPS listeners")
        if policy:
            raise AwsError("ValidationError", "An SSL policy can only be specified for HTTPS listeners")
        return {"Certificates": [], "SslPolicy": None}
    if certificates is not None:
        if len(certificates) != 1:
            raise AwsError("ValidationError", "Exactly one default certificate must be specified")
        arn = certificates[0].get("CertificateArn") or ""
        _check_certificate(ctx, arn)
        chosen = [{"CertificateArn": arn}]
    elif current.get("Certificates"):
        chosen = current["Certificates"]
    else:
        raise AwsError("ValidationError", "A certificate must be specified for HTTPS listeners")
    policy = policy or current.get("SslPolicy") or DEFAULT_SSL_POLICY
    if policy not in POLICIES:
        raise AwsError("SSLPolicyNotFound", f"SSL policy '{policy}' not found")
    return {"Certificates": chosen, "SslPolicy": policy}


def _check_port_protocol(protocol: str | None, port: int | None) -> None:
    if protocol is None:
        raise AwsError("ValidationError", "A listener protocol must be specified")
    if protocol not in ("HTTP", "HTTPS"):
        raise AwsError(
            "UnsupportedProtocol",
            f"Protocol '{protocol}' is not supported with a load balancer of type 'application'",
        )
    if port is None:
        raise AwsError("ValidationError", "A listener port must be specified")
    if not 1 <= int(port) <= 65535:
        raise AwsError("ValidationError", "Listener port must be between 1 and 65535")


def _port_taken(store: Store, lb: Record, port: int, except_id: str | None = None) -> bool:
    return any(
        other.spec["LoadBalancerId"] == lb.id and other.spec["Port"] == port and other.id != except_id
        for other in store.list(LISTENER, lb.account, lb.region)
    )


@api.operation("CreateListener")
def create_listener(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    protocol, port = params.get("Protocol"), params.get("Port")
    if params.get("MutualAuthentication") and params["MutualAuthentication"].get("Mode") not in (None, "off"):
        raise AwsError("ValidationError", "Mutual TLS authentication is not supported by onebox yet")
    tags = apply_tags({}, tags_from_list(params.get("Tags")), ELB_TAG_RULES)
    with store.transaction():
        lb = get_load_balancer(store, ctx.account_id, ctx.region, params.get("LoadBalancerArn") or "")
        _check_port_protocol(protocol, port)
        assert protocol is not None and port is not None
        tls = _tls(ctx, protocol, params, None)
        actions = normalize_actions(
            store, ctx.account_id, ctx.region, params.get("DefaultActions") or [], protocol=protocol, lb=lb
        )
        if _port_taken(store, lb, int(port)):
            raise AwsError(
                "DuplicateListener", "A listener already exists on this port for this load balancer"
            )
        count = sum(
            1 for r in store.list(LISTENER, ctx.account_id, ctx.region) if r.spec["LoadBalancerId"] == lb.id
        )
        if count >= LIMITS["listeners-per-application-load-balancer"]:
            raise AwsError(
                "TooManyListeners", "You've reached the limit on the number of listeners per load balancer"
            )
        listener_id, rule_id = new_elb_id(), new_elb_id()
        record = store.create(
            LISTENER,
            ctx.account_id,
            ctx.region,
            listener_id,
            arn=listener_arn(lb, listener_id),
            spec={
                "LoadBalancerId": lb.id,
                "Port": int(port),
                "Protocol": protocol,
                **tls,
                "ExtraCertificates": [],
                "DefaultActions": actions,
                "DefaultRuleId": rule_id,
                "AlpnPolicy": list(params.get("AlpnPolicy") or []),
            },
            tags=tags,
        )
        store.create(
            RULE,
            ctx.account_id,
            ctx.region,
            rule_id,
            arn=rule_arn(lb, listener_id, rule_id),
            spec={
                "ListenerId": listener_id,
                "LoadBalancerId": lb.id,
                "IsDefault": True,
                "Priority": None,
                "Conditions": [],
                "Actions": [],
            },
        )
        _mark_certificates(ctx, lb, [c["CertificateArn"] for c in tls["Certificates"]])
    return {"Listeners": [listener_view(store, record)]}


def listener_view(store: Store, record: Record, lb: Record | None = None) -> dict[str, Any]:
    spec = record.spec
    if lb is None:
        lb = store.get(LOAD_BALANCER, record.account, record.region, spec["LoadBalancerId"])
    view: dict[str, Any] = {
        "ListenerArn": record.arn,
        "LoadBalancerArn": lb.arn if lb is not None else "",
        "Port": spec["Port"],
        "Protocol": spec["Protocol"],
        "DefaultActions": [action_view(a) for a in spec["DefaultActions"]],
    }
    if spec["Protocol"] == "HTTPS":
        view["Certificates"] = [{"CertificateArn": c["CertificateArn"]} for c in spec["Certificates"]]
        view["SslPolicy"] = spec["SslPolicy"]
    if spec.get("AlpnPolicy"):
        view["AlpnPolicy"] = spec["AlpnPolicy"]
    return view


@api.operation("DescribeListeners")
def describe_listeners(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    arns = params.get("ListenerArns") or []
    lb_arn = params.get("LoadBalancerArn")
    if arns and lb_arn:
        raise AwsError(
            "ValidationError", "Listener ARNs and a load balancer ARN cannot be specified at the same time"
        )
    if arns:
        records = get_many(store, ctx.account_id, ctx.region, arns, "listener/app/")
    elif lb_arn:
        lb = get_load_balancer(store, ctx.account_id, ctx.region, lb_arn)
        records = [
            r for r in store.list(LISTENER, ctx.account_id, ctx.region) if r.spec["LoadBalancerId"] == lb.id
        ]
    else:
        raise AwsError("ValidationError", "You must specify either listener ARNs or a load balancer ARN")
    page, marker = paginate(
        store, records, params, f"elbv2:DescribeListeners:{ctx.account_id}:{ctx.region}:{lb_arn}"
    )
    result: dict[str, Any] = {"Listeners": [listener_view(store, r) for r in page]}
    if marker:
        result["NextMarker"] = marker
    return result


@api.operation("ModifyListener")
def modify_listener(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    with store.transaction():
        record = get_listener(store, ctx.account_id, ctx.region, params.get("ListenerArn") or "")
        lb = store.get(LOAD_BALANCER, ctx.account_id, ctx.region, record.spec["LoadBalancerId"])
        assert lb is not None
        spec = dict(record.spec)
        protocol = params.get("Protocol") or spec["Protocol"]
        port = int(params.get("Port") or spec["Port"])
        _check_port_protocol(protocol, port)
        tls = _tls(ctx, protocol, params, spec if protocol == "HTTPS" else None)
        if params.get("DefaultActions") is not None:
            spec["DefaultActions"] = normalize_actions(
                store, ctx.account_id, ctx.region, params["DefaultActions"], protocol=protocol, lb=lb
            )
        elif protocol != record.spec["Protocol"]:
            spec["DefaultActions"] = normalize_actions(
                store, ctx.account_id, ctx.region, spec["DefaultActions"], protocol=protocol, lb=lb
            )
        if port != spec["Port"] and _port_taken(store, lb, port, record.id):
            raise AwsError(
                "DuplicateListener", "A listener already exists on this port for this load balancer"
            )
        old_certificates = [c["CertificateArn"] for c in spec.get("Certificates") or []]
        old_certificates += list(spec.get("ExtraCertificates") or [])
        spec.update(Port=port, Protocol=protocol, **tls)
        if protocol == "HTTP":
            spec["ExtraCertificates"] = []
        if params.get("AlpnPolicy") is not None:
            spec["AlpnPolicy"] = list(params["AlpnPolicy"])
        new_certificates = [c["CertificateArn"] for c in spec["Certificates"]]
        record = store.update(record, spec=spec)
        dropped = [
            a for a in old_certificates if a not in new_certificates and a not in spec["ExtraCertificates"]
        ]
        if dropped:
            release_certificates(store, ctx, record, dropped)
        added = [a for a in new_certificates if a not in old_certificates]
        if added:
            _mark_certificates(ctx, lb, added)
    return {"Listeners": [listener_view(store, record, lb)]}


@api.operation("DeleteListener")
def delete_listener(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    with store.transaction():
        record = get_listener(store, ctx.account_id, ctx.region, params.get("ListenerArn") or "")
        for rule in store.list(RULE, ctx.account_id, ctx.region):
            if rule.spec["ListenerId"] == record.id:
                store.delete(rule)
        release_certificates(store, ctx, record)
        store.delete(record)
    return {}


# -- certificates ------------------------------------------------------------------------------------


@api.operation("DescribeListenerCertificates")
def describe_listener_certificates(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    record = get_listener(ctx.runtime.store, ctx.account_id, ctx.region, params.get("ListenerArn") or "")
    certificates = [
        {"CertificateArn": c["CertificateArn"], "IsDefault": True} for c in record.spec["Certificates"]
    ]
    certificates += [{"CertificateArn": arn, "IsDefault": False} for arn in record.spec["ExtraCertificates"]]
    return {"Certificates": certificates}


@api.operation("AddListenerCertificates")
def add_listener_certificates(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    with store.transaction():
        record = get_listener(store, ctx.account_id, ctx.region, params.get("ListenerArn") or "")
        if record.spec["Protocol"] != "HTTPS":
            raise AwsError("ValidationError", "Certificates can only be added to HTTPS listeners")
        lb = store.get(LOAD_BALANCER, ctx.account_id, ctx.region, record.spec["LoadBalancerId"])
        assert lb is not None
        extra = list(record.spec["ExtraCertificates"])
        added = []
        for item in params.get("Certificates") or []:
            arn = item.get("CertificateArn") or ""
            _check_certificate(ctx, arn)
            if arn not in extra:
                extra.append(arn)
                added.append(arn)
        if len(extra) > LIMITS["certificates-per-application-load-balancer"]:
            raise AwsError(
                "TooManyCertificates", "You've reached the limit on the number of certificates per listener"
            )
        _mark_certificates(ctx, lb, added)
        store.update(record, spec={**record.spec, "ExtraCertificates": extra})
    return {"Certificates": [{"CertificateArn": arn, "IsDefault": False} for arn in extra]}


@api.operation("RemoveListenerCertificates")
def remove_listener_certificates(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    with store.transaction():
        record = get_listener(store, ctx.account_id, ctx.region, params.get("ListenerArn") or "")
        defaults = {c["CertificateArn"] for c in record.spec["Certificates"]}
        removing = [item.get("CertificateArn") or "" for item in params.get("Certificates") or []]
        if any(arn in defaults for arn in removing):
            raise AwsError("OperationNotPermitted", "The default certificate of a listener cannot be removed")
        extra = [arn for arn in record.spec["ExtraCertificates"] if arn not in removing]
        store.update(record, spec={**record.spec, "ExtraCertificates": extra})
        lb = store.get(LOAD_BALANCER, ctx.account_id, ctx.region, record.spec["LoadBalancerId"])
        try:
            from onebox.services.acm.certificates import unmark_in_use
        except ImportError:
            unmark_in_use = None  # type: ignore[assignment]
        if unmark_in_use is not None and lb is not None:
            for arn in removing:
                if arn in record.spec["ExtraCertificates"]:
                    unmark_in_use(ctx.runtime, ctx.account_id, ctx.region, arn, lb.arn)
    return {}


# -- attributes (response headers the balancer adds; stored, not yet applied by the data plane) ------

_RESPONSE_HEADERS = (
    "strict_transport_security",
    "access_control_allow_origin",
    "access_control_allow_methods",
    "access_control_allow_headers",
    "access_control_allow_credentials",
    "access_control_expose_headers",
    "access_control_max_age",
    "content_security_policy",
    "x_content_type_options",
    "x_frame_options",
)
LISTENER_ATTRIBUTES: dict[str, str] = {
    "routing.http.response.server.enabled": "true",
    **{f"routing.http.response.{name}.header_value": "" for name in _RESPONSE_HEADERS},
}
_HTTPS_ATTRIBUTES: dict[str, str] = {
    f"routing.http.request.{name}.header_name": ""
    for name in (
        "x_amzn_mtls_clientcert_serial_number",
        "x_amzn_mtls_clientcert_issuer",
        "x_amzn_mtls_clientcert_subject",
        "x_amzn_mtls_clientcert_validity",
        "x_amzn_mtls_clientcert_leaf",
        "x_amzn_mtls_clientcert",
        "x_amzn_tls_version",
        "x_amzn_tls_cipher_suite",
    )
}


def _listener_attributes(record: Record) -> dict[str, str]:
    defaults = dict(LISTENER_ATTRIBUTES)
    if record.spec["Protocol"] == "HTTPS":
        defaults.update(_HTTPS_ATTRIBUTES)
    return {**defaults, **(record.spec.get("Attributes") or {})}


@api.operation("DescribeListenerAttributes")
def describe_listener_attributes(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    record = get_listener(ctx.runtime.store, ctx.account_id, ctx.region, params.get("ListenerArn") or "")
    return {"Attributes": [{"Key": k, "Value": v} for k, v in _listener_attributes(record).items()]}


@api.operation("ModifyListenerAttributes")
def modify_listener_attributes(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    with store.transaction():
        record = get_listener(store, ctx.account_id, ctx.region, params.get("ListenerArn") or "")
        known = _listener_attributes(record)
        changes = {str(a.get("Key") or ""): str(a.get("Value") or "") for a in params.get("Attributes") or []}
        for key, value in changes.items():
            if key not in known:
                raise AwsError("ValidationError", f"Listener attribute key '{key}' is not recognized")
            if key == "routing.http.response.server.enabled" and value not in ("true", "false"):
                raise AwsError("ValidationError", f"'{key}' must be 'true' or 'false'")
        stored = {**(record.spec.get("Attributes") or {}), **changes}
        record = store.update(record, spec={**record.spec, "Attributes": stored})
    return {"Attributes": [{"Key": k, "Value": v} for k, v in _listener_attributes(record).items()]}
