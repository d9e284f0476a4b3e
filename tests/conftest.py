"""Shared fixtures: free ports and a live onebox daemon started the way users start it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ONEBOX = [sys.executable, "-m", "onebox.cli"]
# A second configured key pair: its own account, to prove accounts isolate resources.
OTHER_ACCESS_KEY = "AKIAONEBOXOTHER00001"
OTHER_SECRET_KEY = "other-secret"
OTHER_ACCOUNT = "111111111111"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def process_gone(pid: int, timeout: float = 10.0) -> bool:
    """Whether process `pid` (one the test killed) is gone within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.02)
    return False


@dataclass
class LiveOnebox:
    state_dir: Path
    port: int

    @property
    def endpoint(self) -> str:
        return f"http://localhost:{self.port}"

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [*ONEBOX, *args]
        if args and args[0] in ("up", "down", "status"):
            command += ["--state-dir", str(self.state_dir)]
        if args and args[0] == "up":
            command += ["--port", str(self.port)]
        return subprocess.run(command, capture_output=True, text=True, check=check, timeout=120)

    def client(self, service: str, **kwargs: object):  # noqa: ANN201 - boto3 clients are untyped
        import boto3
        from botocore.config import Config

        kwargs.setdefault("aws_access_key_id", "test")
        kwargs.setdefault("aws_secret_access_key", "test")
        kwargs.setdefault("region_name", "us-east-1")
        kwargs.setdefault("config", Config(retries={"max_attempts": 1}))
        return boto3.client(service, endpoint_url=self.endpoint, **kwargs)

    def aws(
        self, *args: str, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """The AWS CLI (awscli from PyPI, in our venv) pointed at this onebox."""
        environment = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            **(env or {}),
        }
        aws = str(Path(sys.executable).parent / "aws")
        return subprocess.run(
            [aws, "--endpoint-url", self.endpoint, "--output", "json", *args],
            capture_output=True,
            text=True,
            check=check,
            env=environment,
            timeout=120,
        )


def start_onebox(state_dir: Path, port: int | None = None) -> LiveOnebox:
    box = LiveOnebox(state_dir, port or free_port())
    state_dir.mkdir(parents=True, exist_ok=True)
    config = state_dir / "config.json"
    if not config.exists():
        config.write_text(
            json.dumps(
                {
                    "dns_port": free_port(),
                    "credentials": [
                        {"access_key": "test", "secret_key": "test", "account_id": "000000000000"},
                        {
                            "access_key": OTHER_ACCESS_KEY,
                            "secret_key": OTHER_SECRET_KEY,
                            "account_id": OTHER_ACCOUNT,
                        },
                    ],
                }
            )
        )
    result = box.cli("up", "--detach", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return box


@pytest.fixture(scope="session")
def onebox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveOnebox]:
    """One daemon shared by the read-mostly integration tests of a session."""
    box = start_onebox(tmp_path_factory.mktemp("onebox-state"))
    try:
        yield box
    finally:
        box.cli("down", check=False)


@pytest.fixture
def fresh_onebox(tmp_path: Path) -> Iterator[LiveOnebox]:
    """A daemon of the test's own, for tests that stop, kill or restart it."""
    box = start_onebox(tmp_path / "state")
    try:
        yield box
    finally:
        box.cli("down", check=False)
