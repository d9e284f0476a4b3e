"""What the load balancer data-plane tests share: loopback HTTP backends in threads, an event loop in a
thread running a real Supervisor, and an HTTP client that sets Host and connects where told."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import threading
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

from onebox.clock import Clock
from onebox.config import Config
from onebox.host.supervisor import Supervisor, stop_all_from_pidfiles
from onebox.runtime import Runtime

T = TypeVar("T")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _answer(self) -> None:
        backend = self.server.backend
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        path = self.path.split("?", 1)[0]
        if path == backend.health_path:
            backend.health_checks += 1
            status, body = backend.health_status, b"health"
        else:
            backend.requests.append(
                {"method": self.command, "path": self.path, "headers": dict(self.headers)}
            )
            if path.startswith("/slow"):
                time.sleep(backend.slow_s)
            status = 200
            body = json.dumps(
                {
                    "backend": backend.name,
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                }
            ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _answer

    def handle_one_request(self) -> None:
        # Custom methods (http-request-method conditions) get the same answer.
        try:
            super().handle_one_request()
        except ConnectionError:
            self.close_connection = True

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):
            return self._answer
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    backend: Backend


@dataclass
class Backend:
    """A loopback HTTP target: answers JSON naming itself and echoing the request's path and headers."""

    name: str
    port: int = 0
    health_path: str = "/health"
    health_status: int = 200
    slow_s: float = 2.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    health_checks: int = 0
    _server: _Server | None = None
    _thread: threading.Thread | None = None

    def start(self) -> Backend:
        server = _Server(("127.0.0.1", self.port), _Handler)
        server.backend = self
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the listening socket: new connections are refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@contextmanager
def backends(*names: str) -> Iterator[list[Backend]]:
    started = [Backend(name).start() for name in names]
    try:
        yield started
    finally:
        for backend in started:
            backend.stop()


class LoopThread:
    """An asyncio loop in a thread: the supervisor's monitors run there while the test makes requests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


@contextmanager
def data_plane(state_dir: Path) -> Iterator[tuple[LoopThread, Runtime]]:
    """A Runtime with a real Supervisor (no daemon), torn down with every process it started."""
    loop = LoopThread()
    config = Config(state_dir=state_dir)
    supervisor = Supervisor(config.run_dir, config.log_dir, Clock(), poll_interval=0.05)
    runtime = Runtime(config=config, clock=Clock(), store=None, credentials=None, supervisor=supervisor)  # type: ignore[arg-type]
    try:
        loop.run(supervisor.start())
        yield loop, runtime
    finally:
        try:
            loop.run(supervisor.stop_all(), timeout=30)
            loop.run(supervisor.detach(), timeout=10)
        finally:
            loop.close()
            stop_all_from_pidfiles(config.run_dir, timeout=1)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    cookies: list[str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def backend(self) -> str:
        return str(self.json()["backend"])


def request(
    address: str,
    port: int,
    path: str = "/",
    *,
    host: str | None = None,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    timeout: float = 10,
    source: str | None = None,
) -> Reply:
    conn = http.client.HTTPConnection(
        address, port, timeout=timeout, source_address=(source, 0) if source else None
    )
    try:
        all_headers = dict(headers or {})
        all_headers.setdefault("Host", host or f"{address}:{port}")
        conn.request(method, path, headers=all_headers)
        response = conn.getresponse()
        body = response.read()
        return Reply(
            response.status,
            {k.lower(): v for k, v in response.getheaders()},
            response.headers.get_all("Set-Cookie") or [],
            body,
        )
    finally:
        conn.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(predicate: Any, timeout: float = 30, interval: float = 0.1, message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {message}"
        time.sleep(interval)


def make_certificate(directory: Path, *names: str) -> tuple[Path, Path]:
    """A self-signed certificate for `names` as HAProxy's PEM (cert + key) and the CA file for curl."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    directory.mkdir(parents=True, exist_ok=True)
    pem = directory / f"{names[0]}.pem"
    pem.write_bytes(cert_pem + key_pem)
    ca = directory / f"{names[0]}.ca.pem"
    ca.write_bytes(cert_pem)
    return pem, ca
