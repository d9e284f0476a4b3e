"""Automated backups follow the backup window on the clock: a real PostgreSQL driven by a ManualClock."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from onebox.aws.dispatch import RequestContext
from onebox.clock import ManualClock
from onebox.config import Config
from onebox.controllers import RequeueAfter
from onebox.host.supervisor import Supervisor
from onebox.runtime import Runtime
from onebox.services.rds import instances, placement
from onebox.services.rds.common import AUTOMATED_BACKUP, EVENT
from onebox.services.rds.controller import TICK, InstanceController
from onebox.store import Store

ACCOUNT, REGION = "000000000000", "us-east-1"


async def settle(controller: InstanceController, key: tuple[str, str, str]) -> None:
    """Reconcile until the instance only asks for its next periodic look."""
    for _ in range(600):
        try:
            await controller.reconcile(key)
            return
        except RequeueAfter as requeue:
            if requeue.seconds >= TICK:
                return
        await asyncio.sleep(0.1)  # a real server is starting
    raise AssertionError("the instance never settled")


def start_segment(backup: Path) -> str:
    match = re.search(r"\(file ([0-9A-F]{24})\)", (backup / "backup_label").read_text())
    assert match is not None
    return match.group(1)


def backups(store: Store) -> list[dict]:
    record = store.get(
        AUTOMATED_BACKUP,
        ACCOUNT,
        REGION,
        store.list("rds:db-instance", ACCOUNT, REGION)[0].spec["DbiResourceId"],
    )
    assert record is not None
    return record.status["Backups"]


def test_backup_taken_when_clock_enters_window_and_pruned_after_retention(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No VPC controller runs here to build the default VPC's network: the instance keeps only its
    # loopback endpoint (VPC placement is test_rds_vpc.py's).
    monkeypatch.setattr(placement, "place", lambda *args: None)
    asyncio.run(_scenario(tmp_path))


async def _scenario(tmp_path: Path) -> None:
    clock = ManualClock(start=datetime(2026, 3, 1, 2, 0, tzinfo=UTC).timestamp())
    config = Config(state_dir=tmp_path)
    store = Store.memory(clock)
    supervisor = Supervisor(config.run_dir, config.log_dir, clock)
    await supervisor.start()
    runtime = Runtime(config=config, clock=clock, store=store, credentials=None, supervisor=supervisor)  # type: ignore[arg-type]
    ctx = RequestContext(runtime, "rds", "CreateDBInstance", ACCOUNT, REGION, "req", None)  # type: ignore[arg-type]
    instances.create_db_instance(
        ctx,
        {
            "DBInstanceIdentifier": "windowed",
            "Engine": "postgres",
            "DBInstanceClass": "db.t3.micro",
            "AllocatedStorage": 20,
            "MasterUsername": "master",
            "MasterUserPassword": "password-1",
            "BackupRetentionPeriod": 1,
            "PreferredBackupWindow": "03:00-03:30",
        },
    )
    controller = InstanceController(runtime)
    key = (ACCOUNT, REGION, "windowed")
    try:
        await settle(controller, key)
        assert store.get("rds:db-instance", *key).status["DBInstanceStatus"] == "available"
        assert len(backups(store)) == 1  # the first backup, taken at creation as RDS does
        first_path = Path(backups(store)[0]["Path"])
        assert (first_path / "PG_VERSION").exists()
        first_wal = start_segment(first_path)

        clock.advance(58 * 60)  # 02:58: before the window
        await settle(controller, key)
        assert len(backups(store)) == 1

        clock.advance(3 * 60)  # 03:01: inside it
        await settle(controller, key)
        assert len(backups(store)) == 2
        assert datetime.fromtimestamp(backups(store)[1]["Time"], UTC).strftime("%H:%M") == "03:01"
        assert any(
            e.spec["Message"] == "Finished DB instance backup" for e in store.list(EVENT, ACCOUNT, REGION)
        )

        clock.advance(10 * 60)  # 03:11: same window, already backed up
        await settle(controller, key)
        assert len(backups(store)) == 2

        clock.advance(24 * 3600)  # the next day's window: a new backup; retention 1 day drops the first
        await settle(controller, key)
        kept = backups(store)
        assert len(kept) == 2
        assert datetime.fromtimestamp(kept[-1]["Time"], UTC).day == 2
        assert not first_path.exists()
        # The archive keeps the WAL from the oldest kept backup on; older segments are pruned.
        archive = controller.layout(store.get("rds:db-instance", *key)).archive
        kept_wal = start_segment(Path(kept[0]["Path"]))
        names = sorted(p.name[:24] for p in archive.iterdir() if not p.name.endswith(".history"))
        assert first_wal < kept_wal and first_wal not in names and kept_wal in names
        assert names[0][8:] >= kept_wal[8:]
        assert store.get("rds:db-instance", *key).status["LatestRestorableTime"] == clock.time()
    finally:
        await supervisor.stop_all()
        record = store.get("rds:db-instance", *key)
        controller.layout(record).remove()
        from onebox.host.instances import cgroups

        cgroups.remove(f"rds-{record.spec['DbiResourceId'].lower()}")
