"""PostgreSQL (Debian's postgresql-15) as an RDS engine: initdb, configuration, the server process,
master user and database, parameters, base backups, WAL archiving and point-in-time recovery."""

from __future__ import annotations

import asyncio
import functools
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from onebox.host.engines.base import ENV, EngineError, Layout, as_db_user, copy_tree, run, write_secret
from onebox.host.supervisor import ProcessSpec

BIN = Path(os.environ.get("ONEBOX_PG_BIN", "/usr/lib/postgresql/15/bin"))
MAJOR = "15"
DEFAULT_PORT = 5432
# Parameters onebox owns (the endpoint, archiving, logging): a parameter group may not override them.
# A WAL switch whose segment the archiver has not copied yet: "<segment> <lsn after it> <time>".
PENDING = "archive-pending"
RESERVED = frozenset(
    {
        "listen_addresses",
        "port",
        "unix_socket_directories",
        "archive_mode",
        "archive_command",
        "logging_collector",
        "log_directory",
        "log_filename",
        "data_directory",
        "hba_file",
        "ident_file",
        "restore_command",
        "recovery_target_time",
    }
)


@dataclass(frozen=True)
class Parameter:
    name: str
    apply_type: str  # "static" (needs a restart) or "dynamic"
    data_type: str
    default: str
    allowed: str
    description: str


def quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


@functools.cache
def catalog() -> dict[str, Parameter]:
    """Every server parameter of the installed PostgreSQL, from `postgres --describe-config`."""
    output = subprocess.run(
        [str(BIN / "postgres"), "--describe-config"], capture_output=True, text=True, check=True
    ).stdout
    params: dict[str, Parameter] = {}
    for line in output.splitlines():
        fields = line.split("\t")
        if len(fields) < 8:
            continue
        name, context, _group, kind, default, low, high, desc = fields[:8]
        if context == "internal" or name in RESERVED:
            continue
        data_type = {"BOOLEAN": "boolean", "INTEGER": "integer", "REAL": "float"}.get(kind, "string")
        allowed = f"{low}-{high}" if low and high else ("0,1" if data_type == "boolean" else "")
        apply_type = "static" if context == "postmaster" else "dynamic"
        params[name] = Parameter(name, apply_type, data_type, default, allowed, desc)
    return params


def wal_segments(start: str, stop: str, segment_size: int) -> list[str]:
    """WAL segment file names from `start` to `stop` inclusive (same timeline)."""
    per_id = 0x100000000 // segment_size
    timeline = start[:8]
    first = int(start[8:16], 16) * per_id + int(start[16:], 16)
    last = int(stop[8:16], 16) * per_id + int(stop[16:], 16)
    return [f"{timeline}{n // per_id:08X}{n % per_id:08X}" for n in range(first, last + 1)]


def segment_matches(path: Path, name: str, segment_size: int) -> bool:
    """Whether a copied segment is really `name`: its first page header's address (xlp_pageaddr, at
    byte 8) is where that segment starts (a recycled file reused meanwhile would say otherwise)."""
    per_id = 0x100000000 // segment_size
    expected = (int(name[8:16], 16) * per_id + int(name[16:], 16)) * segment_size
    with open(path, "rb") as f:
        header = f.read(16)
    return len(header) == 16 and int.from_bytes(header[8:16], "little") == expected


class PostgresDriver:
    engine = "postgres"
    default_port = DEFAULT_PORT
    online_backup = True

    async def initialize(self, layout: Layout, master: str, password: str) -> None:
        layout.make()
        pwfile = layout.secrets / "initdb-password"
        write_secret(pwfile, password + "\n")
        argv = [
            str(BIN / "initdb"),
            "-D",
            str(layout.data),
            "-U",
            master,
            f"--pwfile={pwfile}",
            "--auth-local=trust",  # the socket lives in a root-only directory: onebox's own door
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
            # 1 MiB WAL segments (not 16): archiving a segment every few minutes stays cheap.
            "--wal-segsize=1",
        ]
        try:
            await run(as_db_user(argv))
        finally:
            pwfile.unlink(missing_ok=True)
        with open(layout.data / "pg_hba.conf", "a") as hba:
            hba.write("host all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n")
        with open(layout.data / "postgresql.conf", "a") as conf:
            conf.write(
                "\n# onebox\ninclude_if_exists = 'onebox.conf'\ninclude_if_exists = 'onebox-params.conf'\n"
                "include_if_exists = 'onebox-recovery.conf'\n"
            )

    def render_config(self, layout: Layout, address: str, port: int, params: dict[str, str]) -> None:
        """The server's own settings (onebox.conf) and the parameter group's (onebox-params.conf)."""
        archive = str(layout.archive)
        settings = {
            "listen_addresses": quote(address),
            "port": str(port),
            "unix_socket_directories": quote(str(layout.sockets)),
            # Small by default so many instances fit on one machine; a parameter group can raise it.
            "shared_buffers": "'16MB'",
            "max_connections": "100",
            "wal_level": "replica",
            "archive_mode": "on",
            "archive_command": quote(f"test ! -f {archive}/%f && cp %p {archive}/%f"),
            # AWS uploads transaction logs every 5 minutes; LatestRestorableTime trails by at most that.
            "archive_timeout": "300",
            "logging_collector": "on",
            "log_directory": quote(str(layout.logs)),
            "log_filename": "'postgresql.log.%Y-%m-%d-%H'",
            "log_rotation_age": "60",
            "log_line_prefix": "'%t:%r:%u@%d:[%p]:'",
            "timezone": "'UTC'",
            "log_timezone": "'UTC'",
        }
        (layout.data / "onebox.conf").write_text("".join(f"{k} = {v}\n" for k, v in settings.items()))
        (layout.data / "onebox-params.conf").write_text(
            "".join(f"{k} = {quote(v)}\n" for k, v in params.items() if k not in RESERVED)
        )

    def process_spec(self, name: str, layout: Layout) -> ProcessSpec:
        return ProcessSpec(
            name=name,
            argv=as_db_user([str(BIN / "postgres"), "-D", str(layout.data)]),
            env=ENV,
            stop_signal=2,  # SIGINT: PostgreSQL's "fast" shutdown (rolls back sessions, checkpoints)
            stop_timeout=30.0,
        )

    # -- SQL through the instance's private socket (trust) or its endpoint (password) ---------------

    async def sql(self, layout: Layout, port: int, user: str, query: str, database: str = "postgres") -> str:
        return await run(
            ["psql", "-h", str(layout.sockets), "-p", str(port), "-U", user, "-d", database]
            + ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", query],
            timeout=60,
        )

    async def accepts_login(self, address: str, port: int, user: str, password: str) -> bool:
        try:
            await run(
                [
                    "psql",
                    "-h",
                    address,
                    "-p",
                    str(port),
                    "-U",
                    user,
                    "-d",
                    "postgres",
                    "-X",
                    "-c",
                    "SELECT 1",
                ],
                env={"PGPASSWORD": password, "PGCONNECT_TIMEOUT": "2"},
                timeout=10,
            )
        except EngineError:
            return False
        return True

    async def bootstrap(self, layout: Layout, port: int, master: str, db_name: str | None) -> None:
        if db_name and db_name != "postgres":
            exists = await self.sql(
                layout, port, master, f"SELECT 1 FROM pg_database WHERE datname = {quote(db_name)}"
            )
            if not exists.strip():
                await self.sql(layout, port, master, f'CREATE DATABASE "{db_name}"')

    async def set_password(self, layout: Layout, port: int, master: str, password: str) -> None:
        await self.sql(layout, port, master, f'ALTER ROLE "{master}" PASSWORD {quote(password)}')

    async def reload(self, layout: Layout, port: int, master: str) -> None:
        await self.sql(layout, port, master, "SELECT pg_reload_conf()")

    async def pending_restart(self, layout: Layout, port: int, master: str) -> bool:
        out = await self.sql(layout, port, master, "SELECT count(*) FROM pg_settings WHERE pending_restart")
        return out.strip() not in ("", "0")

    async def settings(self, layout: Layout, port: int, master: str, names: list[str]) -> dict[str, str]:
        if not names:
            return {}
        wanted = ",".join(quote(n) for n in names)
        out = await self.sql(
            layout, port, master, f"SELECT name || '=' || setting FROM pg_settings WHERE name IN ({wanted})"
        )
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    async def connections(self, layout: Layout, port: int, master: str) -> int:
        out = await self.sql(
            layout,
            port,
            master,
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'",
        )
        return max(int(out.strip() or 0) - 1, 0)  # not counting our own query

    # -- backups -------------------------------------------------------------------------------------

    async def base_backup(self, layout: Layout, port: int, master: str, target: Path) -> None:
        """An online, self-contained copy of the running server: PostgreSQL's low-level backup API
        around a plain (reflinked where possible) copy of the data directory, plus the WAL the copy
        needs to become consistent. Cheaper than streaming it through pg_basebackup.

        `pg_backup_stop(false)` does not wait for the archiver (which may lag far behind after a bulk
        load): the WAL from the backup's start to its end is taken from the server's own pg_wal, or
        from the archive for any segment a checkpoint has recycled meanwhile (recycling waits until a
        segment is archived, so one of the two always holds it)."""
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        script = (
            "SELECT pg_backup_start('onebox', true);\n"
            f"\\! cp -a --reflink=auto {shlex.quote(str(layout.data))} {shlex.quote(str(tmp))}\n"
            "SELECT 'stop:' || encode(convert_to(labelfile, 'UTF8'), 'hex') || ':' || pg_walfile_name(lsn)"
            " FROM pg_backup_stop(false);\n"
            "SELECT 'segsize:' || setting FROM pg_settings WHERE name = 'wal_segment_size';\n"
        )
        out = await run(
            ["psql", "-h", str(layout.sockets), "-p", str(port), "-U", master, "-d", "postgres"]
            + ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"],
            stdin=script.encode(),
        )
        line = next(line for line in out.splitlines() if line.startswith("stop:"))
        _, label_hex, stop_wal = line.split(":")
        segment_size = int(
            next(line for line in out.splitlines() if line.startswith("segsize:")).split(":")[1]
        )
        label = bytes.fromhex(label_hex).decode()
        match = re.search(r"\(file ([0-9A-F]{24})\)", label)
        if match is None:
            raise EngineError(f"unexpected backup label: {label!r}")
        start_wal = match.group(1)
        for leftover in ("postmaster.pid", "postmaster.opts", "archived-lsn"):
            (tmp / leftover).unlink(missing_ok=True)
        wal = tmp / "pg_wal"
        for path in [*wal.iterdir(), *(wal / "archive_status").iterdir()]:
            if path.is_file():
                path.unlink()
        (tmp / "backup_label").write_text(label)
        for name in wal_segments(start_wal, stop_wal, segment_size):
            await self._copy_segment(layout, name, segment_size, wal / name)
        for history in layout.archive.glob("*.history"):
            shutil.copy2(history, wal / history.name)
        os.replace(tmp, target)

    async def _copy_segment(self, layout: Layout, name: str, segment_size: int, target: Path) -> None:
        live = layout.data / "pg_wal" / name
        try:
            await asyncio.to_thread(shutil.copyfile, live, target)
            if segment_matches(target, name, segment_size):
                return
        except FileNotFoundError:
            pass
        archived = layout.archive / name  # recycled meanwhile: it was archived first
        for _ in range(600):
            if archived.exists():
                await asyncio.to_thread(shutil.copyfile, archived, target)
                return
            await asyncio.sleep(0.1)
        raise EngineError(f"WAL segment {name} is neither in pg_wal nor in the archive")

    async def prune_archive(self, layout: Layout, port: int, master: str, oldest_backup: Path) -> int:
        """Delete archived WAL older than what `oldest_backup` (the oldest kept) needs; the count."""
        label = oldest_backup / "backup_label"
        match = re.search(r"\(file ([0-9A-F]{24})\)", label.read_text()) if label.exists() else None
        if match is None:
            return 0
        start = match.group(1)[8:]
        removed = 0
        for path in layout.archive.iterdir():
            position = path.name[8:24]
            if len(path.name) >= 24 and not path.name.endswith(".history") and position < start:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def offline_copy(self, layout: Layout, target: Path) -> None:
        """A copy of a stopped server's data directory (the initial backup, right after initdb)."""
        copy_tree(layout.data, target)

    def prepare_restore(
        self, layout: Layout, backup: Path, source_archive: Path | None, target_time: datetime | None
    ) -> None:
        """Fill `layout` from a backup; with `source_archive`, replay archived WAL up to `target_time`
        (or to the end of the archive) before the server opens."""
        layout.make()
        copy_tree(backup, layout.data)
        for leftover in ("postmaster.pid", "onebox-recovery.conf", "recovery.signal", "standby.signal"):
            (layout.data / leftover).unlink(missing_ok=True)
        if source_archive is None:
            return
        lines = [f"restore_command = {quote(f'cp {source_archive}/%f %p')}"]
        if target_time is not None:
            lines.append(f"recovery_target_time = {quote(target_time.strftime('%Y-%m-%d %H:%M:%S+00'))}")
            lines.append("recovery_target_inclusive = off")
        lines.append("recovery_target_action = 'promote'")
        (layout.data / "onebox-recovery.conf").write_text("\n".join(lines) + "\n")
        (layout.data / "recovery.signal").write_text("")

    async def restore_finished(self, layout: Layout, port: int, master: str) -> bool:
        """True once recovery has ended (promoted); the recovery settings are then removed."""
        out = await self.sql(layout, port, master, "SELECT pg_is_in_recovery()")
        if out.strip() != "f":
            return False
        (layout.data / "onebox-recovery.conf").unlink(missing_ok=True)
        return True

    async def flush_archive(self, layout: Layout, port: int, master: str) -> bool:
        """Close the current WAL segment and wait until the archive holds it: everything committed before
        this call is then restorable. False if archiving lags (try again later). An idle server writes
        nothing here, so it does not fill the archive with empty segments."""
        (layout.root / PENDING).unlink(missing_ok=True)
        return await self.archive_point(layout, port, master, 0.0, wait=5.0) is not None

    async def archive_point(
        self, layout: Layout, port: int, master: str, now: float, *, wait: float = 0.5
    ) -> float | None:
        """The latest time up to which every commit is in the archive, without blocking on a lagging
        archiver: `now` if nothing was written since the last archived switch, or the segment switched
        now is archived within `wait`; else None, and a later call returns the time of this switch once
        its segment is archived (writes after it wait for the next switch)."""
        marker = layout.root / "archived-lsn"
        pending = layout.root / PENDING
        if pending.exists():
            segment, after, stamp = pending.read_text().split()
            if not (layout.archive / segment).exists():
                return None
            marker.write_text(after)
            pending.unlink()
            return float(stamp)
        current = (await self.sql(layout, port, master, "SELECT pg_current_wal_insert_lsn()")).strip()
        if marker.exists() and marker.read_text() == current:
            return now  # nothing written since the last archived switch
        # A commit stamped now: recovery to any earlier second then meets a later commit and stops there
        # (PostgreSQL refuses a target it never passes).
        await self.sql(layout, port, master, "SELECT txid_current()")
        out = await self.sql(layout, port, master, "SELECT pg_walfile_name(pg_switch_wal() - 1)")
        needed = out.strip()
        after = (await self.sql(layout, port, master, "SELECT pg_current_wal_insert_lsn()")).strip()
        for _ in range(max(int(wait / 0.05), 1)):
            if (layout.archive / needed).exists():
                marker.write_text(after)
                return now
            await asyncio.sleep(0.05)
        pending.write_text(f"{needed} {after} {now}")
        return None
