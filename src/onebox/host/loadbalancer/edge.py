"""The shared edge: one HAProxy ("elb-edge") bound to 127.0.0.1:PORT (and [::1]:PORT) for every listener
port in use, handing each connection to the balancer its name belongs to.

curl and browsers resolve `*.localhost` to loopback themselves, and balancers' DNS names end in
`.elb.localhost`, so `http://NAME-ID.REGION.elb.localhost:PORT/` arrives here. HTTP is routed on the
Host header, HTTPS on the TLS SNI (TLS passes through; the balancer terminates it), in TCP mode, to the
unix socket the balancer's listener also binds, with PROXY v2 so the balancer sees the real client.
"""

from __future__ import annotations

import json
import logging
import re
import socket
from collections.abc import Iterable
from pathlib import Path

from onebox.host.loadbalancer.paths import BalancerPaths
from onebox.host.loadbalancer.spec import LoadBalancerSpec
from onebox.host.loadbalancer.syntax import quote

log = logging.getLogger(__name__)

PROCESS_NAME = "elb-edge"
EDGE_ADDRESS = "127.0.0.1"
_DNS_NAME = re.compile(r"^[a-z0-9.-]+$")


def _name(dns_name: str) -> str:
    name = dns_name.lower().rstrip(".")
    if not _DNS_NAME.match(name):
        raise ValueError(f"invalid DNS name {dns_name!r}")
    return name


def render_edge(
    specs: Iterable[tuple[LoadBalancerSpec, BalancerPaths]],
    paths: BalancerPaths,
    ports: list[int],
    ipv6: bool,
) -> str:
    routes: dict[int, list[tuple[str, str, str]]] = {port: [] for port in ports}  # protocol, name, backend
    backends: list[str] = []
    for spec, lb_paths in specs:
        for listener in spec.listeners:
            if listener.port not in routes:
                continue
            backend = f"to_{spec.key}_{listener.port}"
            routes[listener.port].append((listener.protocol, _name(spec.dns_name), backend))
            backends += [
                f"backend {backend}",
                f"    server lb {quote('unix@' + str(lb_paths.listener_socket(listener.port)))} send-proxy-v2",
                "",
            ]
    lines = [
        "# onebox ALB edge: loopback ports to balancers by Host / SNI",
        "global",
        "    master-worker",
        f"    stats socket {quote(str(paths.stats_socket))} mode 600 level admin expose-fd listeners",
        "    hard-stop-after 3600s",
        "    log stderr format short local0 notice",
        "",
        "defaults",
        "    mode tcp",
        "    timeout connect 5s",
        "    timeout client 3600s",
        "    timeout server 3600s",
        "",
    ]
    for port in sorted(routes):
        lines += [
            f"frontend edge_{port}",
            f"    bind {EDGE_ADDRESS}:{port}",
        ]
        if ipv6:
            lines.append(f"    bind [::1]:{port}")
        lines += [
            "    tcp-request inspect-delay 5s",
            "    tcp-request content accept if { req.ssl_hello_type 1 }",
            "    tcp-request content accept if HTTP",
        ]
        for protocol, name, backend in routes[port]:
            if protocol == "HTTPS":
                lines.append(f"    use_backend {backend} if {{ req.ssl_sni -i {name} }}")
            else:
                lines.append(f"    use_backend {backend} if HTTP {{ req.hdr(host),field(1,:) -i {name} }}")
        if len(routes[port]) == 1:
            # One balancer on this port: it also answers for 127.0.0.1 and localhost.
            lines.append(f"    default_backend {routes[port][0][2]}")
        lines.append("")
    return "\n".join(lines + backends) + "\n"


def ports_file(paths: BalancerPaths) -> Path:
    return paths.root / "ports.json"


def bound_ports(paths: BalancerPaths) -> set[int]:
    try:
        return set(json.loads(ports_file(paths).read_text()))
    except (OSError, ValueError):
        return set()


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((EDGE_ADDRESS, port))
        except OSError:
            return False
    return True


def ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def choose_ports(wanted: set[int], ours: set[int]) -> list[int]:
    """The listener ports the edge can serve: those it already holds, and free ones."""
    chosen = []
    for port in sorted(wanted):
        if port in ours or port_free(port):
            chosen.append(port)
        else:
            log.warning(
                "127.0.0.1:%d is taken by another program: balancers on port %d are reachable only at "
                "their own addresses",
                port,
                port,
            )
    return chosen
