"""Where S3 keeps object bytes and the index of keys and versions, under `STATE/s3/`.

Bytes live in blob files named by random ids (`blobs/ab/<id>`), never by key, so no key of any
spelling (`../`, `//`, `%`, newlines) can reach the file system. A write goes to `tmp/`, is
fsynced, renamed into `blobs/` (and the directory fsynced), and only then is the index row that
points at it committed: a blob without a row is garbage swept at start-up, a row without a blob
cannot exist. The index is its own SQLite database (WAL, synchronous=FULL) because listing 100k
keys in key order needs its own table and indexes, not the resource records.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import queue
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from onebox.aws.http import checksum_hasher

NULL_VERSION = "null"
# Objects up to this size live in the index itself: one group-committed write, no file, no fsync
# of their own (the 4 KiB PUT is the hot path).
INLINE_MAX = 64 * 1024

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    version_id TEXT NOT NULL,
    is_latest INTEGER NOT NULL,
    is_marker INTEGER NOT NULL,
    blob TEXT,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    last_modified REAL NOT NULL,
    info TEXT NOT NULL,
    tags TEXT NOT NULL,
    data BLOB
);
CREATE UNIQUE INDEX IF NOT EXISTS ix_versions_id ON versions (bucket, key, version_id);
CREATE INDEX IF NOT EXISTS ix_versions_key ON versions (bucket, key, seq);
CREATE UNIQUE INDEX IF NOT EXISTS ix_versions_latest ON versions (bucket, key) WHERE is_latest = 1;
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY,
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    initiated REAL NOT NULL,
    info TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_uploads_key ON uploads (bucket, key, initiated);
CREATE TABLE IF NOT EXISTS parts (
    upload_id TEXT NOT NULL,
    part_number INTEGER NOT NULL,
    blob TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    last_modified REAL NOT NULL,
    info TEXT NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);
"""

_VERSION_COLUMNS = (
    "seq, bucket, key, version_id, is_latest, is_marker, blob, size, etag, last_modified, info, tags"
)


@dataclass
class Version:
    """One version of a key (an object, or a delete marker) as indexed."""

    bucket: str  # the bucket's incarnation id, not its name: a re-created bucket starts empty
    key: str
    version_id: str
    is_latest: bool
    is_marker: bool
    blob: str | None
    size: int
    etag: str  # quoted, as S3 sends it
    last_modified: float
    info: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    seq: int = 0
    data: bytes | None = None  # the bytes of an inline object, when writing (never loaded by reads)


@dataclass
class Upload:
    upload_id: str
    bucket: str
    key: str
    initiated: float
    info: dict[str, Any]


@dataclass
class Part:
    part_number: int
    blob: str
    size: int
    etag: str
    last_modified: float
    info: dict[str, Any]


@dataclass
class Blob:
    """A committed blob file: its id, size, MD5 and the checksums asked for while writing."""

    blob_id: str | None  # None: an inline object, whose bytes are `data`
    size: int
    md5: bytes
    checksums: dict[str, str]
    data: bytes | None = None


def _version(row: sqlite3.Row | tuple[Any, ...]) -> Version:
    seq, bucket, key, version_id, is_latest, is_marker, blob, size, etag, last_modified, info, tags = row
    return Version(
        bucket=bucket,
        key=key,
        version_id=version_id,
        is_latest=bool(is_latest),
        is_marker=bool(is_marker),
        blob=blob,
        size=size,
        etag=etag,
        last_modified=last_modified,
        info=json.loads(info),
        tags=json.loads(tags),
        seq=seq,
    )


COMPUTABLE_CHECKSUMS = ("crc32", "crc32c", "crc64nvme", "sha1", "sha256", "sha512", "md5")


class BlobWriter:
    """A blob being written: bytes go to a temporary file while MD5 (and checksums) are computed."""

    def __init__(self, storage: Storage, checksums: tuple[str, ...] = ()) -> None:
        self._storage = storage
        self.blob_id = secrets.token_hex(16)
        self._tmp = storage.tmp_dir / self.blob_id
        self._file = open(self._tmp, "wb", buffering=0)  # noqa: SIM115 - closed in commit/abort
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._checksums = {name: checksum_hasher(name) for name in checksums if name in COMPUTABLE_CHECKSUMS}
        self.size = 0

    def write(self, data: bytes | memoryview) -> None:
        if not data:
            return
        self._file.write(data)
        self._md5.update(data)
        for hasher in self._checksums.values():
            hasher.update(data)
        self.size += len(data)

    def copy_from(self, path: Path, offset: int = 0, length: int | None = None) -> None:
        """Append (part of) another blob, hashing as it goes."""
        with open(path, "rb") as source:
            source.seek(offset)
            remaining = length if length is not None else os.fstat(source.fileno()).st_size - offset
            while remaining > 0:
                chunk = source.read(min(remaining, 1024 * 1024))
                if not chunk:
                    break
                self.write(chunk)
                remaining -= len(chunk)

    def append_unhashed(self, path: Path) -> None:
        """Append a whole blob in the kernel (copy_file_range), without hashing: for multipart
        completion, whose ETag comes from the parts' MD5s rather than from the bytes."""
        with open(path, "rb") as source:
            remaining = os.fstat(source.fileno()).st_size
            offset = 0
            while remaining > 0:
                copied = os.copy_file_range(source.fileno(), self._file.fileno(), remaining, offset)
                if copied == 0:
                    break
                offset += copied
                remaining -= copied
                self.size += copied

    def commit(self) -> Blob:
        """fsync the file, move it into `blobs/`, fsync the directory: the bytes are now durable."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        final = self._storage.blob_path(self.blob_id)
        final.parent.mkdir(exist_ok=True)
        os.rename(self._tmp, final)
        _fsync_dir(final.parent)
        checksums = {name: base64.b64encode(h.digest()).decode() for name, h in self._checksums.items()}
        return Blob(self.blob_id, self.size, self._md5.digest(), checksums)

    def abort(self) -> None:
        self._file.close()
        self._tmp.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Storage:
    """Blob files plus the SQLite index. Thread-safe: writes serialize on one connection."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blob_dir = root / "blobs"
        self.tmp_dir = root / "tmp"
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self._path = root / "index.db"
        self._writer = self._connect()
        self._writer.executescript(_SCHEMA)
        columns = {row[1] for row in self._writer.execute("PRAGMA table_info(versions)")}
        if "data" not in columns:  # an index written before objects could be inline
            self._writer.execute("ALTER TABLE versions ADD COLUMN data BLOB")
        self._committer = _GroupCommitter(self._writer)
        self._readers = threading.local()
        self._clear_tmp()
        threading.Thread(target=self.sweep_orphans, name="s3-sweep", daemon=True).start()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    def _clear_tmp(self) -> None:
        # Writes a killed daemon never finished: never acknowledged, never visible. Uploads the
        # gateway is spooling right now (incoming/) are still being written, so only old ones go.
        for leftover in self.tmp_dir.iterdir():
            leftover.unlink(missing_ok=True)
        incoming = self.root / "incoming"
        if incoming.is_dir():
            cutoff = time.time() - 3600
            for leftover in incoming.iterdir():
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink(missing_ok=True)

    def sweep_orphans(self) -> int:
        """Delete blob files no index row or part points at (a crash between rename and commit)."""
        referenced = {
            row[0] for row in self._read().execute("SELECT blob FROM versions WHERE blob IS NOT NULL")
        }
        referenced |= {row[0] for row in self._read().execute("SELECT blob FROM parts")}
        removed = 0
        cutoff = time.time() - 60  # a blob renamed a moment ago may be about to be committed
        for directory in self.blob_dir.iterdir():
            for blob in directory.iterdir():
                if blob.name not in referenced and blob.stat().st_mtime < cutoff:
                    blob.unlink(missing_ok=True)
                    removed += 1
        return removed

    def close(self) -> None:
        self._committer.close()
        self._writer.close()

    def _read(self) -> sqlite3.Connection:
        conn = getattr(self._readers, "conn", None)
        if conn is None:
            conn = self._connect()
            self._readers.conn = conn
        return conn

    def blob_path(self, blob_id: str) -> Path:
        return self.blob_dir / blob_id[:2] / blob_id

    def writer(self, checksums: tuple[str, ...] = ()) -> BlobWriter:
        return BlobWriter(self, checksums)

    def adopt(self, path: Path, size: int, md5: bytes, checksums: dict[str, str]) -> Blob:
        """Make a file already written on this file system (a spooled upload) a durable blob,
        without copying it: fsync, rename into `blobs/`, fsync the directory."""
        blob_id = secrets.token_hex(16)
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        final = self.blob_path(blob_id)
        final.parent.mkdir(exist_ok=True)
        os.rename(path, final)
        _fsync_dir(final.parent)
        return Blob(blob_id, size, md5, dict(checksums))

    def remove_blobs(self, blob_ids: list[str | None]) -> None:
        for blob_id in blob_ids:
            if blob_id:
                self.blob_path(blob_id).unlink(missing_ok=True)

    def _write(self, function: Callable[[sqlite3.Connection], T]) -> T:
        return self._committer.run(function)

    # -- versions -----------------------------------------------------------------------------------

    def get(self, bucket: str, key: str, version_id: str | None = None) -> Version | None:
        """The latest version (object or marker) of `key`, or the named version."""
        if version_id is None:
            row = (
                self._read()
                .execute(
                    f"SELECT {_VERSION_COLUMNS} FROM versions WHERE bucket=? AND key=? AND is_latest=1",
                    (bucket, key),
                )
                .fetchone()
            )
        else:
            row = (
                self._read()
                .execute(
                    f"SELECT {_VERSION_COLUMNS} FROM versions WHERE bucket=? AND key=? AND version_id=?",
                    (bucket, key, version_id),
                )
                .fetchone()
            )
        return _version(row) if row else None

    def put(self, version: Version, versioning: str) -> list[str]:
        """Make `version` the latest of its key under the bucket's versioning state.

        Unversioned and Suspended buckets write the `null` version, replacing any existing null
        version or marker; Enabled buckets keep every earlier version. Returns the blobs that are
        no longer referenced (delete them after the commit).
        """

        def work(conn: sqlite3.Connection) -> Any:
            return self._put(conn, version, versioning)

        return self._write(work)

    def _put(self, conn: sqlite3.Connection, version: Version, versioning: str) -> list[str]:
        freed: list[str] = []
        if versioning != "Enabled":
            version.version_id = NULL_VERSION
            old = conn.execute(
                "SELECT seq, blob FROM versions WHERE bucket=? AND key=? AND version_id=?",
                (version.bucket, version.key, NULL_VERSION),
            ).fetchone()
            if old is not None:
                conn.execute("DELETE FROM versions WHERE seq=?", (old[0],))
                if old[1]:
                    freed.append(old[1])
        conn.execute(
            "UPDATE versions SET is_latest=0 WHERE bucket=? AND key=? AND is_latest=1",
            (version.bucket, version.key),
        )
        cursor = conn.execute(
            "INSERT INTO versions (bucket, key, version_id, is_latest, is_marker, blob, size, etag,"
            " last_modified, info, tags, data) VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                version.bucket,
                version.key,
                version.version_id,
                int(version.is_marker),
                version.blob,
                version.size,
                version.etag,
                version.last_modified,
                json.dumps(version.info),
                json.dumps(version.tags),
                version.data,
            ),
        )
        version.seq = cursor.lastrowid or 0
        version.is_latest = True
        return freed

    def put_future(
        self,
        version: Version,
        versioning: str,
        check: Callable[[Version | None], None] | None = None,
        upload_id: str | None = None,
    ) -> Future[list[str]]:
        """`put` / `put_if` / `finish_upload` without blocking a thread: await it with
        `asyncio.wrap_future` (the hot path of small PUTs)."""

        def work(conn: sqlite3.Connection) -> list[str]:
            if upload_id is not None:
                return self._finish_upload(conn, upload_id, version, versioning, check)
            if check is not None:
                row = conn.execute(
                    f"SELECT {_VERSION_COLUMNS} FROM versions WHERE bucket=? AND key=? AND is_latest=1",
                    (version.bucket, version.key),
                ).fetchone()
                check(_version(row) if row else None)
            return self._put(conn, version, versioning)

        return self._committer.submit(work)

    def put_if(self, version: Version, versioning: str, check: Callable[[Version | None], None]) -> list[str]:
        """`put`, after `check(current latest)` passes under the write lock (conditional writes)."""

        def work(conn: sqlite3.Connection) -> Any:
            row = conn.execute(
                f"SELECT {_VERSION_COLUMNS} FROM versions WHERE bucket=? AND key=? AND is_latest=1",
                (version.bucket, version.key),
            ).fetchone()
            check(_version(row) if row else None)
            return self._put(conn, version, versioning)

        return self._write(work)

    def delete_version(self, bucket: str, key: str, version_id: str) -> tuple[Version | None, list[str]]:
        """Remove one version permanently; the next newest becomes latest. Returns it and freed blobs."""

        def work(conn: sqlite3.Connection) -> Any:
            row = conn.execute(
                f"SELECT {_VERSION_COLUMNS} FROM versions WHERE bucket=? AND key=? AND version_id=?",
                (bucket, key, version_id),
            ).fetchone()
            if row is None:
                return None, []
            removed = _version(row)
            conn.execute("DELETE FROM versions WHERE seq=?", (removed.seq,))
            if removed.is_latest:
                conn.execute(
                    "UPDATE versions SET is_latest=1 WHERE seq=(SELECT MAX(seq) FROM versions"
                    " WHERE bucket=? AND key=?)",
                    (bucket, key),
                )
            return removed, [removed.blob] if removed.blob else []

        return self._write(work)

    def set_tags(self, bucket: str, key: str, version_id: str, tags: dict[str, str]) -> bool:
        def work(conn: sqlite3.Connection) -> Any:
            cursor = conn.execute(
                "UPDATE versions SET tags=? WHERE bucket=? AND key=? AND version_id=? AND is_marker=0",
                (json.dumps(tags), bucket, key, version_id),
            )
            return cursor.rowcount > 0

        return self._write(work)

    def set_info(self, bucket: str, key: str, version_id: str, info: dict[str, Any]) -> None:
        def work(conn: sqlite3.Connection) -> Any:
            conn.execute(
                "UPDATE versions SET info=? WHERE bucket=? AND key=? AND version_id=?",
                (json.dumps(info), bucket, key, version_id),
            )

        return self._write(work)

    def inline_data(self, seq: int) -> bytes | None:
        """The bytes of an inline object (None if the version is gone meanwhile)."""
        row = self._read().execute("SELECT data FROM versions WHERE seq=?", (seq,)).fetchone()
        return (row[0] or b"") if row is not None else None

    def has_versions(self, bucket: str) -> bool:
        return (
            self._read().execute("SELECT 1 FROM versions WHERE bucket=? LIMIT 1", (bucket,)).fetchone()
            is not None
        )

    def list_latest(self, bucket: str, after: str, prefix: str, limit: int) -> list[Version]:
        """Current objects (not markers) with key > `after` and starting with `prefix`, in key order."""
        low = max(after, prefix) if prefix else after
        if prefix and low == prefix:
            clause, args = "key >= ?", [prefix]
        else:
            clause, args = "key > ?", [low]
        rows = (
            self._read()
            .execute(
                f"SELECT {_VERSION_COLUMNS} FROM versions WHERE bucket=? AND is_latest=1 AND is_marker=0"
                f" AND {clause} ORDER BY key LIMIT ?",
                (bucket, *args, limit),
            )
            .fetchall()
        )
        return [_version(row) for row in rows if row[2].startswith(prefix)]

    def list_versions(
        self, bucket: str, after_key: str, after_seq: int | None, prefix: str, limit: int
    ) -> list[Version]:
        """Every version and marker, by key then newest first, after (`after_key`, `after_seq`)."""
        if after_seq is None:
            clause, args = (
                ("key >= ?", [prefix]) if prefix and after_key <= prefix else ("key > ?", [after_key])
            )
        else:
            clause, args = "(key > ? OR (key = ? AND seq < ?))", [after_key, after_key, after_seq]
        rows = (
            self._read()
            .execute(
                f"SELECT {_VERSION_COLUMNS} FROM versions WHERE bucket=? AND {clause} ORDER BY key, seq DESC LIMIT ?",
                (bucket, *args, limit),
            )
            .fetchall()
        )
        return [_version(row) for row in rows if row[2].startswith(prefix)]

    def drop_bucket(self, bucket: str) -> list[str]:
        """Forget everything a deleted bucket held (in-progress uploads); returns blobs to remove."""

        def work(conn: sqlite3.Connection) -> Any:
            blobs = [
                row[0]
                for row in conn.execute(
                    "SELECT blob FROM parts WHERE upload_id IN (SELECT upload_id FROM uploads WHERE bucket=?)",
                    (bucket,),
                )
            ]
            conn.execute(
                "DELETE FROM parts WHERE upload_id IN (SELECT upload_id FROM uploads WHERE bucket=?)",
                (bucket,),
            )
            conn.execute("DELETE FROM uploads WHERE bucket=?", (bucket,))
            return blobs

        return self._write(work)

    # -- multipart uploads --------------------------------------------------------------------------

    def create_upload(self, upload: Upload) -> None:
        def work(conn: sqlite3.Connection) -> Any:
            conn.execute(
                "INSERT INTO uploads (upload_id, bucket, key, initiated, info) VALUES (?, ?, ?, ?, ?)",
                (upload.upload_id, upload.bucket, upload.key, upload.initiated, json.dumps(upload.info)),
            )

        return self._write(work)

    def get_upload(self, upload_id: str) -> Upload | None:
        row = (
            self._read()
            .execute(
                "SELECT upload_id, bucket, key, initiated, info FROM uploads WHERE upload_id=?", (upload_id,)
            )
            .fetchone()
        )
        return Upload(row[0], row[1], row[2], row[3], json.loads(row[4])) if row else None

    def list_uploads(self, bucket: str) -> list[Upload]:
        rows = (
            self._read()
            .execute(
                "SELECT upload_id, bucket, key, initiated, info FROM uploads WHERE bucket=? ORDER BY key, initiated",
                (bucket,),
            )
            .fetchall()
        )
        return [Upload(row[0], row[1], row[2], row[3], json.loads(row[4])) for row in rows]

    def put_part(self, upload_id: str, part: Part) -> list[str]:
        """Record a part (replacing an earlier one with its number). NoSuchUpload if aborted meanwhile."""

        def work(conn: sqlite3.Connection) -> Any:
            if conn.execute("SELECT 1 FROM uploads WHERE upload_id=?", (upload_id,)).fetchone() is None:
                raise KeyError(upload_id)
            old = conn.execute(
                "SELECT blob FROM parts WHERE upload_id=? AND part_number=?", (upload_id, part.part_number)
            ).fetchone()
            conn.execute(
                "INSERT OR REPLACE INTO parts (upload_id, part_number, blob, size, etag, last_modified, info)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    upload_id,
                    part.part_number,
                    part.blob,
                    part.size,
                    part.etag,
                    part.last_modified,
                    json.dumps(part.info),
                ),
            )
            return [old[0]] if old else []

        return self._write(work)

    def list_parts(self, upload_id: str) -> list[Part]:
        rows = (
            self._read()
            .execute(
                "SELECT part_number, blob, size, etag, last_modified, info FROM parts WHERE upload_id=?"
                " ORDER BY part_number",
                (upload_id,),
            )
            .fetchall()
        )
        return [Part(row[0], row[1], row[2], row[3], row[4], json.loads(row[5])) for row in rows]

    def finish_upload(
        self,
        upload_id: str,
        version: Version | None,
        versioning: str,
        check: Callable[[Version | None], None] | None = None,
    ) -> list[str]:
        """Drop the upload and its parts; with `version`, make it the key's latest in the same commit
        (after `check(current latest)` passes). Returns every blob no longer referenced. KeyError if
        the upload is gone."""
        return self._write(lambda conn: self._finish_upload(conn, upload_id, version, versioning, check))

    def _finish_upload(
        self,
        conn: sqlite3.Connection,
        upload_id: str,
        version: Version | None,
        versioning: str,
        check: Callable[[Version | None], None] | None,
    ) -> list[str]:
        if conn.execute("SELECT 1 FROM uploads WHERE upload_id=?", (upload_id,)).fetchone() is None:
            raise KeyError(upload_id)
        if version is not None and check is not None:
            row = conn.execute(
                f"SELECT {_VERSION_COLUMNS} FROM versions WHERE bucket=? AND key=? AND is_latest=1",
                (version.bucket, version.key),
            ).fetchone()
            check(_version(row) if row else None)
        freed = [row[0] for row in conn.execute("SELECT blob FROM parts WHERE upload_id=?", (upload_id,))]
        conn.execute("DELETE FROM parts WHERE upload_id=?", (upload_id,))
        conn.execute("DELETE FROM uploads WHERE upload_id=?", (upload_id,))
        if version is not None:
            freed += self._put(conn, version, versioning)
        return freed


class _GroupCommitter:
    """Runs write functions on one connection, many per transaction (group commit).

    Concurrent writers queue their function; the committer thread takes everything queued, runs
    each inside its own SAVEPOINT (a failing one is rolled back alone and gets its exception),
    then COMMITs once: one fsync for the whole batch instead of one per write. A caller returns
    only after the commit that holds its write, so an acknowledged write is durable."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._queue: queue.SimpleQueue[tuple[Callable[[sqlite3.Connection], Any], Future[Any]] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._loop, name="s3-index-commit", daemon=True)
        self._thread.start()

    def run(self, function: Callable[[sqlite3.Connection], T]) -> T:
        return self.submit(function).result()

    def submit(self, function: Callable[[sqlite3.Connection], T]) -> Future[T]:
        """Queue a write; the future resolves once the commit that holds it is durable."""
        future: Future[T] = Future()
        self._queue.put((function, future))
        return future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < 256:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                batch.append(more)
            self._commit(batch)

    def _commit(self, batch: list[tuple[Callable[[sqlite3.Connection], Any], Future[Any]]]) -> None:
        conn = self._conn
        outcomes: list[tuple[Future[Any], Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for function, future in batch:
                conn.execute("SAVEPOINT w")
                try:
                    result = function(conn)
                except BaseException as error:  # noqa: BLE001 - handed to the caller
                    conn.execute("ROLLBACK TO w")
                    conn.execute("RELEASE w")
                    outcomes.append((future, None, error))
                else:
                    conn.execute("RELEASE w")
                    outcomes.append((future, result, None))
            conn.execute("COMMIT")
        except BaseException as error:  # noqa: BLE001 - the commit failed: every write in it did
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            for _, future in batch:
                future.set_exception(error)
            return
        for future, result, failure in outcomes:
            if failure is not None:
                future.set_exception(failure)
            else:
                future.set_result(result)


def iter_file(path: Path, start: int, length: int, chunk_size: int = 256 * 1024) -> Iterator[bytes]:
    """Read `length` bytes of a blob from `start` (synchronously; callers wrap it for asyncio)."""
    with open(path, "rb") as source:
        source.seek(start)
        remaining = length
        while remaining > 0:
            chunk = source.read(min(remaining, chunk_size))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk
