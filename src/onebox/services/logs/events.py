"""Log streams and their events, in their own SQLite database (STATE/logs/events.db).

Log groups are store records (tags, ARNs, change feed); streams and events are bulk data. Positions
are (timestamp, id): events sort by timestamp, and the autoincrement id breaks ties in arrival order.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS streams (
    account TEXT NOT NULL, region TEXT NOT NULL, log_group TEXT NOT NULL, name TEXT NOT NULL,
    created INTEGER NOT NULL, first_event INTEGER, last_event INTEGER, last_ingestion INTEGER,
    stored_bytes INTEGER NOT NULL DEFAULT 0, sequence INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (account, region, log_group, name)
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL, region TEXT NOT NULL, log_group TEXT NOT NULL, stream TEXT NOT NULL,
    timestamp INTEGER NOT NULL, ingestion INTEGER NOT NULL, message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_stream ON events (account, region, log_group, stream, timestamp, id);
CREATE INDEX IF NOT EXISTS events_by_group ON events (account, region, log_group, timestamp, id);
CREATE TABLE IF NOT EXISTS cursors (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Stream:
    name: str
    created: int
    first_event: int | None
    last_event: int | None
    last_ingestion: int | None
    stored_bytes: int
    sequence: int


@dataclass(frozen=True)
class Event:
    id: int
    stream: str
    timestamp: int
    ingestion: int
    message: str


class EventStore:
    """Thread-safe: one connection, one lock (writes are short; SQLite serializes them anyway)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # an acknowledged PutLogEvents survives a crash
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- streams ---------------------------------------------------------------------------------

    def create_stream(self, account: str, region: str, group: str, name: str, now_ms: int) -> bool:
        """False if the stream already exists."""
        with self._lock:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO streams (account, region, log_group, name, created) VALUES (?,?,?,?,?)",
                (account, region, group, name, now_ms),
            )
            return cursor.rowcount == 1

    def get_stream(self, account: str, region: str, group: str, name: str) -> Stream | None:
        with self._lock:
            row = self._db.execute(
                "SELECT name, created, first_event, last_event, last_ingestion, stored_bytes, sequence "
                "FROM streams WHERE account=? AND region=? AND log_group=? AND name=?",
                (account, region, group, name),
            ).fetchone()
        return Stream(*row) if row else None

    def streams(self, account: str, region: str, group: str, prefix: str = "") -> list[Stream]:
        with self._lock:
            rows = self._db.execute(
                "SELECT name, created, first_event, last_event, last_ingestion, stored_bytes, sequence "
                "FROM streams WHERE account=? AND region=? AND log_group=? AND substr(name, 1, ?) = ? "
                "ORDER BY name",
                (account, region, group, len(prefix), prefix),
            ).fetchall()
        return [Stream(*row) for row in rows]

    def delete_stream(self, account: str, region: str, group: str, name: str) -> bool:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cursor = self._db.execute(
                    "DELETE FROM streams WHERE account=? AND region=? AND log_group=? AND name=?",
                    (account, region, group, name),
                )
                self._db.execute(
                    "DELETE FROM events WHERE account=? AND region=? AND log_group=? AND stream=?",
                    (account, region, group, name),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return cursor.rowcount == 1

    def delete_group(self, account: str, region: str, group: str) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for table in ("streams", "events"):
                    self._db.execute(
                        f"DELETE FROM {table} WHERE account=? AND region=? AND log_group=?",  # noqa: S608
                        (account, region, group),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def group_bytes(self, account: str, region: str, group: str) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT COALESCE(SUM(stored_bytes), 0) FROM streams WHERE account=? AND region=? AND log_group=?",
                (account, region, group),
            ).fetchone()
        return int(row[0])

    # -- events ----------------------------------------------------------------------------------

    def append(
        self,
        account: str,
        region: str,
        group: str,
        stream: str,
        events: Sequence[tuple[int, str]],
        now_ms: int,
        cursor: tuple[str, str] | None = None,
    ) -> int:
        """Store (timestamp, message) events in one transaction; returns the stream's new sequence.

        `cursor` (name, value) is saved in the same transaction: a shipper (the instance log agent)
        records how far it read together with what it read, so a crash neither loses nor repeats."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if cursor is not None:
                    self._db.execute("INSERT OR REPLACE INTO cursors (name, value) VALUES (?, ?)", cursor)
                if events:
                    self._db.executemany(
                        "INSERT INTO events (account, region, log_group, stream, timestamp, ingestion, message) "
                        "VALUES (?,?,?,?,?,?,?)",
                        [(account, region, group, stream, ts, now_ms, message) for ts, message in events],
                    )
                size = sum(len(message.encode("utf-8")) for _, message in events)
                first = min((ts for ts, _ in events), default=None)
                last = max((ts for ts, _ in events), default=None)
                self._db.execute(
                    "UPDATE streams SET first_event = CASE WHEN ?1 IS NULL THEN first_event "
                    "WHEN first_event IS NULL OR ?1 < first_event THEN ?1 ELSE first_event END, "
                    "last_event = CASE WHEN ?2 IS NULL THEN last_event "
                    "WHEN last_event IS NULL OR ?2 > last_event THEN ?2 ELSE last_event END, "
                    "last_ingestion = ?3, stored_bytes = stored_bytes + ?4, sequence = sequence + 1 "
                    "WHERE account=?5 AND region=?6 AND log_group=?7 AND name=?8",
                    (first, last, now_ms, size, account, region, group, stream),
                )
                sequence = self._db.execute(
                    "SELECT sequence FROM streams WHERE account=? AND region=? AND log_group=? AND name=?",
                    (account, region, group, stream),
                ).fetchone()[0]
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return int(sequence)

    def cursor(self, name: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM cursors WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_cursor(self, name: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO cursors (name, value) VALUES (?, ?)", (name, value))

    def delete_cursors(self, prefix: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM cursors WHERE substr(name, 1, ?) = ?", (len(prefix), prefix))

    def read(
        self,
        account: str,
        region: str,
        group: str,
        *,
        streams: Iterable[str] | None = None,
        start: int | None = None,
        end: int | None = None,
        after: tuple[int, int] | None = None,
        before: tuple[int, int] | None = None,
        descending: bool = False,
        limit: int | None = None,
    ) -> list[Event]:
        """Events of a group (optionally some streams) in [start, end), strictly after/before a position."""
        clauses = ["account=?", "region=?", "log_group=?"]
        args: list[object] = [account, region, group]
        if streams is not None:
            names = list(streams)
            if not names:
                return []
            clauses.append(f"stream IN ({','.join('?' * len(names))})")
            args.extend(names)
        if start is not None:
            clauses.append("timestamp >= ?")
            args.append(start)
        if end is not None:
            clauses.append("timestamp < ?")
            args.append(end)
        if after is not None:
            clauses.append("(timestamp > ? OR (timestamp = ? AND id > ?))")
            args.extend([after[0], after[0], after[1]])
        if before is not None:
            clauses.append("(timestamp < ? OR (timestamp = ? AND id < ?))")
            args.extend([before[0], before[0], before[1]])
        order = "DESC" if descending else "ASC"
        sql = (
            f"SELECT id, stream, timestamp, ingestion, message FROM events WHERE {' AND '.join(clauses)} "  # noqa: S608
            f"ORDER BY timestamp {order}, id {order}"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [Event(*row) for row in rows]

    def expire(self, account: str, region: str, group: str, older_than_ms: int) -> int:
        """Delete events with a timestamp before `older_than_ms`; returns how many."""
        with self._lock:
            cursor = self._db.execute(
                "DELETE FROM events WHERE account=? AND region=? AND log_group=? AND timestamp < ?",
                (account, region, group, older_than_ms),
            )
            return cursor.rowcount

    def count(self, account: str, region: str, group: str) -> int:
        with self._lock:
            return int(
                self._db.execute(
                    "SELECT COUNT(*) FROM events WHERE account=? AND region=? AND log_group=?",
                    (account, region, group),
                ).fetchone()[0]
            )


_stores: dict[Path, EventStore] = {}
_stores_lock = threading.Lock()


def event_store(state_dir: Path) -> EventStore:
    """The one EventStore of a state directory (opened on first use)."""
    path = state_dir / "logs" / "events.db"
    with _stores_lock:
        store = _stores.get(path)
        if store is None:
            store = _stores[path] = EventStore(path)
        return store
