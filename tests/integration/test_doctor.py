"""`onebox doctor` reports what the host has and how to fix what it lacks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

ONEBOX = [sys.executable, "-m", "onebox.cli"]


def _doctor(port: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ONEBOX, "doctor", "--port", str(port)], capture_output=True, text=True, timeout=60
    )


def test_doctor_reports_the_host() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    result = _doctor(free)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout
    assert ("running as root" if os.geteuid() == 0 else "not root") in lines
    assert "cgroup v1" in lines or "cgroup v2" in lines
    assert "namespaces" in lines
    assert f"port {free}" in lines and "free on 127.0.0.1" in lines
    # Every data-plane program is either found with its version or comes with an apt fix.
    for name in ("haproxy", "redis-server", "memcached"):
        row = next(line for line in lines.splitlines() if f"] {name}" in line)
        if "MISS" in row:
            assert "apt-get install" in lines.split(row, 1)[1].splitlines()[1]


def test_doctor_names_a_busy_port() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _doctor(port)
    assert f"port {port}" in result.stdout and "in use" in result.stdout
    assert "--port" in result.stdout
