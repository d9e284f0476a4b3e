"""`onebox up/down/status`, restarts and `kill -9`: state survives, supervised children are adopted."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import urllib.request
from pathlib import Path

from tests.conftest import process_gone


def _dns_query(port: int, name: str) -> list[str]:
    """Ask onebox's DNS server with dig, as a user would."""
    result = subprocess.run(
        ["dig", "@127.0.0.1", "-p", str(port), "+short", "+time=2", "+tries=1", name],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.split()


def _status(box) -> dict:
    with urllib.request.urlopen(f"{box.endpoint}/_onebox/status", timeout=5) as response:
        return json.loads(response.read())


def _dns_port(box) -> int:
    return json.loads((box.state_dir / "config.json").read_text())["dns_port"]


def test_up_status_down(fresh_onebox) -> None:
    box = fresh_onebox
    with urllib.request.urlopen(f"{box.endpoint}/_onebox/health", timeout=5) as response:
        assert json.loads(response.read())["status"] == "ok"
    status = box.cli("status")
    assert "onebox is running" in status.stdout and "dns" in status.stdout
    again = box.cli("up", "--detach")
    assert "already running" in again.stdout
    processes = {p["name"]: p for p in _status(box)["processes"]}
    dns_pid = processes["dns"]["pid"]
    assert processes["dns"]["state"] == "running"
    assert _dns_query(_dns_port(box), "s3.localhost") == ["127.0.0.1"]

    down = box.cli("down")
    assert "stopped" in down.stdout
    assert process_gone(dns_pid), "down left the DNS server running"
    assert box.cli("status", check=False).returncode == 3
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", box.port)) != 0


def test_state_survives_restart(fresh_onebox) -> None:
    box = fresh_onebox
    created = box.client("ec2").create_key_pair(KeyName="survivor")
    box.cli("down")
    box.cli("up", "--detach")
    pairs = box.client("ec2").describe_key_pairs()["KeyPairs"]
    assert [(k["KeyName"], k["KeyPairId"]) for k in pairs] == [("survivor", created["KeyPairId"])]


def test_kill_9_keeps_children_serving_and_next_up_adopts_them(fresh_onebox) -> None:
    box = fresh_onebox
    created = box.client("ec2").create_key_pair(KeyName="acknowledged")
    daemon_pid = int((box.state_dir / "run" / "daemon.pid").read_text())
    dns_pid = {p["name"]: p for p in _status(box)["processes"]}["dns"]["pid"]

    os.kill(daemon_pid, signal.SIGKILL)
    assert process_gone(daemon_pid)
    # The data plane keeps serving while the daemon is down.
    assert _dns_query(_dns_port(box), "s3.localhost") == ["127.0.0.1"]
    os.kill(dns_pid, 0)

    box.cli("up", "--detach")
    adopted = {p["name"]: p for p in _status(box)["processes"]}["dns"]
    assert adopted["pid"] == dns_pid and adopted["state"] == "running"
    pairs = box.client("ec2").describe_key_pairs()["KeyPairs"]
    assert [k["KeyPairId"] for k in pairs] == [created["KeyPairId"]]

    box.cli("down")
    assert process_gone(dns_pid)


def test_down_after_crash_stops_orphans(fresh_onebox) -> None:
    box = fresh_onebox
    daemon_pid = int((box.state_dir / "run" / "daemon.pid").read_text())
    dns_pid = {p["name"]: p for p in _status(box)["processes"]}["dns"]["pid"]
    os.kill(daemon_pid, signal.SIGKILL)
    assert process_gone(daemon_pid)
    result = box.cli("down")
    assert "dns" in result.stdout
    assert process_gone(dns_pid)
    assert not list(Path(box.state_dir, "run").glob("*.json"))
