"""MariaDB (Debian's mariadb-server 10.11) as an RDS engine, for engines `mariadb` and `mysql`:
mariadb-install-db, configuration, the server process, master user and database, parameters,
online snapshots with mariadb-backup, binary logs written straight into the archive, and point-in-time recovery by
replaying them with mariadb-binlog."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

from onebox.host.engines.base import ENV, EngineError, Layout, as_db_user, copy_tree, run
from onebox.host.engines.postgres import Parameter
from onebox.host.supervisor import ProcessSpec

MARIADBD = "/usr/sbin/mariadbd"
BACKUP = "mariadb-backup"
# Where a backup notes the binary log it is consistent with: "<file>" (an offline copy: every later
# binary log applies) or "<file> <position>" (an online backup: replay starts at that position).
POSITION_FILE = "onebox-binlog-position"
DEFAULT_PORT = 3306
BINLOG_PREFIX = "mysql-bin"
RESERVED = frozenset(
    {"datadir", "socket", "port", "bind_address", "log_bin", "log_error", "pid_file", "server_id", "user"}
)

# MariaDB exposes no catalog of parameters without a running server, so the common ones are listed
# here with whether a change needs a restart (information_schema.SYSTEM_VARIABLES.READ_ONLY in 10.11).
_PARAMETERS: list[tuple[str, str, str, str, str]] = [
    # name, apply type, data type, default, allowed values
    ("autocommit", "dynamic", "boolean", "1", "0,1"),
    ("binlog_format", "dynamic", "string", "ROW", "ROW,STATEMENT,MIXED"),
    ("character_set_server", "dynamic", "string", "utf8mb4", ""),
    ("collation_server", "dynamic", "string", "utf8mb4_general_ci", ""),
    ("event_scheduler", "dynamic", "string", "OFF", "ON,OFF"),
    ("general_log", "dynamic", "boolean", "0", "0,1"),
    ("init_connect", "dynamic", "string", "", ""),
    ("innodb_buffer_pool_instances", "static", "integer", "1", "1-64"),
    ("innodb_buffer_pool_size", "dynamic", "integer", "16777216", "2097152-9223372036854775807"),
    ("innodb_flush_log_at_trx_commit", "dynamic", "integer", "1", "0-3"),
    ("innodb_lock_wait_timeout", "dynamic", "integer", "50", "0-100000000"),
    ("innodb_read_io_threads", "static", "integer", "4", "1-64"),
    ("innodb_write_io_threads", "static", "integer", "4", "1-64"),
    ("interactive_timeout", "dynamic", "integer", "28800", "1-31536000"),
    ("join_buffer_size", "dynamic", "integer", "262144", "128-2147483647"),
    ("local_infile", "dynamic", "boolean", "1", "0,1"),
    ("log_bin_trust_function_creators", "dynamic", "boolean", "0", "0,1"),
    ("long_query_time", "dynamic", "float", "10", "0-31536000"),
    ("lower_case_table_names", "static", "integer", "0", "0-2"),
    ("max_allowed_packet", "dynamic", "integer", "16777216", "1024-1073741824"),
    ("max_connect_errors", "dynamic", "integer", "100", "1-4294967295"),
    ("max_connections", "dynamic", "integer", "151", "10-100000"),
    ("max_heap_table_size", "dynamic", "integer", "16777216", "16384-4294966272"),
    ("max_user_connections", "dynamic", "integer", "0", "0-2147483647"),
    ("net_read_timeout", "dynamic", "integer", "30", "1-31536000"),
    ("net_write_timeout", "dynamic", "integer", "60", "1-31536000"),
    ("performance_schema", "static", "boolean", "0", "0,1"),
    ("read_buffer_size", "dynamic", "integer", "131072", "8192-2147483647"),
    ("skip_name_resolve", "static", "boolean", "0", "0,1"),
    ("slow_query_log", "dynamic", "boolean", "0", "0,1"),
    ("sort_buffer_size", "dynamic", "integer", "2097152", "32768-4294967295"),
    (
        "sql_mode",
        "dynamic",
        "string",
        "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION",
        "",
    ),
    ("table_open_cache", "dynamic", "integer", "2000", "1-1048576"),
    ("thread_cache_size", "dynamic", "integer", "151", "0-16384"),
    ("time_zone", "dynamic", "string", "SYSTEM", ""),
    ("tmp_table_size", "dynamic", "integer", "16777216", "1024-4294967295"),
    ("transaction_isolation", "dynamic", "string", "REPEATABLE-READ", ""),
    ("wait_timeout", "dynamic", "integer", "28800", "1-31536000"),
]


def catalog() -> dict[str, Parameter]:
    return {n: Parameter(n, a, t, d, v, "") for n, a, t, d, v in _PARAMETERS}


def _literal(value: str) -> str:
    if re.fullmatch(r"-?\d+(\.\d+)?", value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


class MariaDbDriver:
    engine = "mariadb"
    default_port = DEFAULT_PORT
    online_backup = True  # mariadb-backup copies the running server

    def _cnf(self, layout: Layout) -> Path:
        return layout.root / "my.cnf"

    def _socket(self, layout: Layout) -> Path:
        return layout.sockets / "mysqld.sock"

    async def initialize(self, layout: Layout, master: str, password: str) -> None:
        layout.make()
        argv = [
            "mariadb-install-db",
            "--no-defaults",
            f"--datadir={layout.data}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--skip-name-resolve",
        ]
        await run(as_db_user(argv))

    def render_config(self, layout: Layout, address: str, port: int, params: dict[str, str]) -> None:
        settings = {
            "datadir": str(layout.data),
            "socket": str(self._socket(layout)),
            "pid-file": str(layout.sockets / "mysqld.pid"),
            "bind-address": address,
            "port": str(port),
            "server-id": "1",
            # Binary logs go straight into the archive (outside the instance): continuous archiving.
            "log-bin": str(layout.archive / BINLOG_PREFIX),
            "binlog-format": "ROW",
            "sync-binlog": "1",
            "log-error": str(layout.logs / "mysql-error.log"),
            "slow-query-log-file": str(layout.logs / "mysql-slowquery.log"),
            "general-log-file": str(layout.logs / "mysql-general.log"),
            "skip-name-resolve": "1",
            "default-time-zone": "+00:00",
            # Small by default so many instances fit on one machine; a parameter group can raise them.
            "innodb-buffer-pool-size": "16M",
            "innodb-log-file-size": "16M",
            "performance-schema": "0",
            "character-set-server": "utf8mb4",
        }
        lines = ["[mysqld]"] + [f"{k} = {v}" for k, v in settings.items()]
        lines += [f"{k} = {v}" for k, v in params.items() if k not in RESERVED]
        self._cnf(layout).write_text("\n".join(lines) + "\n")

    def process_spec(self, name: str, layout: Layout) -> ProcessSpec:
        return ProcessSpec(
            name=name,
            argv=as_db_user([MARIADBD, f"--defaults-file={self._cnf(layout)}"]),
            env=ENV,
            stop_timeout=60.0,
        )

    async def sql(self, layout: Layout, port: int, user: str, query: str, database: str = "") -> str:
        argv = ["mariadb", "--no-defaults", "-S", str(self._socket(layout)), "-uroot", "-N", "-B"]
        return await run([*argv, "-e", query, *([database] if database else [])], timeout=60)

    async def accepts_login(self, address: str, port: int, user: str, password: str) -> bool:
        try:
            await run(
                [
                    "mariadb",
                    "--no-defaults",
                    "-h",
                    address,
                    "-P",
                    str(port),
                    "-u",
                    user,
                    "--connect-timeout=2",
                ]
                + ["-e", "SELECT 1"],
                env={"MYSQL_PWD": password},
                timeout=10,
            )
        except EngineError:
            return False
        return True

    async def bootstrap(self, layout: Layout, port: int, master: str, db_name: str | None) -> None:
        """The master user (all privileges, from anywhere) and database; root only through the socket."""
        statements = [
            "DELETE FROM mysql.global_priv WHERE User = 'root' AND Host <> 'localhost'",
            "DELETE FROM mysql.global_priv WHERE User = ''",
            "FLUSH PRIVILEGES",
        ]
        if db_name:
            statements.append(f"CREATE DATABASE IF NOT EXISTS {_ident(db_name)}")
        await self.sql(layout, port, "root", ";".join(statements))

    async def create_master(self, layout: Layout, port: int, master: str, password: str) -> None:
        await self.sql(
            layout,
            port,
            "root",
            f"CREATE USER IF NOT EXISTS {_literal(master)}@'%' IDENTIFIED BY {_literal(password)};"
            f"GRANT ALL PRIVILEGES ON *.* TO {_literal(master)}@'%' WITH GRANT OPTION",
        )

    async def set_password(self, layout: Layout, port: int, master: str, password: str) -> None:
        await self.sql(
            layout, port, "root", f"ALTER USER {_literal(master)}@'%' IDENTIFIED BY {_literal(password)}"
        )

    async def apply_dynamic(self, layout: Layout, port: int, params: dict[str, str]) -> None:
        if params:
            await self.sql(
                layout, port, "root", ";".join(f"SET GLOBAL {k} = {_literal(v)}" for k, v in params.items())
            )

    async def settings(self, layout: Layout, port: int, master: str, names: list[str]) -> dict[str, str]:
        if not names:
            return {}
        wanted = ",".join(_literal(n.upper()) for n in names)
        out = await self.sql(
            layout,
            port,
            "root",
            "SELECT LOWER(VARIABLE_NAME), VARIABLE_VALUE FROM information_schema.GLOBAL_VARIABLES "
            f"WHERE VARIABLE_NAME IN ({wanted})",
        )
        return dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)

    async def connections(self, layout: Layout, port: int, master: str) -> int:
        out = await self.sql(layout, port, "root", "SELECT COUNT(*) FROM information_schema.PROCESSLIST")
        return max(int(out.strip() or 0) - 1, 0)

    # -- backups -------------------------------------------------------------------------------------

    def binlogs(self, archive: Path) -> list[Path]:
        return sorted(p for p in archive.glob(f"{BINLOG_PREFIX}.[0-9]*") if p.suffix[1:].isdigit())

    def offline_copy(self, layout: Layout, target: Path) -> None:
        """Copy a stopped server's data directory and note how far the binary logs went."""
        copy_tree(layout.data, target)
        logs = self.binlogs(layout.archive)
        (target / POSITION_FILE).write_text(logs[-1].name if logs else "")

    def prepare_restore(
        self, layout: Layout, backup: Path, source_archive: Path | None, target_time: datetime | None
    ) -> None:
        layout.make()
        copy_tree(backup, layout.data)
        for leftover in ("mysqld.pid", "xtrabackup_binlog_info", "xtrabackup_checkpoints", "xtrabackup_info"):
            (layout.data / leftover).unlink(missing_ok=True)

    async def base_backup(self, layout: Layout, port: int, master: str, target: Path) -> None:
        """An online copy of the running server with mariadb-backup, prepared at once (so a restore is a
        plain copy), with the binary log position it is consistent with (for point-in-time restore)."""
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        common = [BACKUP, f"--defaults-file={self._cnf(layout)}"]
        try:
            await run(
                [
                    *common,
                    "--backup",
                    f"--target-dir={tmp}",
                    f"--datadir={layout.data}",
                    f"--socket={self._socket(layout)}",
                    "--user=root",
                ]
            )
            await run([*common, "--prepare", f"--target-dir={tmp}"])
        except EngineError:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        (tmp / POSITION_FILE).write_text(backup_position(tmp))
        os.replace(tmp, target)

    def binlogs_after(self, backup: Path, source_archive: Path) -> tuple[list[Path], int | None]:
        """The archived binary logs a restore from `backup` replays, and the position in the first one
        to start at (None: from its beginning)."""
        position_file = backup / POSITION_FILE
        recorded = position_file.read_text().split() if position_file.exists() else []
        logs = self.binlogs(source_archive)
        if len(recorded) == 2:  # online backup: consistent with this position of a binary log
            name, offset = recorded
            return [p for p in logs if p.name >= name], int(offset)
        last = recorded[0] if recorded else ""  # offline copy: every later binary log, whole
        return [p for p in logs if p.name > last], None

    async def prune_archive(self, layout: Layout, port: int, master: str, oldest_backup: Path) -> int:
        """Purge binary logs older than what `oldest_backup` (the oldest kept) needs, through the
        server (PURGE BINARY LOGS keeps its index right); the count."""
        needed, _ = self.binlogs_after(oldest_backup, layout.archive)
        if not needed:
            return 0
        older = [p for p in self.binlogs(layout.archive) if p.name < needed[0].name]
        if older:
            await self.sql(layout, port, "root", f"PURGE BINARY LOGS TO {_literal(needed[0].name)}")
        return len(older)

    async def replay(
        self,
        layout: Layout,
        port: int,
        logs: list[Path],
        target_time: datetime | None,
        start_position: int | None = None,
    ) -> None:
        """Apply archived binary logs to the restored server, from `start_position` of the first one,
        stopping before `target_time`."""
        if not logs:
            return
        argv = ["mariadb-binlog", "--no-defaults"]
        if start_position is not None:
            argv.append(f"--start-position={start_position}")  # applies to the first file only
        if target_time is not None:
            argv.append(f"--stop-datetime={target_time.strftime('%Y-%m-%d %H:%M:%S')}")
        decoded = await run([*argv, *(str(p) for p in logs)])
        await run(
            ["mariadb", "--no-defaults", "-S", str(self._socket(layout)), "-uroot", "--binary-mode"],
            stdin=decoded.encode(),
        )

    async def archive_point(
        self, layout: Layout, port: int, master: str, now: float, *, wait: float = 0.5
    ) -> float | None:
        """Every commit is in the archive as it happens (sync_binlog=1): `now`, once the server answers."""
        await self.sql(layout, port, "root", "SELECT 1")
        return now

    async def flush_archive(self, layout: Layout, port: int, master: str) -> bool:
        # sync_binlog=1 puts every commit into the archive's current binary log as it happens.
        await self.sql(layout, port, "root", "SELECT 1")
        return True


def backup_position(backup: Path) -> str:
    """`<binary log> <position>` from mariadb-backup's xtrabackup_binlog_info ("" if it wrote none)."""
    info = backup / "xtrabackup_binlog_info"
    fields = info.read_text().split() if info.exists() else []
    return f"{fields[0]} {fields[1]}" if len(fields) >= 2 else ""


def version() -> str:
    out = subprocess.run([MARIADBD, "--version"], capture_output=True, text=True).stdout
    match = re.search(r"Ver (\d+\.\d+\.\d+)", out)
    return match.group(1) if match else "10.11.0"
