"""MariaDB's online backup (mariadb-backup) against a real server: the server keeps running through it,
the prepared copy starts as a server, and point-in-time recovery from it replays the binary logs from
the recorded position up to the target second."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from onebox.host.engines.base import Layout
from onebox.host.engines.mariadb import POSITION_FILE, MariaDbDriver

PORT = 3306


async def _start(driver: MariaDbDriver, layout: Layout, address: str) -> subprocess.Popen[bytes]:
    driver.render_config(layout, address, PORT, {})
    process = subprocess.Popen(
        driver.process_spec("test", layout).argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    for _ in range(300):
        try:
            await driver.sql(layout, PORT, "root", "SELECT 1")
            return process
        except Exception:
            assert process.poll() is None, (layout.logs / "mysql-error.log").read_text()
            await asyncio.sleep(0.1)
    raise AssertionError("mariadbd did not start")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(60)


def _address(tmp_path: Path, n: int) -> str:
    """A loopback address of this test's own (tests and daemons run side by side)."""
    digest = hashlib.sha256(str(tmp_path).encode()).digest()
    return f"127.{230 + digest[0] % 20}.{digest[1]}.{n}"


def _next_second() -> datetime:
    now = datetime.now(UTC)
    target = now.replace(microsecond=0) + timedelta(seconds=1)
    time.sleep((target - now).total_seconds() + 0.05)
    return target


def test_online_backup_then_point_in_time_from_it(tmp_path: Path) -> None:
    asyncio.run(_scenario(tmp_path))


async def _scenario(tmp_path: Path) -> None:
    driver = MariaDbDriver()
    source = Layout(tmp_path / "source", tmp_path / "archive")
    restored = Layout(tmp_path / "restored", tmp_path / "archive-restored")
    processes: list[subprocess.Popen[bytes]] = []
    try:
        await driver.initialize(source, "admin", "unused-here")
        server = await _start(driver, source, _address(tmp_path, 1))
        processes.append(server)
        await driver.sql(source, PORT, "root", "CREATE DATABASE app; CREATE TABLE app.items (n INT)")
        await driver.sql(source, PORT, "root", "INSERT INTO app.items VALUES (1)")
        await driver.sql(source, PORT, "root", "FLUSH BINARY LOGS; FLUSH BINARY LOGS")
        backup = tmp_path / "backup"
        await driver.base_backup(source, PORT, "root", backup)
        assert server.poll() is None  # online: the server never stopped
        name, offset = (backup / POSITION_FILE).read_text().split()
        assert name.startswith("mysql-bin.") and int(offset) > 0
        await driver.sql(source, PORT, "root", "INSERT INTO app.items VALUES (2)")
        _next_second()
        target = _next_second()
        _next_second()
        await driver.sql(source, PORT, "root", "INSERT INTO app.items VALUES (3)")

        driver.prepare_restore(restored, backup, None, None)
        processes.append(await _start(driver, restored, _address(tmp_path, 2)))
        assert (await driver.sql(restored, PORT, "root", "SELECT n FROM app.items")).split() == ["1"]
        logs, start = driver.binlogs_after(backup, source.archive)
        assert logs and logs[0].name == name and start == int(offset)
        await driver.replay(restored, PORT, logs, target, start)
        rows = await driver.sql(restored, PORT, "root", "SELECT n FROM app.items ORDER BY n")
        assert rows.split() == ["1", "2"]  # row 1 not applied twice; row 3 after the target

        # Pruning for a backup keeps the binary logs from its position on, through the server.
        older = [p.name for p in driver.binlogs(source.archive) if p.name < name]
        assert len(older) >= 2
        assert await driver.prune_archive(source, PORT, "root", backup) == len(older)
        assert driver.binlogs(source.archive)[0].name == name
        shown = await driver.sql(source, PORT, "root", "SHOW BINARY LOGS")
        assert shown.split()[0] == name
    finally:
        for process in processes:
            _stop(process)
        source.remove()
        restored.remove()
