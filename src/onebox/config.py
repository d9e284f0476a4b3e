"""Where onebox keeps its state and how it is configured; embedded defaults need no file."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PORT = 4566
DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "000000000000"
DEFAULT_ACCESS_KEY = "test"
DEFAULT_SECRET_KEY = "test"
# Regions onebox answers for; each has three availability zones a, b, c.
REGIONS: tuple[str, ...] = (
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-1",
    "ap-northeast-1",
)


def default_state_dir() -> Path:
    home = os.environ.get("ONEBOX_HOME")
    if home:
        return Path(home).expanduser()
    return Path("~/.local/share/onebox").expanduser()


@dataclass(frozen=True)
class KeyPair:
    access_key: str
    secret_key: str
    account_id: str


@dataclass(frozen=True)
class Config:
    """Everything the daemon needs to start. Built from defaults plus `STATE_DIR/config.json`."""

    state_dir: Path
    port: int = DEFAULT_PORT
    host: str = "127.0.0.1"
    region: str = DEFAULT_REGION
    credentials: tuple[KeyPair, ...] = field(
        default_factory=lambda: (KeyPair(DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, DEFAULT_ACCOUNT),)
    )
    # Largest request body accepted outside S3 (AWS's query/JSON APIs refuse far smaller ones).
    max_api_body: int = 16 * 1024 * 1024
    # Largest single S3 PUT (AWS's limit is 5 GiB).
    max_s3_body: int = 5 * 1024 * 1024 * 1024
    # onebox's DNS server (host/dns_server.py) listens on 127.0.0.1:dns_port.
    dns_port: int = 4553

    @property
    def endpoint(self) -> str:
        return f"http://localhost:{self.port}"

    @property
    def db_path(self) -> Path:
        return self.state_dir / "onebox.db"

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def daemon_pid_file(self) -> Path:
        return self.run_dir / "daemon.pid"

    @property
    def daemon_port_file(self) -> Path:
        """The port the running daemon listens on, so `status` and `down` find it without --port."""
        return self.run_dir / "daemon.port"


def load_config(state_dir: Path, port: int | None = None) -> Config:
    """Defaults, overridden by `state_dir/config.json` if present, then by explicit arguments.

    Without an explicit port, the port of a running daemon (run/daemon.port) wins over config.json.

    config.json keys: "port", "dns_port", "region", "credentials": [{"access_key", "secret_key", "account_id"}].
    """
    values: dict[str, object] = {}
    path = state_dir / "config.json"
    if path.exists():
        raw = json.loads(path.read_text())
        if "port" in raw:
            values["port"] = int(raw["port"])
        if "dns_port" in raw:
            values["dns_port"] = int(raw["dns_port"])
        if "region" in raw:
            values["region"] = str(raw["region"])
        if "credentials" in raw:
            values["credentials"] = tuple(
                KeyPair(str(c["access_key"]), str(c["secret_key"]), str(c["account_id"]))
                for c in raw["credentials"]
            )
    if port is None:
        running_port = state_dir / "run" / "daemon.port"
        if running_port.exists():
            port = int(running_port.read_text().strip() or DEFAULT_PORT)
    if port is not None:
        values["port"] = port
    return Config(state_dir=state_dir, **values)  # type: ignore[arg-type]
