"""Starting and stopping what the benchmarks compare: onebox and moto's server, on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ONEBOX = [sys.executable, "-m", "onebox.cli"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_http(url: str, timeout: float = 60.0) -> float:
    """Seconds until `url` answers any HTTP status."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            urllib.request.urlopen(url, timeout=1)
            return time.monotonic() - started
        except urllib.error.HTTPError:
            return time.monotonic() - started
        except OSError:
            time.sleep(0.005)
    raise TimeoutError(url)


@contextmanager
def onebox() -> Iterator[tuple[str, float]]:
    """A fresh onebox in a temp state dir: yields (endpoint, seconds `up --detach` took)."""
    with tempfile.TemporaryDirectory() as state:
        port = free_port()
        Path(state, "config.json").write_text(f'{{"dns_port": {free_port()}}}')
        started = time.monotonic()
        subprocess.run(
            [*ONEBOX, "up", "--detach", "--port", str(port), "--state-dir", state],
            check=True,
            capture_output=True,
        )
        elapsed = time.monotonic() - started
        try:
            yield f"http://127.0.0.1:{port}", elapsed
        finally:
            subprocess.run([*ONEBOX, "down", "--state-dir", state], capture_output=True)


@contextmanager
def moto_server() -> Iterator[tuple[str, float]]:
    """moto's standalone server (moto[server] from PyPI): yields (endpoint, seconds to first answer)."""
    port = free_port()
    moto = Path(sys.executable).parent / "moto_server"
    started = time.monotonic()
    process = subprocess.Popen(
        [str(moto), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        elapsed = wait_http(f"http://127.0.0.1:{port}/moto-api/")
        elapsed = time.monotonic() - started
        yield f"http://127.0.0.1:{port}", elapsed
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
