"""Where one balancer's HAProxy keeps its files: configuration, server state, and unix sockets."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

# sun_path holds 108 bytes; leave room for the longest socket name below.
_MAX_SOCKET_DIR = 80


@dataclass(frozen=True)
class BalancerPaths:
    """Files of one HAProxy (a balancer, or the shared edge). `root` is under the daemon's state dir;
    sockets live there too unless that path is too long for a unix socket (then a short private
    directory under /tmp named after it)."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "haproxy.cfg"

    @property
    def candidate(self) -> Path:
        """Where a new configuration is written and checked before it replaces `config`."""
        return self.root / "haproxy.cfg.new"

    @property
    def applied(self) -> Path:
        """The fingerprint of the installed configuration (its text plus the certificates it reads)."""
        return self.root / "applied.sha256"

    @property
    def server_state(self) -> Path:
        """Health and weights dumped before a reload, loaded by the new worker (server-state-file)."""
        return self.root / "server-state"

    @property
    def sockets(self) -> Path:
        own = self.root / "sock"
        if len(str(own)) <= _MAX_SOCKET_DIR:
            return own
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:20]
        return Path(tempfile.gettempdir()) / f"onebox-elb-{digest}"

    @property
    def stats_socket(self) -> Path:
        """The runtime API (level admin): show stat, show servers state, ..."""
        return self.sockets / "stats.sock"

    @property
    def master_socket(self) -> Path:
        return self.sockets / "master.sock"

    def listener_socket(self, port: int) -> Path:
        """The unix socket each listener also binds (accept-proxy) for the shared edge to forward to."""
        return self.sockets / f"port-{port}.sock"

    def make(self) -> None:
        for path in (self.root, self.sockets):
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(0o700)

    def remove(self) -> None:
        shutil.rmtree(self.sockets, ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)


EDGE_KEY = "edge"


def elb_dir(state_dir: Path) -> Path:
    return Path(state_dir) / "elb"


def balancer_paths(state_dir: Path, key: str) -> BalancerPaths:
    if key == EDGE_KEY or not key or "/" in key or key.startswith("."):
        raise ValueError(f"invalid load balancer key {key!r}")
    return BalancerPaths(elb_dir(state_dir) / key)


def edge_paths(state_dir: Path) -> BalancerPaths:
    return BalancerPaths(elb_dir(state_dir) / EDGE_KEY)
