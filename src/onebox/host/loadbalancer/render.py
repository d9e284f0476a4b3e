"""One `LoadBalancerSpec` as an HAProxy 2.6 configuration (docs/elbv2.md, "Data plane").

Layout: one frontend per listener (bound to the balancer's own address and to a unix socket the shared
edge forwards to with PROXY v2), one backend per target group. Listener rules are evaluated in priority
order as `http-request set-var(txn.r)` lines (the first match wins: each line only runs while txn.r is
unset), then each rule's action runs under `{ var(txn.r) -m int N }`; the default action runs when no
rule matched. Responses the balancer makes itself (`return`, `http-error`) carry `Server: awselb/2.0`;
responses from targets pass through untouched, with no per-response rule on the common path.
"""

from __future__ import annotations

import hashlib
import ipaddress

from onebox.host.loadbalancer import access_log
from onebox.host.loadbalancer.paths import BalancerPaths
from onebox.host.loadbalancer.spec import (
    Action,
    Condition,
    FixedResponseAction,
    Listener,
    LoadBalancerSpec,
    RedirectAction,
    Target,
    TargetGroup,
)
from onebox.host.loadbalancer.syntax import (
    SpecError,
    anchored,
    header_name,
    literal_regex,
    log_format_literal,
    quote,
    status_regex,
    wildcard_regex,
)

SERVER_HEADER = "awselb/2.0"
_ELB = f"hdr Server {SERVER_HEADER}"
# Marks HAProxy's own 503 (no target answered) so the frontend can turn it into ALB's 502.
_CONNECT_FAILED = "x-onebox-connect-failed"
# AWS: no connection to the target within 10 s is a 504 (HAProxy's connect timeout).
CONNECT_TIMEOUT_S = 10
# Bodies as ALB sends them (nginx-style pages).
_REASONS = {
    400: "Bad Request",
    403: "Forbidden",
    405: "Method Not Allowed",
    408: "Request Time-out",
    413: "Request Entity Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}
_NOT_RULE = "!{ var(txn.r) -m found }"
_TRACE_ID = "1-%[date,htonl,hex,lower]-%[rand,htonl,hex,lower]%[rand,htonl,hex,lower]%[rand,htonl,hex,lower]"
_HOST = "req.hdr(host),field(1,:),lower"


def error_page(status: int) -> str:
    title = f"{status} {_REASONS.get(status, '')}".strip()
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n</body>\r\n</html>\r\n"
    )


def backend_name(group_key: str) -> str:
    return f"tg_{group_key}"


def frontend_name(listener_key: str) -> str:
    return f"listener_{listener_key}"


def opaque(value: str) -> str:
    """A stable cookie value that names a server or group without showing its key."""
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def fallback_server(target_key: str) -> str:
    """The check-less backup copy of a target that makes the group fail open."""
    return f"{target_key}.failopen"


def render(spec: LoadBalancerSpec, paths: BalancerPaths) -> str:
    groups = {group.key: group for group in spec.target_groups}
    lines: list[str] = []
    lines += _global(spec, paths)
    lines += _defaults(spec)
    for listener in spec.listeners:
        lines += _frontend(spec, listener, groups, paths)
    for group in spec.target_groups:
        lines += _backend(spec, group)
    return "\n".join(lines) + "\n"


# -- global and defaults --------------------------------------------------------------------------------


def _global(spec: LoadBalancerSpec, paths: BalancerPaths) -> list[str]:
    longest_drain = max([g.deregistration_delay_s for g in spec.target_groups] + [spec.idle_timeout_s, 1])
    return [
        f"# onebox load balancer {spec.name} ({spec.arn})",
        "global",
        "    master-worker",
        f"    stats socket {quote(str(paths.stats_socket))} mode 600 level admin expose-fd listeners",
        f"    server-state-file {quote(str(paths.server_state))}",
        # Old workers finish in-flight requests after a reload, for at most the longest drain.
        f"    hard-stop-after {longest_drain + 5}s",
        "    log stderr format short local0 notice",
        "    tune.ssl.default-dh-param 2048",
        "    ssl-default-bind-options ssl-min-ver TLSv1.2",
        "",
    ]


def _defaults(spec: LoadBalancerSpec) -> list[str]:
    idle = max(spec.idle_timeout_s, 1)
    lines = [
        "defaults",
        "    mode http",
        "    option http-keep-alive",
        # After a reload, idle keep-alive connections of the old worker close only after answering the
        # next request ("Connection: close"), so a client never races a close.
        "    option idle-close-on-response",
        "    option redispatch 1",
        "    retries 2",
        # A target that closes a connection without answering (a keep-alive connection it just closed,
        # a server stopping between the balancer's last check and the request) gets the request again
        # on another target, for methods that are safe to repeat (the backends disable it for others).
        "    retry-on conn-failure empty-response",
        f"    timeout connect {CONNECT_TIMEOUT_S}s",
        f"    timeout client {idle}s",
        f"    timeout server {idle}s",
        f"    timeout http-keep-alive {idle}s",
        f"    timeout http-request {idle}s",
        f"    timeout tunnel {idle}s",
        "    timeout queue 10s",
        "    load-server-state-from-file global",
    ]
    for status in sorted(_REASONS):
        # HAProxy answers 503 when it could not connect to the chosen target; ALB says 502 (the
        # frontends turn the status into 502; the body is already right).
        page = error_page(502 if status == 503 else status)
        marker = f" hdr {_CONNECT_FAILED} 1" if status == 503 else ""
        lines.append(
            f"    http-error status {status} content-type text/html string {quote(page)} {_ELB}{marker}"
        )
    lines.append("")
    return lines


# -- frontends --------------------------------------------------------------------------------------------


def _frontend(
    spec: LoadBalancerSpec, listener: Listener, groups: dict[str, TargetGroup], paths: BalancerPaths
) -> list[str]:
    https = listener.protocol == "HTTPS"
    ssl = ""
    if https:
        if not listener.certificates:
            raise SpecError(f"HTTPS listener {listener.key} has no certificate")
        crts = " ".join(f"crt {quote(c.pem_path)}" for c in listener.certificates)
        ssl = f" ssl {crts} alpn h2,http/1.1"
    address = spec.address if ":" not in spec.address else f"[{spec.address}]"
    scheme = "https" if https else "http"
    lines = [
        f"frontend {frontend_name(listener.key)}",
        f"    bind {address}:{listener.port}{ssl}",
        f"    bind {quote('unix@' + str(paths.listener_socket(listener.port)))} mode 600 accept-proxy{ssl}",
        *(
            f"    bind {vpc.address}:{listener.port} namespace {vpc.namespace}{ssl}"
            for vpc in spec.vpc_addresses
        ),
        f"    http-request set-header X-Forwarded-Proto {scheme}",
        f"    http-request set-header X-Forwarded-Port {listener.port}",
        '    http-request set-header X-Forwarded-For "%[req.fhdr(x-forwarded-for)], %[src]"'
        " if { req.fhdr(x-forwarded-for) -m found }",
        "    http-request set-header X-Forwarded-For %[src] unless { req.fhdr(x-forwarded-for) -m found }",
        f'    http-request set-header X-Amzn-Trace-Id "Self={_TRACE_ID};'
        '%[req.fhdr(x-amzn-trace-id),regsub(Self=[^;]*;?,),regsub(;\\$,)]" if { req.fhdr(x-amzn-trace-id) -m found }',
        f'    http-request set-header X-Amzn-Trace-Id "Root={_TRACE_ID}"'
        " unless { req.fhdr(x-amzn-trace-id) -m found }",
    ]
    if spec.access_log:
        state_dir = paths.root.parent.parent
        lines += access_log.frontend_lines(spec, https, access_log.socket_path(state_dir))
    rules = sorted(listener.rules, key=lambda r: r.priority)
    for index, rule in enumerate(rules, start=1):
        acls = " ".join(_condition(c) for c in rule.conditions)
        lines.append(f"    http-request set-var(txn.r) int({index}) if {_NOT_RULE} {acls}".rstrip())
    default_backend: str | None = None
    use_backends: list[str] = []
    after: list[str] = []
    for index, rule in enumerate(rules, start=1):
        cond = f"{{ var(txn.r) -m int {index} }}"
        backend = _action(listener, rule.action, cond, groups, lines, after, index)
        if backend is not None:
            use_backends.append(f"    use_backend {backend} if {cond}")
    default_cond = "!{ var(txn.r) -m found }" if rules else ""
    default_backend = _action(listener, listener.default_action, default_cond, groups, lines, after, 0)
    lines += after
    lines += [
        # Connection failures after retries are HAProxy's 503; ALB answers 502 (no registered targets
        # stays 503: that one is the balancer's own `return`, without a server).
        f"    http-after-response set-status 502 if {{ status 503 }} {{ res.fhdr({_CONNECT_FAILED}) -m found }}",
        f"    http-after-response del-header {_CONNECT_FAILED} if {{ status 502 }}",
    ]
    if any("set-var(txn.be)" in line for line in lines):
        lines.append("    use_backend %[var(txn.be)] if { var(txn.be) -m found }")
    lines += use_backends
    if default_backend is not None:
        lines.append(f"    default_backend {default_backend}")
    lines.append("")
    return lines


def _action(
    listener: Listener,
    action: Action,
    cond: str,
    groups: dict[str, TargetGroup],
    lines: list[str],
    after: list[str],
    index: int,
) -> str | None:
    """Append the http-request lines of `action` under `cond`; return a backend to use_backend, if any."""
    suffix = f" if {cond}" if cond else ""
    if isinstance(action, FixedResponseAction):
        lines.append(f"    http-request {_fixed_response(action)}{suffix}")
        return None
    if isinstance(action, RedirectAction):
        for line, extra in _redirect(listener, action):
            both = " ".join(x for x in (cond, extra) if x)
            lines.append(f"    http-request {line}" + (f" if {both}" if both else ""))
        return None
    weighted = [g for g in action.groups if g.weight > 0]
    for g in action.groups:
        if g.target_group_key not in groups:
            raise SpecError(f"listener {listener.key} forwards to unknown target group {g.target_group_key}")
    if not weighted:
        lines.append(
            f"    http-request return status 503 content-type text/html string {quote(error_page(503))} {_ELB}{suffix}"
        )
        return None
    if len(weighted) == 1 and not action.group_stickiness_s:
        return backend_name(weighted[0].target_group_key)
    if len(weighted) == 1:
        # One group with group stickiness: still sets AWSALBTG like AWS.
        lines.append(
            f"    http-request set-var(txn.be) str({backend_name(weighted[0].target_group_key)}){suffix}"
        )
    else:
        total = sum(g.weight for g in weighted)
        conds = f" {cond}" if cond else ""
        if action.group_stickiness_s:
            for g in weighted:
                lines.append(
                    f"    http-request set-var(txn.be) str({backend_name(g.target_group_key)}) if{conds}"
                    f" {{ req.cook(AWSALBTG) -m str {opaque(g.target_group_key)} }}"
                )
        lines.append(
            f"    http-request set-var(txn.draw) rand({total}) if{conds} !{{ var(txn.be) -m found }}"
        )
        upto = 0
        for g in weighted:
            upto += g.weight
            lines.append(
                f"    http-request set-var(txn.be) str({backend_name(g.target_group_key)}) if{conds}"
                f" !{{ var(txn.be) -m found }} {{ var(txn.draw) -m int lt {upto} }}"
            )
    if action.group_stickiness_s:
        conds = f" {cond}" if cond else ""
        for g in weighted:
            value = opaque(g.target_group_key)
            be = backend_name(g.target_group_key)
            after.append(
                f'    http-after-response add-header Set-Cookie "AWSALBTG={value}; Max-Age={action.group_stickiness_s}; Path=/"'
                f" if{conds} {{ var(txn.be) -m str {be} }}"
            )
            after.append(
                f'    http-after-response add-header Set-Cookie "AWSALBTGCORS={value}; Max-Age={action.group_stickiness_s};'
                f' Path=/; SameSite=None; Secure" if{conds} {{ var(txn.be) -m str {be} }}'
            )
    return None


def _fixed_response(action: FixedResponseAction) -> str:
    line = f"return status {action.status_code}"
    if action.body:
        line += f" content-type {quote(action.content_type or 'text/plain; charset=utf-8')} string {quote(action.body)}"
    elif action.content_type:
        line += f" hdr Content-Type {quote(action.content_type)}"
    return f"{line} {_ELB}"


def _redirect(listener: Listener, action: RedirectAction) -> list[tuple[str, str]]:
    """The redirect line(s), each with an extra condition (or "")."""
    proto_now = listener.protocol.lower()
    port_now = str(listener.port)

    def expand(template: str, *, lower: bool = False) -> str:
        # #{protocol} and #{port} are known here; #{host}, #{path}, #{query} come from the request.
        text = template.replace("#{protocol}", proto_now).replace("#{port}", port_now)
        if lower:
            text = text.lower()
        parts = text.split("#{")
        out = [log_format_literal(parts[0])]
        for part in parts[1:]:
            name, sep, rest = part.partition("}")
            if sep and name == "host":
                out.append("%[req.hdr(host),field(1,:)]")
            elif sep and name == "path":
                out.append("%[path,regsub(^/,)]")
            elif sep and name == "query":
                out.append("%[query]")
            else:
                out.append(log_format_literal("#{" + part))
                continue
            out.append(log_format_literal(rest))
        return "".join(out)

    protocol = expand(action.protocol, lower=True)
    host = expand(action.host)
    port = expand(action.port)
    path = expand(action.path if action.path.startswith("/") else "/" + action.path)
    default_port = {"http": "80", "https": "443"}.get(protocol)
    authority = host if port == default_port else f"{host}:{port}"
    base = f"{protocol}://{authority}{path}"
    code = 301 if action.status_code == "HTTP_301" else 302
    if not action.query:
        return [(_redirect_line(base, code), "")]
    with_query = f"{base}?{expand(action.query)}"
    if action.query == "#{query}":
        # No "?" when the request had no query string.
        return [
            (_redirect_line(with_query, code), "{ query -m len gt 0 }"),
            (_redirect_line(base, code), ""),
        ]
    return [(_redirect_line(with_query, code), "")]


def _redirect_line(location: str, code: int) -> str:
    # `return` rather than `redirect`: it can carry the Server header.
    return f"return status {code} hdr Location {quote(location)} {_ELB}"


def _condition(condition: Condition) -> str:
    field = condition.field
    if field == "host-header":
        frags = [wildcard_regex(v.lower()) for v in condition.values]
        return f"{{ {_HOST} -m reg -i {anchored(frags)} }}" if frags else ""
    if field == "path-pattern":
        frags = [wildcard_regex(v) for v in condition.values]
        return f"{{ path -m reg {anchored(frags)} }}" if frags else ""
    if field == "http-header":
        if not condition.header_name:
            raise SpecError("http-header condition without a header name")
        name = header_name(condition.header_name)
        frags = [wildcard_regex(v) for v in condition.values]
        return f"{{ req.fhdr({name}) -m reg -i {anchored(frags)} }}" if frags else ""
    if field == "http-request-method":
        frags = [literal_regex(v) for v in condition.values]
        return f"{{ method -m reg {anchored(frags)} }}" if frags else ""
    if field == "query-string":
        frags = []
        for key, value in condition.pairs:
            v = wildcard_regex(value, any_run="[^&]*", any_one="[^&]")
            k = "[^&=]*" if key is None else wildcard_regex(key, any_run="[^&=]*", any_one="[^&=]")
            frags.append(f"(?:{k}=)?{v}" if key is None else f"{k}={v}")
        if not frags:
            return ""
        body = frags[0] if len(frags) == 1 else "(?:" + "|".join(frags) + ")"
        return f"{{ query -m reg -i '(?:^|&){body}(?:&|$)' }}"
    if field == "source-ip":
        cidrs = []
        for value in condition.values:
            try:
                cidrs.append(str(ipaddress.ip_network(value, strict=False)))
            except ValueError as exc:
                raise SpecError(f"invalid source-ip CIDR {value!r}") from exc
        return f"{{ src {' '.join(cidrs)} }}" if cidrs else ""
    raise SpecError(f"unsupported condition field {field!r}")


# -- backends ---------------------------------------------------------------------------------------------


def checked_servers(spec: LoadBalancerSpec) -> list[tuple[str, str, str, int, int]]:
    """(backend, server, address, port, interval x unhealthy threshold) of every health check server
    `render` writes."""
    return [
        (
            check_backend_name(group.key, target.key),
            target.key,
            target.address,
            target.port,
            group.health_check.interval_s * group.health_check.unhealthy_threshold,
        )
        for group in spec.target_groups
        if group.health_check.enabled
        for target in group.targets
        if not target.draining
    ]


def check_backend_name(group_key: str, target_key: str) -> str:
    return f"hc_{group_key}.{target_key}"


def _backend(spec: LoadBalancerSpec, group: TargetGroup) -> list[str]:
    hc = group.health_check
    active = [t for t in group.targets if not t.draining]
    lines = [
        f"backend {backend_name(group.key)}",
        f"    # {group.name} ({group.arn})",
        "    balance " + ("leastconn" if group.algorithm == "least_outstanding_requests" else "roundrobin"),
        "    http-request disable-l7-retry if !METH_GET !METH_HEAD !METH_OPTIONS",
    ]
    if not active:
        # AWS: a target group without registered targets answers 503. Draining targets finish in-flight.
        lines.append(
            f"    http-request return status 503 content-type text/html string {quote(error_page(503))} {_ELB}"
        )
    if group.stickiness is not None:
        lines += [
            f"    cookie AWSALB insert indirect nocache maxlife {group.stickiness.duration_s}s"
            ' attr "Max-Age=604800"',
            '    http-after-response add-header Set-Cookie "AWSALBCORS=%[res.cook(AWSALB)]; Max-Age=604800;'
            ' Path=/; SameSite=None; Secure" if { res.cook(AWSALB) -m found }',
        ]
    if hc.enabled:
        # Fail open like ALB: when no target is healthy, the check-less copies serve all targets.
        lines.append("    option allbackups")
    for target in group.targets:
        lines.append("    " + _server(group, target, fallback=False))
    if hc.enabled:
        for target in active:
            lines.append("    " + _server(group, target, fallback=True))
    lines.append("")
    if hc.enabled:
        for target in active:
            lines += _check_backend(group, target)
    return lines


def _host_port(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _check_backend(group: TargetGroup, target: Target) -> list[str]:
    """A target's health check in a backend of its own, so the request can carry ALB's
    `Host: <target address>:<port>`; the serving server `track`s it."""
    hc = group.health_check
    port = hc.port or target.port
    words = [
        f"server {target.key} {_host_port(target.address, target.port)} check",
        f"inter {hc.interval_s}s fall {hc.unhealthy_threshold} rise {hc.healthy_threshold}",
    ]
    if hc.port is not None:
        words.append(f"port {hc.port}")
    if hc.protocol == "HTTPS":
        words.append("check-ssl verify none")
    return [
        f"backend {check_backend_name(group.key, target.key)}",
        "    option httpchk",
        f"    http-check send meth GET uri {quote(hc.path)} ver HTTP/1.1"
        f" hdr Host {_host_port(target.address, port)} hdr User-Agent ELB-HealthChecker/2.0",
        f"    http-check expect rstatus {status_regex(hc.matcher)}",
        f"    timeout check {hc.timeout_s}s",
        "    " + " ".join(words),
        "",
    ]


def _server(group: TargetGroup, target: Target, *, fallback: bool) -> str:
    hc = group.health_check
    name = fallback_server(target.key) if fallback else target.key
    words = [f"server {name} {_host_port(target.address, target.port)}"]
    if group.stickiness is not None:
        words.append(f"cookie {opaque(group.key + '/' + target.key)}")
    if group.protocol == "HTTPS":
        words.append("ssl verify none")
    if fallback:
        words.append("backup")
        return " ".join(words)
    if target.draining:
        # No new requests; requests in flight finish (and an old worker keeps them after a reload).
        words.append("disabled")
    elif hc.enabled:
        words.append(f"track {check_backend_name(group.key, target.key)}/{target.key}")
        if group.slow_start_s and group.algorithm != "least_outstanding_requests":
            words.append(f"slowstart {group.slow_start_s}s")
    return " ".join(words)
