"""The hostnames onebox hands out, made to resolve on the host and for onebox's DNS server.

Two mechanisms, one source of truth (`state_dir/names.json`):
- a managed block in /etc/hosts (when running as root), so psql, redis-cli and Python's
  `socket` resolve names on the host; removed by `onebox down`;
- the zone file of onebox's own DNS server (host/dns_server.py), which instances and the
  Route 53 work use. See docs/names.md.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from pathlib import Path

from onebox.config import Config
from onebox.host.names import HostsFile, HostsFileError

log = logging.getLogger("onebox.names")

HOSTS_PATH = Path(os.environ.get("ONEBOX_HOSTS_FILE", "/etc/hosts"))
# Names the gateway itself answers to; clients that do not resolve *.localhost need them.
GATEWAY_NAMES = ("onebox.localhost", "s3.localhost")


def hosts_tag(config: Config) -> str:
    """Distinguishes the hosts-file blocks of daemons with different state dirs."""
    return hashlib.sha1(str(config.state_dir).encode()).hexdigest()[:10]


class NameRegistry:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.path = config.state_dir / "names.json"
        self.zone_path = config.state_dir / "dns-zone.json"
        self.hosts = HostsFile(HOSTS_PATH, hosts_tag(config))
        self._lock = threading.Lock()
        self._names: dict[str, str] = {}
        if self.path.exists():
            self._names = json.loads(self.path.read_text())
        self.hosts_error: str | None = None

    def set(self, name: str, address: str) -> None:
        with self._lock:
            self._names[name.lower().rstrip(".")] = address
            self._publish()

    def remove(self, name: str) -> None:
        with self._lock:
            self._names.pop(name.lower().rstrip("."), None)
            self._publish()

    def all(self) -> dict[str, str]:
        return dict(self._names)

    def publish(self) -> None:
        with self._lock:
            self._publish()

    def _publish(self) -> None:
        _atomic_write(self.path, json.dumps(self._names, indent=1, sort_keys=True))
        records = {f"{name}.": {"A": [address]} for name, address in self._names.items()}
        _atomic_write(self.zone_path, json.dumps({"records": records}, sort_keys=True))
        try:
            self.hosts.set(self._names)
            self.hosts_error = None
        except HostsFileError as error:
            # Not root: names still resolve through onebox's DNS server; doctor explains the manual step.
            self.hosts_error = str(error)
            log.warning("cannot update %s: %s", HOSTS_PATH, error)


def clear_names(config: Config) -> None:
    """Undo the hosts-file block (on `onebox down`). The registry file stays for the next `up`."""
    try:
        HostsFile(HOSTS_PATH, hosts_tag(config)).clear()
    except HostsFileError as error:
        log.warning("cannot clean %s: %s", HOSTS_PATH, error)


def _atomic_write(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    temporary.replace(path)
