"""An acknowledged write survives `kill -9`; an unacknowledged transaction leaves no trace."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from onebox.clock import Clock
from onebox.store import Store

KIND = "test:thing"
ACCOUNT = "123456789012"
REGION = "us-east-1"

# Writes forever, printing each id only after `create` returned: a printed id is an acknowledged write.
WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from onebox.clock import Clock
    from onebox.store import Store

    store = Store.open(Path(sys.argv[1]), Clock())
    i = 0
    while True:
        store.create("test:thing", "123456789012", "us-east-1", f"t-{i}", arn=f"arn:t-{i}", spec={"i": i})
        print(f"t-{i}", flush=True)
        i += 1
        if sys.argv[2] == "tx" and i == 5:
            with store.transaction():
                store.create("test:thing", "123456789012", "us-east-1", "in-tx-1", arn="a", spec={})
                store.create("test:thing", "123456789012", "us-east-1", "in-tx-2", arn="a", spec={})
                print("in-tx", flush=True)
                time.sleep(60)
    """
)


def run_and_kill(path: Path, mode: str, kill_after: str) -> list[str]:
    """Start the writer, SIGKILL it as soon as it prints `kill_after`; return every line it printed."""
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), mode],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")},
    )
    assert child.stdout is not None
    lines: list[str] = []
    try:
        for line in child.stdout:
            lines.append(line.strip())
            if line.strip() == kill_after:
                os.kill(child.pid, signal.SIGKILL)  # right after the write returned
                break
    finally:
        child.kill()
        # Lines the child printed between our read and its death were acknowledged too.
        rest, _ = child.communicate(timeout=10)
    lines.extend(line for line in rest.splitlines() if line)
    assert child.returncode == -signal.SIGKILL
    return lines


def test_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    acknowledged = run_and_kill(path, "plain", kill_after="t-40")
    assert "t-40" in acknowledged

    store = Store.open(path, Clock())
    try:
        stored = {record.id for record in store.list(KIND, ACCOUNT, REGION)}
    finally:
        store.close()
    assert set(acknowledged) <= stored
    # At most the one write in flight at the kill may have landed without being printed.
    assert len(stored - set(acknowledged)) <= 1
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_uncommitted_transaction_is_lost_whole_on_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    acknowledged = run_and_kill(path, "tx", kill_after="in-tx")
    assert acknowledged[:5] == [f"t-{i}" for i in range(5)]

    store = Store.open(path, Clock())
    try:
        ids = [record.id for record in store.list(KIND, ACCOUNT, REGION)]
        # The store is writable again: the dead writer's lock went with it.
        store.create(KIND, ACCOUNT, REGION, "after", arn="a", spec={})
    finally:
        store.close()
    assert ids == [f"t-{i}" for i in range(5)]
