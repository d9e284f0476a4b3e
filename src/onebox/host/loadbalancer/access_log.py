"""Access logs: what each balancer's HAProxy logs per request, how the daemon receives it, and how one
record becomes a line of ALB's access-log format.

With access logs on, every listener frontend logs one raw record per request (a JSON array, see
`LOG_FORMAT`) to the daemon's datagram socket (`socket_path`). `Collector` receives them and keeps them
per balancer until the elbv2 service turns them into ALB's lines (`aws_line`) and delivers them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import socket
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from onebox.host.loadbalancer.paths import elb_dir
from onebox.host.loadbalancer.spec import LoadBalancerSpec

log = logging.getLogger(__name__)

_MAX_SOCKET_PATH = 100
RECEIVE_BUFFER = 4 * 1024 * 1024
MAX_RECORD = 16384

# One request, as HAProxy knows it when the response ends. Strings pass through `json(utf8s)` so any
# header value stays one JSON string; a missing one is HAProxy's "-".
_FIELDS = (
    '"%f"',  # frontend (listener)
    "%[fc_http_major]",
    "%[date]",
    "%[date_us]",
    '"%ci"',
    "%cp",
    "%Ts",  # accept time
    '"%b"',  # backend (target group)
    '"%s"',  # server (target key)
    '"%si"',
    '"%sp"',
    "%TR",
    "%Tw",
    "%Tc",
    "%Tr",
    "%Ta",
    "%ST",
    "%U",
    "%B",
    '"%[capture.req.method,json(utf8s)]"',
    '"%[capture.req.uri,json(utf8s)]"',
    '"%[capture.req.ver,json(utf8s)]"',
    '"%[var(txn.host),json(utf8s)]"',
    '"%[var(txn.ua),json(utf8s)]"',
    '"%sslc"',
    '"%sslv"',
    '"%[var(txn.trace),json(utf8s)]"',
    '"%[var(txn.sni),json(utf8s)]"',
    '"%[var(txn.r)]"',
    '"%[var(txn.loc),json(utf8s)]"',
)


def log_format(key: str) -> str:
    """The `log-format` of a balancer's frontends (single-quoted for HAProxy's parser)."""
    return "'[\"" + key + '",' + ",".join(_FIELDS) + "]'"


def socket_path(state_dir: Path) -> Path:
    """The daemon's datagram socket every balancer logs to (short enough for a unix socket)."""
    own = elb_dir(state_dir) / "access-log.sock"
    if len(str(own)) <= _MAX_SOCKET_PATH:
        return own
    digest = hashlib.sha256(str(own).encode()).hexdigest()[:20]
    return Path(tempfile.gettempdir()) / f"onebox-elb-log-{digest}.sock"


def frontend_lines(spec: LoadBalancerSpec, https: bool, path: Path) -> list[str]:
    """What a frontend needs to log its requests: the values captured before the rules run, and the
    log target and format."""
    lines = [
        "    http-request set-var(txn.trace) req.fhdr(x-amzn-trace-id)",
        "    http-request set-var(txn.host) req.hdr(host),field(1,:)",
        "    http-request set-var(txn.ua) req.fhdr(user-agent)",
        "    http-after-response set-var(txn.loc) res.hdr(location)",
        f"    log {path} len {MAX_RECORD} format raw local0 info",
        f"    log-format {log_format(spec.key)}",
    ]
    if https:
        lines.insert(0, "    http-request set-var(txn.sni) ssl_fc_sni")
    return lines


# -- receiving ---------------------------------------------------------------------------------------


class Collector(asyncio.DatagramProtocol):
    """Receives every balancer's records; `take(key)` hands over (and forgets) one balancer's."""

    def __init__(self) -> None:
        self.records: dict[str, list[list[Any]]] = {}
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        try:
            record = json.loads(data.decode("utf-8", "replace").strip())
        except ValueError:
            # HAProxy's own notices (a proxy stopping at a reload) go to the same target.
            log.debug("elb access log: not a request record: %r", data[:200])
            return
        if isinstance(record, list) and record and isinstance(record[0], str):
            self.records.setdefault(record[0], []).append(record[1:])

    def take(self, key: str) -> list[list[Any]]:
        return self.records.pop(key, [])

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def start_collector(state_dir: Path) -> Collector:
    path = socket_path(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
    sock.bind(str(path))
    path.chmod(0o600)
    sock.setblocking(False)
    collector = Collector()
    await asyncio.get_running_loop().create_datagram_endpoint(lambda: collector, sock=sock)
    return collector


# -- ALB's format ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Listener:
    scheme: str
    port: int
    priorities: tuple[int, ...]
    default_certificate: str


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _quoted(value: str) -> str:
    return '"' + value.replace('"', '\\"') + '"'


def _seconds(ms: int) -> str:
    return f"{ms / 1000:.3f}"


class Formatter:
    """Turns one balancer's raw records into ALB access-log lines, with the balancer's current spec."""

    def __init__(self, spec: LoadBalancerSpec) -> None:
        from onebox.host.loadbalancer.render import backend_name, frontend_name

        self.elb = "app/" + spec.arn.split(":loadbalancer/app/", 1)[-1]
        self.listeners = {
            frontend_name(listener.key): _Listener(
                "https" if listener.protocol == "HTTPS" else "http",
                listener.port,
                tuple(rule.priority for rule in sorted(listener.rules, key=lambda r: r.priority)),
                listener.certificates[0].arn if listener.certificates else "",
            )
            for listener in spec.listeners
        }
        self.groups = {backend_name(group.key): group.arn for group in spec.target_groups}

    def line(self, record: list[Any]) -> tuple[float, str] | None:
        """(time, line), or None for a record that is not one request."""
        try:
            (
                frontend, http_major, date, date_us, client_ip, client_port, accepted, backend, server,
                server_ip, server_port, t_request, t_wait, t_connect, t_response, t_active, status,
                received, sent, method, uri, version, host, agent, cipher, protocol, trace, sni,
                rule_index, location,
            ) = record  # fmt: skip
            when = int(date) + int(date_us) / 1e6
            t_request, t_wait, t_connect, t_response, t_active = (
                int(t_request), int(t_wait), int(t_connect), int(t_response), int(t_active),
            )  # fmt: skip
        except (TypeError, ValueError):
            return None
        listener = self.listeners.get(frontend)
        if listener is None:
            return None
        kind = listener.scheme
        if http_major == 2:
            kind = "h2"
        group_arn = self.groups.get(backend, "-")
        served = server not in ("-", "<NOSRV>", "") and server_ip not in ("-", "")
        responded = served and t_response >= 0
        target = f"{server_ip}:{server_port}" if served else "-"
        request_time = _seconds(max(t_wait, 0) + max(t_connect, 0)) if served else "-1"
        target_time = _seconds(t_response) if responded else "-1"
        response_time = "0.000" if responded else "-1"
        scheme = "https" if listener.scheme == "https" else "http"
        request = "- - - "
        if method != "-":
            request = f"{method} {scheme}://{host if host != '-' else ''}:{listener.port}{uri} {version}"
        priority = "0"
        if rule_index not in ("-", ""):
            try:
                priority = str(listener.priorities[int(rule_index) - 1])
            except (ValueError, IndexError):
                priority = "-"
        if group_arn != "-":
            action = "forward"
        elif location != "-":
            action = "redirect"
        elif method != "-":
            action = "fixed-response"
        else:
            action = "-"
        certificate = listener.default_certificate if listener.scheme == "https" else ""
        fields = [
            kind,
            _iso(when),
            self.elb,
            f"{client_ip}:{client_port}",
            target,
            request_time,
            target_time,
            response_time,
            str(status),
            str(status) if responded else "-",
            str(received),
            str(sent),
            _quoted(request),
            _quoted(agent),
            cipher if cipher else "-",
            protocol if protocol else "-",
            group_arn,
            _quoted(trace),
            _quoted(sni if sni else "-"),
            _quoted(certificate or "-"),
            priority,
            _iso(when - max(t_active, 0) / 1000),
            _quoted(action),
            _quoted(location if action == "redirect" else "-"),
            _quoted("-"),
            _quoted(target),
            _quoted(str(status) if responded else "-"),
            _quoted("-"),
            _quoted("-"),
            "TID_" + hashlib.sha256(f"{client_ip}:{client_port}:{accepted}".encode()).hexdigest()[:32],
        ]
        return when, " ".join(fields)
