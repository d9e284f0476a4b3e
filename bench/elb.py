"""ELB: requests per second and p99 latency of a small response through onebox's rendered HAProxy,
through a minimal hand-written HAProxy configuration to the same backends, and directly to one backend;
then 100 rule changes (each a checked, hitless reload) under load, counting failed requests.

- Backends: two nginx (Debian's package) serving a 100-byte file on loopback.
- Load: wrk, 1 thread, 16 keep-alive connections, a few seconds per figure, best of two rounds
  (the machine is small; the peers are measured alternately in the same run).
- Goal: onebox's balancer at least 0.9x the hand-written HAProxy; zero failed requests during the
  100 changes (wrk's socket errors plus non-2xx answers).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from bench.peers import free_port, wait_http
from onebox.clock import Clock
from onebox.config import Config
from onebox.host.loadbalancer import apply, remove
from onebox.host.loadbalancer.spec import (
    Condition,
    FixedResponseAction,
    ForwardAction,
    HealthCheck,
    Listener,
    LoadBalancerSpec,
    Rule,
    Target,
    TargetGroup,
    WeightedGroup,
)
from onebox.host.supervisor import Supervisor, stop_all_from_pidfiles
from onebox.runtime import Runtime

T = TypeVar("T")
CONNECTIONS = 16
SECONDS = 4
ROUNDS = 2
CHANGES = 100
CHANGE_CONNECTIONS = 4
ONEBOX_ADDRESS = "127.0.0.81"
HANDWRITTEN_ADDRESS = "127.0.0.82"


@dataclasses.dataclass
class Figure:
    rps: float
    p99_ms: float
    errors: int


def _wrk(url: str, seconds: int) -> Figure:
    out = subprocess.run(
        ["wrk", "-t", "1", "-c", str(CONNECTIONS), "-d", f"{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    if not rps or not p99:
        raise RuntimeError(out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Figure(
        float(rps.group(1)), float(p99.group(1)) * scale, errors + (int(non2xx.group(1)) if non2xx else 0)
    )


@contextmanager
def _process(argv: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "ab") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


@contextmanager
def _nginx(root: Path, name: str) -> Iterator[int]:
    port = free_port()
    home = root / name
    home.mkdir()
    (home / "index.html").write_text("x" * 99 + "\n")
    conf = home / "nginx.conf"
    conf.write_text(
        f"""user root;
worker_processes 1;
daemon off;
pid {home}/nginx.pid;
error_log {home}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {home}; proxy_temp_path {home}; fastcgi_temp_path {home};
    uwsgi_temp_path {home}; scgi_temp_path {home};
    keepalive_requests 1000000;
    server {{ listen 127.0.0.1:{port}; root {home}; }}
}}
"""
    )
    with _process(["nginx", "-c", str(conf)], home / "out.log"):
        wait_http(f"http://127.0.0.1:{port}/index.html", 10)
        yield port


@contextmanager
def _handwritten(root: Path, port: int, backends: list[int]) -> Iterator[None]:
    conf = root / "handwritten.cfg"
    servers = "\n".join(f"    server s{i} 127.0.0.1:{p}" for i, p in enumerate(backends))
    conf.write_text(
        f"""global
    log stderr format short local0 notice
defaults
    mode http
    timeout connect 10s
    timeout client 60s
    timeout server 60s
frontend web
    bind {HANDWRITTEN_ADDRESS}:{port}
    default_backend app
backend app
    balance roundrobin
{servers}
"""
    )
    with _process(["haproxy", "-db", "-f", str(conf)], root / "handwritten.log"):
        wait_http(f"http://{HANDWRITTEN_ADDRESS}:{port}/index.html", 10)
        yield


class _Loop:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(120)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def _spec(port: int, backends: list[int], rule: int | None = None) -> LoadBalancerSpec:
    group = TargetGroup(
        key="app",
        arn="arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/app/0",
        name="app",
        targets=tuple(Target(f"t{i}", f"i-{i}", "127.0.0.1", p) for i, p in enumerate(backends)),
        health_check=HealthCheck(interval_s=5, healthy_threshold=2, path="/index.html"),
    )
    rules = ()
    if rule is not None:
        # A changed rule each time; the default action (what wrk requests) stays a forward.
        rules = (
            Rule(
                1,
                (Condition("path-pattern", (f"/changed-{rule}/*",)),),
                FixedResponseAction(200, "text/plain", str(rule)),
            ),
            Rule(
                2,
                (Condition("http-header", (f"v{rule}",), header_name="X-Version"),),
                ForwardAction((WeightedGroup("app"),)),
            ),
        )
    return LoadBalancerSpec(
        key="bench",
        arn="arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/bench/0",
        name="bench",
        dns_name="bench-0.us-east-1.elb.localhost",
        address=ONEBOX_ADDRESS,
        listeners=(Listener("web", port, "HTTP", ForwardAction((WeightedGroup("app"),)), rules=rules),),
        target_groups=(group,),
    )


def _changes_under_load(
    loop: _Loop, runtime: Runtime, url: str, port: int, backends: list[int]
) -> tuple[Figure, float]:
    result: list[Figure] = []
    seconds = 600
    wrk = threading.Thread(target=lambda: result.append(_wrk_until(url, seconds, done)))
    done = threading.Event()
    wrk.start()
    time.sleep(0.5)
    started = time.monotonic()
    try:
        for n in range(CHANGES):
            loop.run(apply(runtime, _spec(port, backends, n)))
    finally:
        elapsed = time.monotonic() - started
        time.sleep(0.5)
        done.set()
        wrk.join(60)
    return result[0], elapsed


def _wrk_until(url: str, limit: int, done: threading.Event) -> Figure:
    """wrk running until `done` is set (interrupted with SIGINT, it prints its summary). Fewer
    connections than the throughput figures: the reloads need some of the machine's two cores."""
    process = subprocess.Popen(
        ["wrk", "-t", "1", "-c", str(CHANGE_CONNECTIONS), "-d", f"{limit}s", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    done.wait(limit)
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=30)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    total = re.search(r"(\d+) requests in", out)
    if not rps or not total:
        raise RuntimeError(out)
    return Figure(float(total.group(1)), 0.0, errors + (int(non2xx.group(1)) if non2xx else 0))


def run() -> None:
    if shutil.which("haproxy") is None or shutil.which("nginx") is None:
        print("elb: skipped (needs haproxy and nginx)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.chmod(root, 0o755)
        loop = _Loop()
        config = Config(state_dir=root / "state")
        supervisor = Supervisor(config.run_dir, config.log_dir, Clock())
        runtime = Runtime(config=config, clock=Clock(), store=None, credentials=None, supervisor=supervisor)  # type: ignore[arg-type]
        try:
            loop.run(supervisor.start())
            with _nginx(root, "one") as one, _nginx(root, "two") as two:
                backends = [one, two]
                port = free_port()
                loop.run(apply(runtime, _spec(port, backends)))
                with _handwritten(root, port, backends):
                    ours_url = f"http://{ONEBOX_ADDRESS}:{port}/index.html"
                    hand_url = f"http://{HANDWRITTEN_ADDRESS}:{port}/index.html"
                    direct_url = f"http://127.0.0.1:{one}/index.html"
                    wait_http(ours_url, 10)
                    for url in (ours_url, hand_url, direct_url):
                        _wrk(url, 1)  # warm-up
                    best: dict[str, Figure] = {}
                    for _ in range(ROUNDS):
                        for name, url in (
                            ("onebox", ours_url),
                            ("handwritten", hand_url),
                            ("direct", direct_url),
                        ):
                            figure = _wrk(url, SECONDS)
                            if name not in best or figure.rps > best[name].rps:
                                best[name] = figure
                    for name, figure in best.items():
                        print(
                            f"  {name:<12} {figure.rps:>10.0f} req/s   p99 {figure.p99_ms:7.2f} ms   errors {figure.errors}"
                        )
                    ratio = best["onebox"].rps / best["handwritten"].rps
                    print(
                        f"  onebox ALB vs hand-written HAProxy: {ratio:.2f}x req/s (goal >= 0.9x), "
                        f"p99 {best['onebox'].p99_ms / best['handwritten'].p99_ms:.2f}x; "
                        f"vs one backend directly: {best['onebox'].rps / best['direct'].rps:.2f}x req/s"
                    )
                figure, elapsed = _changes_under_load(loop, runtime, ours_url, port, backends)
                print(
                    f"  {CHANGES} rule changes under load in {elapsed:.1f} s: {figure.rps:.0f} requests, "
                    f"{figure.errors} failed (goal 0)"
                )
                loop.run(remove(runtime, "bench"))
        finally:
            loop.run(supervisor.stop_all())
            loop.close()
            stop_all_from_pidfiles(config.run_dir, timeout=1)


if __name__ == "__main__":
    run()
