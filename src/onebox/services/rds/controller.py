"""Makes DB instances real: prepares data directories, runs the servers through the supervisor, creates
the master user and database, applies parameter groups, takes snapshots and automated backups, keeps
LatestRestorableTime fresh, restores, stops and deletes. Snapshot copies and file clean-up are the
snapshot controller's."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from onebox.controllers import Controller, RequeueAfter
from onebox.host import network
from onebox.host.engines import volume, vpc_access
from onebox.host.engines.base import Layout, copy_tree
from onebox.host.engines.mariadb import MariaDbDriver
from onebox.host.engines.postgres import PostgresDriver
from onebox.host.supervisor import ProcessState
from onebox.runtime import Runtime
from onebox.services.rds import catalog, metrics, placement
from onebox.services.rds.common import (
    AUTOMATED_BACKUP,
    INSTANCE,
    PARAMETER_GROUP,
    SNAPSHOT,
    add_event,
    archive_dir,
    backup_dir,
    backup_due,
    in_weekly_window,
    instance_dir,
    rds_arn,
    rds_dir,
    snapshot_dir,
)
from onebox.services.rds.parameter_groups import parameters_of
from onebox.store import Conflict, NotFound, Record

log = logging.getLogger(__name__)

Key = tuple[str, str, str]
# How often a running instance closes its log segment (LatestRestorableTime), checks its backup window
# and publishes metrics. AWS uploads logs every 5 minutes; we do better.
TICK = 10.0
# CloudWatch's standard resolution.
METRICS_PERIOD = 60.0
# An instance whose filesystem has less free space than this is `storage-full` (writes fail or are
# about to: PostgreSQL allocates WAL in 1 MiB segments, InnoDB extends tablespaces by up to 4 MiB).
STORAGE_FULL_BELOW = 16 * 1024**2
_RUNNING = (ProcessState.RUNNING, ProcessState.STARTING, ProcessState.BACKOFF)

Driver = PostgresDriver | MariaDbDriver


def process_name(resource_id: str) -> str:
    return f"rds-{resource_id.lower()}"


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class InstanceController(Controller[Key]):
    name = "rds-instances"
    resync_interval = TICK
    concurrency = 8

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime.clock)
        self.runtime = runtime
        self.drivers: dict[str, Driver] = {"postgres": PostgresDriver(), "mariadb": MariaDbDriver()}
        self._last_tick: dict[Key, float] = {}
        self._last_metrics: dict[Key, float] = {}

    @property
    def store(self) -> Any:
        return self.runtime.store

    async def list_keys(self) -> Iterable[Key]:
        return [(r.account, r.region, r.id) for r in self.store.list_all(INSTANCE)]

    def layout(self, record: Record) -> Layout:
        rid = record.spec["DbiResourceId"]
        return Layout(instance_dir(self.runtime, rid), archive_dir(self.runtime, rid))

    def _status(self, record: Record, **changes: Any) -> Record:
        """Write status over the version we acted on. If a handler changed the instance meanwhile
        (reboot, modify, delete), our view is stale: look again instead of overwriting its status."""
        status = {**record.status, **changes}
        try:
            return self.store.update_status(
                INSTANCE, record.account, record.region, record.id, status, expected_version=record.version
            )
        except Conflict:
            raise RequeueAfter(0.05) from None

    def _event(self, record: Record, message: str, category: str) -> None:
        add_event(self.runtime, record.account, record.region, "db-instance", record.id, message, category)

    def on_error(self, key: Key, exc: Exception) -> None:
        log.warning("rds: reconcile of %s failed: %s", key, exc, exc_info=exc)

    # -- the reconcile loop ----------------------------------------------------------------------------

    async def reconcile(self, key: Key) -> None:
        record = self.store.get(INSTANCE, *key)
        if record is None:
            return
        driver = self.drivers[record.spec["Driver"]]
        layout = self.layout(record)
        if record.status.get("Phase", "new") != "new" and layout.image.exists():
            await asyncio.to_thread(
                volume.ensure, layout.image, layout.volume, record.spec["AllocatedStorage"]
            )
        if record.spec["Desired"] == "deleted":
            await self._delete(record, driver, layout)
            return
        if record.status.get("Phase", "new") == "new":
            await asyncio.to_thread(self._prepare_sync_guard)
            await self._prepare(record, driver, layout)
            record = self._status(record, Phase="files")
        if record.status.get("DBInstanceStatus") in ("incompatible-restore", "failed"):
            return
        if record.spec["Desired"] == "stopped":
            await self._stop(record, driver, layout)
            return
        await self._run(record, driver, layout)

    def _prepare_sync_guard(self) -> None:
        rds_dir(self.runtime).mkdir(parents=True, exist_ok=True)

    async def _prepare(self, record: Record, driver: Driver, layout: Layout) -> None:
        """Fill the data directory: a fresh server, a snapshot, or a backup plus archived logs."""
        spec = record.spec
        source = spec["Source"]
        if layout.root.exists():
            await asyncio.to_thread(layout.remove)  # a half-done earlier attempt
        await asyncio.to_thread(volume.ensure, layout.image, layout.volume, spec["AllocatedStorage"])
        if source["type"] == "new":
            await driver.initialize(layout, spec["MasterUsername"], spec["MasterUserPassword"])
        elif source["type"] == "snapshot":
            snapshot = self.store.get(SNAPSHOT, source["account"], source["region"], source["id"])
            if snapshot is None:
                raise RuntimeError(f"snapshot {source['id']} vanished before the restore")
            path = snapshot_dir(self.runtime, snapshot)
            await asyncio.to_thread(driver.prepare_restore, layout, path, None, None)
        else:
            backups = self.store.get(
                AUTOMATED_BACKUP, source["account"], source["region"], source["resource"]
            )
            target = source["time"]
            chosen = [b for b in backups.status["Backups"] if b["Time"] <= target]
            base = Path(chosen[-1]["Path"] if chosen else backups.status["Backups"][0]["Path"])
            when = datetime.fromtimestamp(target, UTC)
            await asyncio.to_thread(
                driver.prepare_restore, layout, base, archive_dir(self.runtime, source["resource"]), when
            )
        layout.make()
        if isinstance(driver, MariaDbDriver) and spec["BackupRetentionPeriod"] > 0:
            # The base for point-in-time restore: the data before the first start; every change after it
            # is in the binary logs, which go straight into the archive.
            await self._automated_backup(record, driver, layout, offline=True)

    def _params(self, record: Record) -> tuple[dict[str, str], dict[str, str]]:
        """The parameter group's values: (all, dynamic only)."""
        name = record.spec["DBParameterGroupName"]
        values: dict[str, str] = {}
        if not name.startswith("default."):
            group = self.store.get(PARAMETER_GROUP, record.account, record.region, name)
            if group is not None:
                values = {k: v["Value"] for k, v in group.spec["Parameters"].items()}
        known = parameters_of(record.spec["Family"])
        dynamic = {k: v for k, v in values.items() if k in known and known[k].apply_type == "dynamic"}
        return values, dynamic

    async def _run(self, record: Record, driver: Driver, layout: Layout) -> None:
        spec = record.spec
        port = spec["Port"]
        master = spec["MasterUsername"]
        values, dynamic = self._params(record)
        await asyncio.to_thread(driver.render_config, layout, spec["Address"], port, values)
        names = self.runtime.names
        if names is not None and names.all().get(spec["Host"]) != spec["Address"]:
            names.set(spec["Host"], spec["Address"])
        supervisor = self.runtime.supervisor
        assert supervisor is not None
        name = process_name(spec["DbiResourceId"])
        current = supervisor.get(name)
        rebooting = spec.get("RebootSeq", 0) != record.status.get("RebootSeq", 0)
        if spec.get("PendingModifiedValues") and (
            rebooting or in_weekly_window(self.clock.now(), spec["PreferredMaintenanceWindow"])
        ):
            # Modifications without ApplyImmediately wait for a reboot or the maintenance window.
            pending = spec["PendingModifiedValues"]
            try:
                record = self.store.update(record, spec={**spec, **pending, "PendingModifiedValues": {}})
            except Conflict:
                raise RequeueAfter(0.05) from None
            spec = record.spec
            self._event(
                record, f"Applied modifications: {', '.join(sorted(pending))}", "configuration change"
            )
        if rebooting and current is not None:
            await supervisor.stop(name)
            current = None
        if volume.enforced() and volume.size(layout.image) < spec["AllocatedStorage"] * volume.GIB:
            await self._grow_storage(record, layout, name)
            current = None
        starting = current is None or current.state not in _RUNNING
        await supervisor.ensure(driver.process_spec(name, layout))
        if starting:
            shown = record.status["DBInstanceStatus"]
            if record.status.get("Phase") == "running" and shown != "modifying":
                shown = "rebooting" if rebooting else "starting"
            record = self._status(
                record, StartedParams=values, RebootSeq=spec.get("RebootSeq", 0), DBInstanceStatus=shown
            )
        self._limit_to_class(record, name)
        await self._plug(record)
        full = await asyncio.to_thread(self._storage_full, layout)
        if full and record.status.get("Phase") == "running":
            if record.status.get("DBInstanceStatus") != "storage-full":
                record = self._status(record, DBInstanceStatus="storage-full")
                self._event(record, "DB instance has reached its storage capacity", "low storage")
        if not await self._admin_ready(driver, layout, port, master):
            if full:
                raise RequeueAfter(TICK)  # a server out of space may not even start: wait for more
            child = supervisor.get(name)
            if record.status.get("Phase") == "files" and child is not None and child.restarts >= 3:
                await supervisor.stop(name)
                failed = "failed" if record.spec["Source"]["type"] == "new" else "incompatible-restore"
                self._status(record, DBInstanceStatus=failed)
                self._event(
                    record, f"Database instance could not be started: see {child.log_path}", "failure"
                )
                return
            raise RequeueAfter(0.2)
        phase = record.status.get("Phase")
        if phase == "files":
            await self._after_first_start(record, driver, layout)
            record = self._status(
                record, Phase="bootstrapped", PasswordHash=_hash(spec["MasterUserPassword"])
            )
            phase = "bootstrapped"
        if phase == "bootstrapped":
            if not await driver.accepts_login(spec["Address"], port, master, spec["MasterUserPassword"]):
                raise RequeueAfter(0.2)
            if isinstance(driver, PostgresDriver) and spec["BackupRetentionPeriod"] > 0:
                await self._automated_backup(record, driver, layout, offline=False)
            now = self.clock.time()
            record = self._status(
                record,
                Phase="running",
                DBInstanceStatus="available",
                InstanceCreateTime=record.status.get("InstanceCreateTime") or now,
                LatestRestorableTime=now if spec["BackupRetentionPeriod"] > 0 else None,
                AppliedDynamic=dynamic,
            )
            self._update_backups(record, LatestRestorableTime=record.status["LatestRestorableTime"])
            self._event(record, "DB instance is available", "availability")
            self._last_tick[self._key(record)] = now
        record = await self._converge(record, driver, layout, values, dynamic)
        raise RequeueAfter(TICK)

    async def _plug(self, record: Record) -> None:
        """With a VPC placement: the instance's namespace plugged into its subnet with its private
        address and security groups, and the forwarder relaying from there to the server's loopback
        endpoint. Requeues until the VPC controller has built the subnet."""
        vpc = record.spec.get("Vpc")
        if not vpc or not network.available():
            return
        rid = record.spec["DbiResourceId"]

        def attach() -> None:
            if network.interface_attached(vpc["InterfaceId"]):
                return
            netns = vpc_access.ensure_netns(rid)
            network.attach_interface(
                netns,
                vpc["VpcId"],
                vpc["SubnetId"],
                vpc["PrivateIp"],
                vpc["PrefixLen"],
                vpc_access.mac_address(vpc["InterfaceId"]),
                vpc["InterfaceId"],
            )
            network.apply_security_groups(
                vpc["InterfaceId"], placement.rules(self.store, record.account, record.region, vpc)
            )

        try:
            await asyncio.to_thread(attach)
        except network.NetworkError as error:
            log.info("rds: %s waits for its subnet: %s", record.id, error)
            if record.status.get("Phase") != "running":
                raise RequeueAfter(0.3) from None  # not `available` before it is reachable in its VPC
            return  # a running instance keeps serving its host endpoint; the next pass retries
        supervisor = self.runtime.supervisor
        assert supervisor is not None
        spec = record.spec
        await supervisor.ensure(
            vpc_access.forwarder_spec(rid, vpc["PrivateIp"], spec["Address"], spec["Port"])
        )

    async def _unplug(self, record: Record, *, release: bool) -> None:
        vpc = record.spec.get("Vpc")
        if not vpc:
            return
        supervisor = self.runtime.supervisor
        assert supervisor is not None
        rid = record.spec["DbiResourceId"]
        await supervisor.stop(vpc_access.forwarder_name(rid))
        if release:
            if network.available():
                await asyncio.to_thread(network.detach_interface, vpc["InterfaceId"])
                await asyncio.to_thread(vpc_access.remove_netns, rid)
            placement.release(self.store, record.account, record.region, vpc)

    def _storage_full(self, layout: Layout) -> bool:
        if not volume.mounted(layout.volume):
            return False
        return volume.space(layout.volume).free < STORAGE_FULL_BELOW

    async def _grow_storage(self, record: Record, layout: Layout, name: str) -> None:
        """ModifyDBInstance AllocatedStorage: the server stops while its filesystem grows (resize2fs
        cannot run online here), then starts again."""
        supervisor = self.runtime.supervisor
        assert supervisor is not None
        await supervisor.stop(name)
        gib = record.spec["AllocatedStorage"]
        await asyncio.to_thread(volume.grow, layout.image, layout.volume, gib)
        self._event(record, f"Finished applying modification to allocated storage: {gib} GiB", "notification")

    def _limit_to_class(self, record: Record, name: str) -> None:
        """The instance class's vCPUs and memory as the server's cgroup limits, like EC2 instance types."""
        supervisor = self.runtime.supervisor
        child = supervisor.get(name) if supervisor is not None else None
        if child is None or child.pid is None:
            return
        vcpus, memory_gib = catalog.INSTANCE_CLASSES.get(record.spec["DBInstanceClass"], (2, 1))
        try:
            from onebox.host.instances import cgroups

            cgroups.create(name, vcpus, int(memory_gib * 1024))
            if child.pid not in cgroups.pids(name):
                cgroups.join(name, child.pid)
        except Exception as exc:  # no cgroup access (unprivileged daemon): run without limits
            log.debug("rds: cgroup limits for %s not applied: %s", record.id, exc)

    def _key(self, record: Record) -> Key:
        return (record.account, record.region, record.id)

    async def _admin_ready(self, driver: Driver, layout: Layout, port: int, master: str) -> bool:
        try:
            await driver.sql(layout, port, master, "SELECT 1")
        except Exception:
            return False
        return True

    async def _after_first_start(self, record: Record, driver: Driver, layout: Layout) -> None:
        spec = record.spec
        source = spec["Source"]
        port, master = spec["Port"], spec["MasterUsername"]
        if source["type"] == "new":
            if isinstance(driver, MariaDbDriver):
                await driver.create_master(layout, port, master, spec["MasterUserPassword"])
            await driver.bootstrap(layout, port, master, spec.get("DBName"))
        elif source["type"] == "pitr":
            if isinstance(driver, PostgresDriver):
                if not await driver.restore_finished(layout, port, master):
                    raise RequeueAfter(0.2)
            else:
                backups = self.store.get(
                    AUTOMATED_BACKUP, source["account"], source["region"], source["resource"]
                )
                target = source["time"]
                chosen = [b for b in backups.status["Backups"] if b["Time"] <= target] or backups.status[
                    "Backups"
                ][:1]
                base = Path(chosen[-1]["Path"])
                logs, start = driver.binlogs_after(base, archive_dir(self.runtime, source["resource"]))
                await driver.replay(layout, port, logs, datetime.fromtimestamp(target, UTC), start)

    async def _converge(
        self, record: Record, driver: Driver, layout: Layout, values: dict[str, str], dynamic: dict[str, str]
    ) -> Record:
        """A running, available instance: password, parameters, snapshots, backups, archive, metrics."""
        spec, status = record.spec, record.status
        port, master = spec["Port"], spec["MasterUsername"]
        changes: dict[str, Any] = {}
        if status.get("PasswordHash") != _hash(spec["MasterUserPassword"]):
            await driver.set_password(layout, port, master, spec["MasterUserPassword"])
            changes["PasswordHash"] = _hash(spec["MasterUserPassword"])
            self._event(record, "Reset master credentials", "configuration change")
        if dynamic != status.get("AppliedDynamic", {}):
            if isinstance(driver, PostgresDriver):
                await driver.reload(layout, port, master)
            else:
                previous = status.get("AppliedDynamic", {})
                changed = {k: v for k, v in dynamic.items() if previous.get(k) != v}
                await driver.apply_dynamic(layout, port, changed)
                reset = [k for k in previous if k not in dynamic]
                if reset:
                    await driver.sql(
                        layout, port, master, ";".join(f"SET GLOBAL {k} = DEFAULT" for k in reset)
                    )
            changes["AppliedDynamic"] = dynamic
        known = parameters_of(spec["Family"])
        started = status.get("StartedParams", {})
        static_pending = any(
            known[k].apply_type == "static" and values.get(k) != started.get(k)
            for k in set(values) | set(started)
            if k in known
        )
        changes["ParameterApplyStatus"] = "pending-reboot" if static_pending else "in-sync"
        if await asyncio.to_thread(self._storage_full, layout):
            changes["DBInstanceStatus"] = "storage-full"
        elif status.get("DBInstanceStatus") != "available":
            changes["DBInstanceStatus"] = "available"
            if status.get("DBInstanceStatus") in ("rebooting",):
                self._event(record, "DB instance restarted", "availability")
            if status.get("DBInstanceStatus") in ("starting",):
                self._event(record, "DB instance started", "notification")
        record = self._status(record, **changes)
        # Manual snapshots asked for this instance.
        for snapshot in self.store.list(SNAPSHOT, record.account, record.region):
            source = snapshot.spec.get("Source", {})
            if (
                source.get("type") == "instance"
                and source.get("id") == record.id
                and snapshot.status.get("Status") == "creating"
            ):
                record = await self._snapshot(record, driver, layout, snapshot)
        # The clock-driven part: archive, automated backup in the window, metrics.
        now = self.clock.time()
        key = self._key(record)
        if now - self._last_tick.get(key, 0.0) >= TICK - 1:
            self._last_tick[key] = now
            record = await self._tick(record, driver, layout)
        return record

    async def _tick(self, record: Record, driver: Driver, layout: Layout) -> Record:
        spec = record.spec
        now = self.clock.time()
        if spec["BackupRetentionPeriod"] > 0:
            # Never waits long for a lagging archiver: snapshots and the rest of this instance's work
            # queue behind this tick.
            point = await driver.archive_point(layout, spec["Port"], spec["MasterUsername"], now)
            if point is not None:
                record = self._status(record, LatestRestorableTime=point)
                self._update_backups(record, LatestRestorableTime=point)
            backups = self.store.get(AUTOMATED_BACKUP, record.account, record.region, spec["DbiResourceId"])
            last = (
                backups.status["Backups"][-1]["Time"] if backups and backups.status.get("Backups") else None
            )
            last_dt = datetime.fromtimestamp(last, UTC) if last else None
            if backup_due(self.clock.now(), spec["PreferredBackupWindow"], last_dt):
                record = self._status(record, DBInstanceStatus="backing-up")
                await self._automated_backup(record, driver, layout, offline=not driver.online_backup)
                record = self._status(record, DBInstanceStatus="available")
            await self._prune_backups(record, driver, layout)
        key = self._key(record)
        if now - self._last_metrics.get(key, 0.0) >= METRICS_PERIOD - 1:
            self._last_metrics[key] = now
            await metrics.publish(self.runtime, record, driver, layout)
        return record

    # -- backups and snapshots -------------------------------------------------------------------------

    async def _offline(self, record: Record, driver: Driver, layout: Layout, work: Any) -> None:
        """Stop the server, run `work()` on its files, start it again (MariaDB without mariadb-backup)."""
        supervisor = self.runtime.supervisor
        assert supervisor is not None
        name = process_name(record.spec["DbiResourceId"])
        running = supervisor.get(name) is not None and supervisor.get(name).state in _RUNNING  # type: ignore[union-attr]
        if running:
            await supervisor.stop(name)
        try:
            await asyncio.to_thread(work)
        finally:
            if running:
                await supervisor.ensure(driver.process_spec(name, layout))
                for _ in range(300):
                    if await self._admin_ready(
                        driver, layout, record.spec["Port"], record.spec["MasterUsername"]
                    ):
                        break
                    await asyncio.sleep(0.1)

    async def _copy_out(
        self, record: Record, driver: Driver, layout: Layout, target: Path, offline: bool
    ) -> None:
        if target.exists():
            shutil.rmtree(target)
        if offline or not driver.online_backup:
            await self._offline(record, driver, layout, lambda: driver.offline_copy(layout, target))
        else:
            await driver.base_backup(layout, record.spec["Port"], record.spec["MasterUsername"], target)

    async def _snapshot(
        self, record: Record, driver: Driver, layout: Layout, snapshot: Record, after: str = "available"
    ) -> Record:
        if after == "available":
            record = self._status(record, DBInstanceStatus="backing-up")
        target = snapshot_dir(self.runtime, snapshot)
        await self._copy_out(record, driver, layout, target, offline=False)
        try:
            self.store.update_status(
                SNAPSHOT,
                snapshot.account,
                snapshot.region,
                snapshot.id,
                {"Status": "available", "PercentProgress": 100, "SnapshotCreateTime": self.clock.time()},
            )
        except NotFound:
            shutil.rmtree(target, ignore_errors=True)
        add_event(
            self.runtime,
            snapshot.account,
            snapshot.region,
            "db-snapshot",
            snapshot.id,
            "Manual snapshot created",
            "creation",
        )
        return self._status(record, DBInstanceStatus=after)

    async def _automated_backup(
        self, record: Record, driver: Driver, layout: Layout, *, offline: bool
    ) -> None:
        spec = record.spec
        now = self.clock.time()
        stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%d%H%M%S")
        target = backup_dir(self.runtime, spec["DbiResourceId"]) / stamp
        if (
            offline
            and isinstance(driver, MariaDbDriver)
            and record.status.get("Phase", "new") in ("new", "files")
        ):
            await asyncio.to_thread(driver.offline_copy, layout, target)  # not started yet: no stop needed
        else:
            await self._copy_out(record, driver, layout, target, offline=offline)
        finished = self.clock.time()
        existing = self.store.get(AUTOMATED_BACKUP, record.account, record.region, spec["DbiResourceId"])
        entry = {"Time": finished, "Path": str(target)}
        if existing is None:
            copied = {
                k: spec.get(k)
                for k in (
                    "Engine",
                    "EngineVersion",
                    "Family",
                    "Driver",
                    "AllocatedStorage",
                    "StorageType",
                    "MasterUsername",
                    "MasterUserPassword",
                    "DBName",
                    "Port",
                    "AvailabilityZone",
                    "DBInstanceClass",
                    "BackupRetentionPeriod",
                    "PreferredBackupWindow",
                    "DbiResourceId",
                )
            }
            copied["DBInstanceIdentifier"] = record.id
            copied["DBInstanceArn"] = record.arn
            self.store.create(
                AUTOMATED_BACKUP,
                record.account,
                record.region,
                spec["DbiResourceId"],
                arn=rds_arn(record.region, record.account, "auto-backup", spec["DbiResourceId"]),
                spec=copied,
                status={"Status": "active", "Backups": [entry], "InstanceCreateTime": now},
            )
        else:
            status = dict(existing.status)
            status["Backups"] = [*status.get("Backups", []), entry]
            self.store.update_status(AUTOMATED_BACKUP, record.account, record.region, existing.id, status)
        self._event(record, "Finished DB instance backup", "backup")

    def _update_backups(self, record: Record, **changes: Any) -> None:
        existing = self.store.get(
            AUTOMATED_BACKUP, record.account, record.region, record.spec["DbiResourceId"]
        )
        if existing is not None:
            self.store.update_status(
                AUTOMATED_BACKUP, record.account, record.region, existing.id, {**existing.status, **changes}
            )

    async def _prune_backups(self, record: Record, driver: Driver, layout: Layout) -> None:
        """Keep BackupRetentionPeriod days of restorability: the backups since then, plus the last one
        before (the base for the oldest restorable second), and the archived logs from that one on."""
        existing = self.store.get(
            AUTOMATED_BACKUP, record.account, record.region, record.spec["DbiResourceId"]
        )
        if existing is None:
            return
        cutoff = self.clock.time() - record.spec["BackupRetentionPeriod"] * 86400
        backups = existing.status.get("Backups", [])
        older = [b for b in backups if b["Time"] < cutoff]
        keep = older[-1:] + [b for b in backups if b["Time"] >= cutoff]
        if len(keep) == len(backups):
            return
        for dropped in older[:-1]:
            await asyncio.to_thread(shutil.rmtree, dropped["Path"], True)
        self.store.update_status(
            AUTOMATED_BACKUP, record.account, record.region, existing.id, {**existing.status, "Backups": keep}
        )
        try:
            removed = await driver.prune_archive(
                layout, record.spec["Port"], record.spec["MasterUsername"], Path(keep[0]["Path"])
            )
            log.info("rds: pruned %d archived logs of %s", removed, record.id)
        except Exception as exc:  # the next pruning retries
            log.warning("rds: pruning the archive of %s failed: %s", record.id, exc)

    # -- stop and delete -------------------------------------------------------------------------------

    async def _stop(self, record: Record, driver: Driver, layout: Layout) -> None:
        if record.status.get("DBInstanceStatus") == "stopped":
            return
        supervisor = self.runtime.supervisor
        assert supervisor is not None
        spec = record.spec
        for snapshot in self.store.list(SNAPSHOT, record.account, record.region):
            source = snapshot.spec.get("Source", {})
            if source.get("id") == record.id and snapshot.status.get("Status") == "creating":
                await self._snapshot(record, driver, layout, snapshot, after="stopping")
        if spec["BackupRetentionPeriod"] > 0 and record.status.get("Phase") == "running":
            if await driver.flush_archive(layout, spec["Port"], spec["MasterUsername"]):
                self._update_backups(record, LatestRestorableTime=self.clock.time())
        await self._unplug(record, release=False)
        await supervisor.stop(process_name(spec["DbiResourceId"]))
        self._status(record, DBInstanceStatus="stopped")
        self._event(record, "DB instance stopped", "notification")

    async def _delete(self, record: Record, driver: Driver, layout: Layout) -> None:
        spec = record.spec
        supervisor = self.runtime.supervisor
        assert supervisor is not None
        name = process_name(spec["DbiResourceId"])
        final = (spec.get("Delete") or {}).get("FinalDBSnapshotIdentifier")
        running = record.status.get("Phase") == "running"
        record = self._status(record, DBInstanceStatus="deleting")
        if final and self.store.get(SNAPSHOT, record.account, record.region, final) is None:
            from onebox.services.rds.snapshots import new_snapshot_record

            snapshot = new_snapshot_record(self.runtime, record, final, None)
            if running and record.status.get("DBInstanceStatus") != "stopped":
                await self._snapshot(record, driver, layout, snapshot, after="deleting")
            else:
                target = snapshot_dir(self.runtime, snapshot)
                await asyncio.to_thread(
                    copy_tree if isinstance(driver, PostgresDriver) else driver.offline_copy,  # type: ignore[arg-type]
                    *((layout.data, target) if isinstance(driver, PostgresDriver) else (layout, target)),
                )
                self.store.update_status(
                    SNAPSHOT,
                    record.account,
                    record.region,
                    final,
                    {"Status": "available", "PercentProgress": 100, "SnapshotCreateTime": self.clock.time()},
                )
        current = supervisor.get(name)
        if (
            running
            and current is not None
            and current.state in _RUNNING
            and spec["BackupRetentionPeriod"] > 0
        ):
            try:
                if await driver.flush_archive(layout, spec["Port"], spec["MasterUsername"]):
                    self._update_backups(record, LatestRestorableTime=self.clock.time())
            except Exception as exc:  # the server may be broken: deleting it must still work
                log.warning("rds: final archive flush of %s failed: %s", record.id, exc)
        await self._unplug(record, release=True)
        await supervisor.stop(name)
        try:
            from onebox.host.instances import cgroups

            await asyncio.to_thread(cgroups.remove, name)
        except Exception as exc:
            log.debug("rds: removing the cgroup of %s failed: %s", record.id, exc)
        if self.runtime.names is not None:
            self.runtime.names.remove(spec["Host"])
        await asyncio.to_thread(layout.remove)
        backups = self.store.get(AUTOMATED_BACKUP, record.account, record.region, spec["DbiResourceId"])
        if (spec.get("Delete") or {}).get("DeleteAutomatedBackups", True) or backups is None:
            if backups is not None:
                self.store.delete_by_id(AUTOMATED_BACKUP, record.account, record.region, backups.id)
            await asyncio.to_thread(shutil.rmtree, backup_dir(self.runtime, spec["DbiResourceId"]), True)
            await asyncio.to_thread(shutil.rmtree, layout.archive, True)
        else:
            self.store.update_status(
                AUTOMATED_BACKUP,
                record.account,
                record.region,
                backups.id,
                {**backups.status, "Status": "retained"},
            )
        self.store.delete_by_id(INSTANCE, record.account, record.region, record.id)
        self._last_tick.pop(self._key(record), None)
        self._event(record, "DB instance deleted", "deletion")


class SnapshotController(Controller[Key]):
    """Copies snapshots (CopyDBSnapshot) and removes the files of deleted ones."""

    name = "rds-snapshots"
    resync_interval = 300.0

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime.clock)
        self.runtime = runtime

    async def list_keys(self) -> Iterable[Key]:
        keys = [(r.account, r.region, r.id) for r in self.runtime.store.list_all(SNAPSHOT)]
        root = rds_dir(self.runtime) / "snapshots"
        if root.is_dir():
            for path in root.glob("*/*/*"):
                keys.append((path.parent.parent.name, path.parent.name, path.name))
        return keys

    async def reconcile(self, key: Key) -> None:
        account, region, identifier = key
        record = self.runtime.store.get(SNAPSHOT, account, region, identifier)
        path = rds_dir(self.runtime) / "snapshots" / account / region / identifier
        if record is None:
            if path.exists():
                await asyncio.to_thread(shutil.rmtree, path, True)
            return
        source = record.spec.get("Source", {})
        if record.status.get("Status") == "creating" and source.get("type") == "copy":
            origin = rds_dir(self.runtime) / "snapshots" / source["account"] / source["region"] / source["id"]
            await asyncio.to_thread(copy_tree, origin, path)
            self.runtime.store.update_status(
                SNAPSHOT,
                account,
                region,
                identifier,
                {"Status": "available", "PercentProgress": 100, "SnapshotCreateTime": self.clock.time()},
            )


async def instance_changes(runtime: Runtime) -> AsyncIterator[Key]:
    """Instance keys to reconcile: the instance's own changes, its snapshots, its parameter group's."""
    subscription = runtime.store.changes.subscribe([INSTANCE, SNAPSHOT, PARAMETER_GROUP])
    async for change in subscription:
        if change.kind == INSTANCE:
            if not change.status_only and not change.deleted:
                yield (change.account, change.region, change.id)
        elif change.kind == SNAPSHOT and not change.deleted:
            snapshot = runtime.store.get(SNAPSHOT, change.account, change.region, change.id)
            if snapshot is not None and snapshot.spec.get("Source", {}).get("type") == "instance":
                yield (change.account, change.region, snapshot.spec["Source"]["id"])
        elif change.kind == PARAMETER_GROUP:
            for instance in runtime.store.list(INSTANCE, change.account, change.region):
                if instance.spec["DBParameterGroupName"] == change.id:
                    yield (change.account, change.region, instance.id)


async def snapshot_changes(runtime: Runtime) -> AsyncIterator[Key]:
    subscription = runtime.store.changes.subscribe([SNAPSHOT])
    async for change in subscription:
        if not change.status_only:
            yield (change.account, change.region, change.id)
