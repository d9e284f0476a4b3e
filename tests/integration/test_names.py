"""Names onebox hands out resolve for ordinary clients on the host while it runs, and are removed by down."""

from __future__ import annotations

import json
import os
import socket
import urllib.request
from pathlib import Path

from onebox.config import load_config
from onebox.names import hosts_tag


def _hosts_block_present(state_dir: Path) -> bool:
    tag = hosts_tag(load_config(state_dir.resolve()))
    return f"# BEGIN onebox {tag}" in Path("/etc/hosts").read_text()


def test_names_resolve_on_the_host_and_are_removed_by_down(fresh_onebox) -> None:
    box = fresh_onebox
    with urllib.request.urlopen(f"{box.endpoint}/_onebox/status", timeout=5) as response:
        status = json.loads(response.read())
    assert status["names"]["s3.localhost"] == "127.0.0.1"
    if os.geteuid() != 0:
        # Without root the hosts file cannot change: status says so, and docs/names.md has the manual step.
        assert status["hosts_file_error"]
        return
    assert status["hosts_file_error"] is None
    assert _hosts_block_present(box.state_dir)
    addresses = {info[4][0] for info in socket.getaddrinfo("onebox.localhost", 80, socket.AF_INET)}
    assert addresses == {"127.0.0.1"}
    box.cli("down")
    assert not _hosts_block_present(box.state_dir)
