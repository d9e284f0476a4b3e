"""Where metric data points live: `STATE/cloudwatch/metrics.db`, its own SQLite file (bulk data stays out
of the resource store).

Tables:
  metrics  one row per (account, region, namespace, name, dimensions); `last_put` drives ListMetrics'
           RecentlyActive and the 2-week expiry.
  samples  (metric, resolution, ts, unit, value, count, sum, min, max). A raw value is a row with
           `value` set (count = how many times it was seen); a statistic set that does not describe
           identical values has `value` NULL. `ts` is the start of the sample's bucket at its
           resolution (1 s or 60 s as stored, then 300 s and 3600 s after roll-up).

Writes are buffered in memory and flushed in one transaction (on every read, by a background thread
when the buffer is large, and by the daemon's metrics loop), so PutMetricData and internal producers
cost a list append plus one `write` to the journal. The journal (`metrics.db.journal.<generation>`,
length-prefixed marshal records) makes acknowledged points survive a `kill -9`: a flush moves on to
a new generation and records the one it wrote in the same transaction as the points
(`journal_state`), so a restart replays exactly the generations not yet in the database.
Roll-up follows AWS's retention: < 60 s points for 3 h, 60 s for 15 days, 300 s for 63 days, 3600 s for
455 days; older data is merged into the next coarser resolution and then dropped.
"""

from __future__ import annotations

import atexit
import json
import logging
import marshal
import os
import sqlite3
import struct
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from onebox.services.cloudwatch.statistics import Bucket

if TYPE_CHECKING:
    from onebox.runtime import Runtime

log = logging.getLogger(__name__)

# (resolution of the data, how long it is kept, the resolution it rolls up into)
RETENTION: tuple[tuple[int, int, int | None], ...] = (
    (1, 3 * 3600, 60),
    (60, 15 * 86400, 300),
    (300, 63 * 86400, 3600),
    (3600, 455 * 86400, None),
)
METRIC_EXPIRY = 14 * 86400  # a metric with no new data for two weeks leaves ListMetrics
FLUSH_THRESHOLD = 5_000  # a background thread writes the buffer once it holds this many points

_SCHEMA = """
CREATE TABLE IF NOT EXISTS metrics (
    id INTEGER PRIMARY KEY,
    account TEXT NOT NULL, region TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    dims TEXT NOT NULL, last_put REAL NOT NULL,
    UNIQUE (account, region, namespace, name, dims)
);
CREATE TABLE IF NOT EXISTS samples (
    metric INTEGER NOT NULL, res INTEGER NOT NULL, ts INTEGER NOT NULL, unit TEXT NOT NULL,
    value REAL, count REAL NOT NULL, sum REAL NOT NULL, min REAL NOT NULL, max REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS samples_by_time ON samples (metric, ts);
CREATE TABLE IF NOT EXISTS history (
    seq INTEGER PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL, alarm TEXT NOT NULL,
    alarm_type TEXT NOT NULL, ts REAL NOT NULL, item_type TEXT NOT NULL, summary TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS history_by_alarm ON history (account, region, alarm, ts);
CREATE TABLE IF NOT EXISTS journal_state (id INTEGER PRIMARY KEY CHECK (id = 1), flushed INTEGER NOT NULL);
"""
_FRAME = struct.Struct("<I")  # a journal record: its length, then marshal((rows, [(key, id)...], now))
HISTORY_RETENTION = 14 * 86400  # alarm history is kept for two weeks

MetricKey = tuple[str, str, str, str, str]  # account, region, namespace, name, dims (canonical JSON)
# One samples row: metric id, res, ts, unit, value (None for a statistic set), count, sum, min, max.
Row = tuple[int, int, int, str, float | None, float, float, float, float]


_DIMS_CACHE: dict[tuple[tuple[str, str], ...], str] = {}


def dims_key(dimensions: Iterable[dict[str, str]] | None) -> str:
    """Canonical form of a dimension set: each distinct set is its own metric, order does not matter."""
    pairs = tuple(sorted((d["Name"], d["Value"]) for d in dimensions or ()))
    key = _DIMS_CACHE.get(pairs)
    if key is None:
        key = json.dumps(pairs, separators=(",", ":"))
        if len(_DIMS_CACHE) < 100_000:  # producers reuse a bounded set of dimension sets
            _DIMS_CACHE[pairs] = key
    return key


def dims_list(key: str) -> list[dict[str, str]]:
    return [{"Name": name, "Value": value} for name, value in json.loads(key)]


class Sample(NamedTuple):
    """One row to store: a raw value (`value` set) or a statistic set."""

    key: MetricKey
    res: int
    ts: int
    unit: str
    value: float | None
    count: float
    total: float
    minimum: float
    maximum: float


@dataclass(frozen=True)
class MetricRow:
    id: int
    account: str
    region: str
    namespace: str
    name: str
    dims: str
    last_put: float


@dataclass(frozen=True)
class HistoryRow:
    seq: int
    alarm: str
    alarm_type: str
    ts: float
    item_type: str
    summary: str
    data: str


class MetricStore:
    def __init__(self, path: Path | None) -> None:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False)
        self._db.isolation_level = None
        if path is not None:
            # Metric points are not worth an fsync per write: a crash loses at most the last flush.
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        # `_lock` serializes use of the database; `_buffer_lock` guards the write buffer and the ids
        # (held briefly, never while waiting for `_lock`), so producers never wait for a flush.
        self._lock = threading.RLock()
        self._buffer_lock = threading.Lock()
        # Rows ready for `INSERT INTO samples`: (metric id, res, ts, unit, value, count, sum, min, max).
        self._pending: list[Row] = []
        # Metric ids are handed out in memory as metrics appear; `_unwritten` holds the metrics whose
        # row the next flush inserts (with its id).
        self._ids: dict[MetricKey, int] = {}
        self._unwritten: set[MetricKey] = set()
        self._last_put: dict[MetricKey, float] = {}
        for row in self._db.execute("SELECT id, account, region, namespace, name, dims FROM metrics"):
            self._ids[(row[1], row[2], row[3], row[4], row[5])] = row[0]
        self._next_id = max(self._ids.values(), default=0) + 1
        self._background: threading.Thread | None = None
        self._closed = False
        self._journal_base = Path(f"{path}.journal") if path is not None else None
        self._journal_fd: int | None = None
        self._generation = 0
        if self._journal_base is not None:
            self._replay_journal()

    # -- the journal ------------------------------------------------------------------------------------

    def _journal_files(self) -> dict[int, Path]:
        assert self._journal_base is not None
        found: dict[int, Path] = {}
        for file in self._journal_base.parent.glob(self._journal_base.name + ".*"):
            suffix = file.name.rsplit(".", 1)[1]
            if suffix.isdigit():
                found[int(suffix)] = file
        return found

    def _open_generation(self, generation: int) -> None:
        assert self._journal_base is not None
        if self._journal_fd is not None:
            os.close(self._journal_fd)
        self._generation = generation
        self._journal_fd = os.open(
            f"{self._journal_base}.{generation}", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600
        )

    def _replay_journal(self) -> None:
        """Buffer again the points of generations a crash left unflushed; drop those already written."""
        row = self._db.execute("SELECT flushed FROM journal_state WHERE id = 1").fetchone()
        flushed = row[0] if row else 0
        files = self._journal_files()
        for generation in sorted(files):
            if generation <= flushed:
                files[generation].unlink(missing_ok=True)
                continue
            data = files[generation].read_bytes()
            offset = 0
            while offset + _FRAME.size <= len(data):
                (length,) = _FRAME.unpack_from(data, offset)
                end = offset + _FRAME.size + length
                if end > len(data):
                    break  # a record cut short by the crash was never acknowledged
                rows, keys, now = marshal.loads(data[offset + _FRAME.size : end])
                offset = end
                for key, metric_id in keys:
                    key = tuple(key)
                    if key not in self._ids:
                        self._ids[key] = metric_id
                        self._unwritten.add(key)
                        self._next_id = max(self._next_id, metric_id + 1)
                    self._last_put[key] = max(self._last_put.get(key, 0.0), now)
                self._pending.extend(tuple(r) for r in rows)
        self._open_generation(max([flushed, *files]) + 1)

    def close(self) -> None:
        with self._lock:
            self.flush()
            self._closed = True
            self._db.close()
            if self._journal_fd is not None:  # everything is in the database: the journal goes
                os.close(self._journal_fd)
                self._journal_fd = None
                Path(f"{self._journal_base}.{self._generation}").unlink(missing_ok=True)

    # -- writes -----------------------------------------------------------------------------------------

    def add(self, samples: list[Sample], now: float) -> None:
        rows = [
            (self.id_for(s.key), s.res, s.ts, s.unit, s.value, s.count, s.total, s.minimum, s.maximum)
            for s in samples
        ]
        self.add_rows(rows, {s.key for s in samples}, now)

    def id_for(self, key: MetricKey) -> int:
        """The metric's id, handed out now for a new metric (its row is written by the next flush)."""
        metric_id = self._ids.get(key)
        if metric_id is not None:
            return metric_id
        with self._buffer_lock:
            metric_id = self._ids.get(key)
            if metric_id is None:
                metric_id = self._ids[key] = self._next_id
                self._next_id += 1
                self._unwritten.add(key)
            return metric_id

    def add_rows(self, rows: list[Row], keys: Iterable[MetricKey], now: float) -> None:
        """Buffer sample rows (metric ids from `id_for`) of the metrics `keys`, which received data `now`.

        A large buffer is written by a background thread (SQLite releases the GIL while it works), so
        a heavy producer does not wait for the disk; reads flush first and so see every point."""
        with self._buffer_lock:
            if self._journal_fd is not None:  # on disk (the OS's cache) before the caller acknowledges
                keys = list(keys)
                record = marshal.dumps((rows, [(key, self._ids[key]) for key in keys], now))
                os.write(self._journal_fd, _FRAME.pack(len(record)) + record)
            self._pending.extend(rows)
            last_put = self._last_put
            for key in keys:
                last_put[key] = now
            if len(self._pending) < FLUSH_THRESHOLD or self._background is not None or self._closed:
                return
            self._background = threading.Thread(target=self._flush_in_background, daemon=True)
        self._background.start()

    def _flush_in_background(self) -> None:
        try:
            with self._lock:
                if not self._closed:
                    self.flush()
        except Exception:
            log.exception("flushing metric points failed")
        finally:
            with self._buffer_lock:
                self._background = None

    def flush(self) -> None:
        with self._lock:
            with self._buffer_lock:
                if not self._pending and not self._last_put:
                    return
                pending, self._pending = self._pending, []
                last_put, self._last_put = self._last_put, {}
                new_keys = self._unwritten.intersection(last_put)
                self._unwritten.difference_update(new_keys)
                ids = {key: self._ids[key] for key in last_put}
                written_generation = self._generation
                if self._journal_fd is not None:
                    self._open_generation(written_generation + 1)
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for key, when in last_put.items():
                    if key not in new_keys:
                        self._db.execute(
                            "UPDATE metrics SET last_put = max(last_put, ?) WHERE id = ?", (when, ids[key])
                        )
                self._db.executemany(
                    "INSERT INTO metrics (id, account, region, namespace, name, dims, last_put)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(ids[key], *key, last_put[key]) for key in new_keys],
                )
                self._db.executemany("INSERT INTO samples VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", pending)
                if self._journal_fd is not None:
                    self._db.execute(
                        "INSERT OR REPLACE INTO journal_state (id, flushed) VALUES (1, ?)",
                        (written_generation,),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                with (
                    self._buffer_lock
                ):  # keep the points: the next flush writes them (and a later generation)
                    self._unwritten.update(new_keys)
                    self._pending[:0] = pending
                    for key, when in last_put.items():
                        self._last_put[key] = max(when, self._last_put.get(key, 0.0))
                raise
            if self._journal_fd is not None:
                for generation, file in self._journal_files().items():
                    if generation <= written_generation:
                        file.unlink(missing_ok=True)

    def flush_at_exit(self) -> None:
        """Flush at interpreter exit, unless the state dir is gone (a test's temporary directory)."""
        if self._closed or (self._journal_base is not None and not self._journal_base.parent.is_dir()):
            return
        self.flush()

    # -- reads ------------------------------------------------------------------------------------------

    def metric_id(self, key: MetricKey) -> int | None:
        with self._lock:
            self.flush()
            return self._ids.get(key)

    def metrics(self, account: str, region: str) -> list[MetricRow]:
        with self._lock:
            self.flush()
            rows = self._db.execute(
                "SELECT id, account, region, namespace, name, dims, last_put FROM metrics"
                " WHERE account = ? AND region = ?",
                (account, region),
            ).fetchall()
        return [MetricRow(*row) for row in rows]

    def buckets(
        self, key: MetricKey, start: float, end: float, period: int, unit: str | None = None
    ) -> tuple[dict[int, Bucket], str | None]:
        """Samples of one metric in [start, end) merged into buckets of `period` seconds counted from
        `start` (bucket start -> Bucket), and the unit the data was stored with."""
        metric_id = self.metric_id(key)
        if metric_id is None:
            return {}, None
        query = "SELECT ts, unit, value, count, sum, min, max FROM samples WHERE metric = ? AND ts >= ? AND ts < ?"
        args: list[object] = [metric_id, int(start), end]
        if unit is not None:
            query += " AND unit = ?"
            args.append(unit)
        out: dict[int, Bucket] = {}
        seen_unit: str | None = None
        base = int(start)
        with self._lock:
            rows = self._db.execute(query, args).fetchall()
        for ts, row_unit, value, count, total, minimum, maximum in rows:
            slot = base + (ts - base) // period * period
            bucket = out.get(slot)
            if bucket is None:
                bucket = out[slot] = Bucket()
            if value is not None:
                bucket.add_value(value, count)
            else:
                bucket.add_set(count, total, minimum, maximum)
            seen_unit = seen_unit or row_unit
        return out, seen_unit

    # -- retention --------------------------------------------------------------------------------------

    def roll_up(self, now: float) -> None:
        """Merge data older than its resolution's retention into the next coarser resolution; drop
        metrics that received nothing for two weeks and have no data left."""
        with self._lock:
            self.flush()
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for res, keep, coarser in RETENTION:
                    cutoff = now - keep
                    if coarser is not None:
                        self._merge_into(res, cutoff, coarser)
                    self._db.execute("DELETE FROM samples WHERE res = ? AND ts < ?", (res, cutoff))
                stale = [
                    row[0]
                    for row in self._db.execute(
                        "SELECT id FROM metrics WHERE last_put < ? AND NOT EXISTS"
                        " (SELECT 1 FROM samples WHERE samples.metric = metrics.id)",
                        (now - METRIC_EXPIRY,),
                    )
                ]
                for metric_id in stale:
                    self._db.execute("DELETE FROM metrics WHERE id = ?", (metric_id,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            if stale:
                gone = set(stale)
                with self._buffer_lock:
                    self._ids = {key: i for key, i in self._ids.items() if i not in gone}

    def _merge_into(self, res: int, cutoff: float, coarser: int) -> None:
        # Raw values merge by value (so percentiles survive the roll-up); statistic sets merge into one.
        self._db.execute(
            "INSERT INTO samples SELECT metric, ?, (ts / ?) * ?, unit, value, sum(count), sum(sum),"
            " min(min), max(max) FROM samples WHERE res = ? AND ts < ? AND value IS NOT NULL"
            " GROUP BY metric, ts / ?, unit, value",
            (coarser, coarser, coarser, res, cutoff, coarser),
        )
        self._db.execute(
            "INSERT INTO samples SELECT metric, ?, (ts / ?) * ?, unit, NULL, sum(count), sum(sum),"
            " min(min), max(max) FROM samples WHERE res = ? AND ts < ? AND value IS NULL"
            " GROUP BY metric, ts / ?, unit",
            (coarser, coarser, coarser, res, cutoff, coarser),
        )

    # -- alarm history (kept here: it is bulk, append-only data like the points) -----------------------

    def add_history(
        self,
        account: str,
        region: str,
        alarm: str,
        alarm_type: str,
        ts: float,
        item_type: str,
        summary: str,
        data: str,
    ) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO history (account, region, alarm, alarm_type, ts, item_type, summary, data)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (account, region, alarm, alarm_type, ts, item_type, summary, data),
            )

    def history(self, account: str, region: str, alarm: str | None) -> list[HistoryRow]:
        query = "SELECT seq, alarm, alarm_type, ts, item_type, summary, data FROM history WHERE account = ? AND region = ?"
        args: list[object] = [account, region]
        if alarm is not None:
            query += " AND alarm = ?"
            args.append(alarm)
        with self._lock:
            rows = self._db.execute(query, args).fetchall()
        return [HistoryRow(*row) for row in rows]

    def prune_history(self, now: float) -> None:
        with self._lock:
            self._db.execute("DELETE FROM history WHERE ts < ?", (now - HISTORY_RETENTION,))

    def resolutions(self, key: MetricKey) -> Iterator[tuple[int, int]]:
        """(resolution, samples) stored for a metric: for tests and diagnostics."""
        metric_id = self.metric_id(key)
        if metric_id is None:
            return iter(())
        with self._lock:
            rows = self._db.execute(
                "SELECT res, count(*) FROM samples WHERE metric = ? GROUP BY res ORDER BY res", (metric_id,)
            ).fetchall()
        return iter([(int(r), int(n)) for r, n in rows])


_STORES: dict[int, tuple[object, MetricStore]] = {}
_STORES_LOCK = threading.Lock()


def metric_store(runtime: Runtime) -> MetricStore:
    """The runtime's metric store, opened on first use under the state dir."""
    found = _STORES.get(id(runtime))
    if found is not None and found[0] is runtime:
        return found[1]
    with _STORES_LOCK:
        found = _STORES.get(id(runtime))
        if found is None or found[0] is not runtime:
            store = MetricStore(runtime.config.state_dir / "cloudwatch" / "metrics.db")
            _STORES[id(runtime)] = (runtime, store)
            # The daemon may stop before its controllers ever ran: buffered points still reach disk.
            atexit.register(store.flush_at_exit)
            return store
        return found[1]


def close_metric_store(runtime: Runtime) -> None:
    with _STORES_LOCK:
        found = _STORES.pop(id(runtime), None)
    if found is not None:
        atexit.unregister(found[1].flush_at_exit)
        found[1].close()
