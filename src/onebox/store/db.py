"""The Store: every resource record is read and written here.

SQLite by default, through SQLAlchemy Core. Concurrency model:

* Reads outside a transaction run in autocommit mode: each SELECT sees the latest committed state and,
  thanks to WAL, never waits for a writer.
* Every write runs inside a transaction that starts with `BEGIN IMMEDIATE`, taking SQLite's write lock
  up front. Taking it lazily (plain BEGIN) could fail a read-then-write transaction with SQLITE_BUSY
  on lock upgrade, which the busy timeout cannot retry.
* `update`/`delete` of a record read earlier succeed only if its version is unchanged (optimistic
  concurrency); read and write inside one `transaction()` to serialize instead.
* Changes are published to the feed after commit, never for rolled-back work.

Durability: WAL with `synchronous=FULL` fsyncs the WAL on every commit, so an acknowledged write
survives not just `kill -9` (NORMAL would be enough for that: the WAL write reaches the OS before
commit returns) but also a host crash or power cut. The store is the source of truth for real
namespaces and processes; losing an acknowledged create would orphan them. A commit costs one fsync.
"""

from __future__ import annotations

import builtins
import json
import secrets
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, NoReturn

from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.pool import NullPool, StaticPool

from onebox.clock import Clock
from onebox.store.changes import Change, ChangeFeed
from onebox.store.errors import AlreadyExists, Busy, Conflict, NotFound, StoreError
from onebox.store.pagination import Paginator
from onebox.store.records import NameScope, Record
from onebox.store.schema import SCHEMA_VERSION, meta, metadata, resources

Synchronous = Literal["FULL", "NORMAL"]

_c = resources.c
_KEY = (
    (_c.kind == bindparam("k_kind"))
    & (_c.account == bindparam("k_account"))
    & (_c.region == bindparam("k_region"))
    & (_c.id == bindparam("k_id"))
)
# Built once: SQLAlchemy memoizes each statement's cache key and compiled form, and sqlite3 keeps the
# prepared statement per connection, so the hot path does no SQL construction or parsing.
_GET = select(resources).where(_KEY)
_GET_BY_NAME = select(resources).where(
    (_c.kind == bindparam("k_kind"))
    & (_c.name_scope == bindparam("k_scope"))
    & (_c.name == bindparam("k_name"))
)
_SCOPE = (
    (_c.kind == bindparam("k_kind"))
    & (_c.account == bindparam("k_account"))
    & (_c.region == bindparam("k_region"))
)
_LIST = select(resources).where(_SCOPE).order_by(_c.seq)
_LIST_IDS = select(resources).where(_SCOPE & _c.id.in_(bindparam("ids", expanding=True))).order_by(_c.seq)
_LIST_ALL = select(resources).where(_c.kind == bindparam("k_kind")).order_by(_c.seq)
_COUNT = select(func.count()).select_from(resources).where(_SCOPE)
_VERSION = select(_c.version).where(_KEY)
_INSERT = insert(resources).returning(_c.seq)
_UPDATE = (
    update(resources)
    .where(_KEY & (_c.version == bindparam("expected")))
    .values(
        spec=bindparam("new_spec"),
        status=bindparam("new_status"),
        tags=bindparam("new_tags"),
        version=_c.version + 1,
        updated_at=bindparam("now"),
    )
    .returning(*resources.c)
)
_UPDATE_STATUS = (
    update(resources)
    .where(_KEY)
    .values(status=bindparam("new_status"), version=_c.version + 1, updated_at=bindparam("now"))
    .returning(*resources.c)
)
_UPDATE_STATUS_AT = (
    update(resources)
    .where(_KEY & (_c.version == bindparam("expected")))
    .values(status=bindparam("new_status"), version=_c.version + 1, updated_at=bindparam("now"))
    .returning(*resources.c)
)
_DELETE = delete(resources).where(_KEY & (_c.version == bindparam("expected")))
_DELETE_ANY = delete(resources).where(_KEY).returning(*resources.c)

_SQLITE_BUSY = 5


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _record(row: Any) -> Record:
    return Record(
        kind=row.kind,
        account=row.account,
        region=row.region,
        id=row.id,
        arn=row.arn,
        name=row.name,
        spec=json.loads(row.spec),
        status=json.loads(row.status),
        tags=json.loads(row.tags),
        version=row.version,
        created_at=datetime.fromtimestamp(row.created_at, UTC),
        updated_at=datetime.fromtimestamp(row.updated_at, UTC),
        seq=row.seq,
    )


def _key(kind: str, account: str, region: str, id: str) -> dict[str, str]:
    return {"k_kind": kind, "k_account": account, "k_region": region, "k_id": id}


@dataclass
class _Transaction:
    conn: Connection
    changes: list[Change] = field(default_factory=list)
    savepoints: int = 0


class Store:
    """Resource records. Thread-safe; open one per process and share it."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        *,
        feed: ChangeFeed | None = None,
        single_connection: bool = False,
        busy_timeout: float = 5.0,
        max_idle: int = 16,
    ) -> None:
        """Prefer `Store.open` or `Store.memory`. `single_connection`: the engine holds one DBAPI
        connection (an in-memory database), so the store serializes its use with a lock."""
        self._engine = engine
        self._clock = clock
        self._busy_timeout = busy_timeout
        self._is_sqlite = engine.dialect.name == "sqlite"
        self._lock = threading.Lock() if single_connection else None
        self._shared: Connection | None = engine.connect() if single_connection else None
        # Open connections kept between calls. Checking one out of SQLAlchemy's pool and resetting it
        # costs more than the query itself; popping from a list is atomic under the GIL.
        self._idle: builtins.list[Connection] = []
        self._max_idle = max_idle
        # A ContextVar rather than a thread-local: asyncio tasks on one thread must not share a transaction.
        self._current: ContextVar[_Transaction | None] = ContextVar(f"store-tx-{id(self)}", default=None)
        self.changes = feed if feed is not None else ChangeFeed()
        self.paginator = Paginator(self._init_schema())

    # -- construction -------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: Path,
        clock: Clock,
        *,
        synchronous: Synchronous = "FULL",
        busy_timeout: float = 5.0,
        max_idle: int = 16,
        feed: ChangeFeed | None = None,
    ) -> Store:
        """Open (creating if needed) the SQLite database at `path`."""
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            f"sqlite:///{path}",
            # The store keeps its own idle connections (see __init__); the engine only makes new ones.
            poolclass=NullPool,
            # Connections move between threads; each is used by one thread at a time.
            connect_args={"check_same_thread": False, "timeout": busy_timeout},
        )

        @event.listens_for(engine, "connect")
        def _configure(dbapi_connection: sqlite3.Connection, _record: object) -> None:
            # We issue BEGIN ourselves (see module docstring), so sqlite3 must not.
            dbapi_connection.isolation_level = None
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            dbapi_connection.execute(f"PRAGMA synchronous={synchronous}")
            dbapi_connection.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")

        return cls(engine, clock, feed=feed, busy_timeout=busy_timeout, max_idle=max_idle)

    @classmethod
    def memory(cls, clock: Clock, *, feed: ChangeFeed | None = None) -> Store:
        """A private in-memory store, for tests and throwaway runs."""
        engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _configure(dbapi_connection: sqlite3.Connection, _record: object) -> None:
            dbapi_connection.isolation_level = None

        return cls(engine, clock, feed=feed, single_connection=True)

    def _init_schema(self) -> bytes:
        """Create tables once at open (never per call) and return the pagination secret."""
        with self._checkout() as conn:
            self._begin(conn)
            metadata.create_all(conn)
            rows = {key: value for key, value in conn.execute(select(meta.c.key, meta.c.value))}
            stored_version = int(rows.get("schema_version", SCHEMA_VERSION))
            if stored_version > SCHEMA_VERSION:
                conn.rollback()
                raise StoreError(
                    f"store schema {stored_version} is newer than this onebox ({SCHEMA_VERSION})"
                )
            secret = rows.get("pagination_secret")
            if secret is None:
                # Persisted so NextTokens handed out before a restart still work after it.
                secret = secrets.token_hex(32)
                conn.execute(
                    insert(meta),
                    [
                        {"key": "schema_version", "value": str(SCHEMA_VERSION)},
                        {"key": "pagination_secret", "value": secret},
                    ],
                )
            conn.commit()
        return bytes.fromhex(secret)

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()
        if self._shared is not None:
            self._shared.close()
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- connections and transactions ---------------------------------------------------------------

    @contextmanager
    def _checkout(self) -> Iterator[Connection]:
        """A connection for this thread's exclusive use until the block ends."""
        if self._shared is not None:
            assert self._lock is not None
            if not self._lock.acquire(timeout=self._busy_timeout):
                raise Busy("the in-memory store stayed locked by another transaction")
            try:
                yield self._shared
            finally:
                self._end(self._shared)
                self._lock.release()
            return
        try:
            conn = self._idle.pop()
        except IndexError:
            conn = self._engine.connect()
        try:
            yield conn
        finally:
            # Rolled back even after an error, so a reused connection never carries a transaction.
            if self._end(conn) and len(self._idle) < self._max_idle:
                self._idle.append(conn)
            else:
                conn.close()

    @staticmethod
    def _end(conn: Connection) -> bool:
        """End SQLAlchemy's implicit transaction after autocommit reads; False if the connection broke."""
        try:
            conn.rollback()
        except Exception:
            return False
        return not conn.invalidated

    def _begin(self, conn: Connection) -> None:
        if not self._is_sqlite:
            return  # other databases begin implicitly; row locks come from UPDATE ... WHERE version
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except OperationalError as error:
            if getattr(error.orig, "sqlite_errorcode", None) == _SQLITE_BUSY:
                raise Busy("another writer held the store past the busy timeout") from error
            raise

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        tx = self._current.get()
        if tx is not None:
            yield tx.conn  # see this transaction's own uncommitted writes
            return
        with self._checkout() as conn:
            yield conn

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """Make every store call in the block one atomic change; any exception rolls it all back.

        Calls on this store in the same thread (or asyncio task) join the transaction. Nested blocks
        are savepoints: an exception rolls back only the inner block. Do not `await` inside: the
        transaction holds SQLite's write lock, which would stall every other writer meanwhile.
        """
        outer = self._current.get()
        if outer is not None:
            yield from self._savepoint(outer)
            return
        with self._checkout() as conn:
            self._begin(conn)
            tx = _Transaction(conn)
            token = self._current.set(tx)
            try:
                yield self
            except BaseException:
                conn.rollback()
                raise
            else:
                conn.commit()
            finally:
                self._current.reset(token)
        # Only after commit, and with the connection released: subscribers may read at once.
        self.changes.publish(tx.changes)

    def _savepoint(self, tx: _Transaction) -> Iterator[Store]:
        tx.savepoints += 1
        name = f"sp{tx.savepoints}"
        mark = len(tx.changes)
        tx.conn.exec_driver_sql(f"SAVEPOINT {name}")
        try:
            yield self
        except BaseException:
            tx.conn.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {name}")
            tx.conn.exec_driver_sql(f"RELEASE SAVEPOINT {name}")
            del tx.changes[mark:]
            raise
        else:
            tx.conn.exec_driver_sql(f"RELEASE SAVEPOINT {name}")
        finally:
            tx.savepoints -= 1

    @contextmanager
    def _writing(self) -> Iterator[_Transaction]:
        tx = self._current.get()
        if tx is not None:
            yield tx
            return
        with self.transaction():
            current = self._current.get()
            assert current is not None
            yield current

    # -- reads --------------------------------------------------------------------------------------

    def get(self, kind: str, account: str, region: str, id: str) -> Record | None:
        with self._reading() as conn:
            row = conn.execute(_GET, _key(kind, account, region, id)).first()
        return _record(row) if row is not None else None

    def get_by_name(
        self, kind: str, account: str, region: str, name: str, *, scope: NameScope = NameScope.REGION
    ) -> Record | None:
        """The record named `name` in `scope`. With NameScope.GLOBAL the record may belong to another
        account or region (that is the point: S3 must say BucketAlreadyExists); check its owner."""
        with self._reading() as conn:
            row = conn.execute(
                _GET_BY_NAME, {"k_kind": kind, "k_scope": scope.key(account, region), "k_name": name}
            ).first()
        return _record(row) if row is not None else None

    def list(self, kind: str, account: str, region: str, *, ids: Sequence[str] | None = None) -> list[Record]:
        """Records of `kind` in one account and region, in creation order; `ids` narrows (missing ids
        are simply absent: the caller decides whether that is an error)."""
        params: dict[str, Any] = {"k_kind": kind, "k_account": account, "k_region": region}
        statement = _LIST
        if ids is not None:
            if not ids:
                return []
            statement = _LIST_IDS
            params["ids"] = list(ids)
        with self._reading() as conn:
            rows = conn.execute(statement, params).all()
        return [_record(row) for row in rows]

    def list_all(self, kind: str) -> builtins.list[Record]:
        """Every record of `kind` in every account and region: for controllers' periodic resync."""
        with self._reading() as conn:
            rows = conn.execute(_LIST_ALL, {"k_kind": kind}).all()
        return [_record(row) for row in rows]

    def count(self, kind: str, account: str, region: str) -> int:
        """How many records of `kind` one account has in one region (for AWS quotas)."""
        with self._reading() as conn:
            return int(
                conn.execute(_COUNT, {"k_kind": kind, "k_account": account, "k_region": region}).scalar_one()
            )

    # -- writes -------------------------------------------------------------------------------------

    def create(
        self,
        kind: str,
        account: str,
        region: str,
        id: str,
        *,
        arn: str,
        name: str | None = None,
        name_scope: NameScope = NameScope.REGION,
        spec: dict[str, Any],
        status: dict[str, Any] | None = None,
        tags: dict[str, str] | None = None,
    ) -> Record:
        """Insert a record at version 1. AlreadyExists if the id, or the name in its scope, is taken."""
        now = self._clock.time()
        scope_key = name_scope.key(account, region) if name is not None else None
        values = {
            "kind": kind,
            "account": account,
            "region": region,
            "id": id,
            "name": name,
            "name_scope": scope_key,
            "arn": arn,
            "spec": _dumps(spec),
            "status": _dumps(status or {}),
            "tags": _dumps(tags or {}),
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        with self._writing() as tx:
            # Checked first under the write lock, so we can say which identity collided.
            existing = tx.conn.execute(_GET, _key(kind, account, region, id)).first()
            if existing is not None:
                raise AlreadyExists(kind, "id", id, _record(existing))
            if name is not None:
                existing = tx.conn.execute(
                    _GET_BY_NAME, {"k_kind": kind, "k_scope": scope_key, "k_name": name}
                ).first()
                if existing is not None:
                    raise AlreadyExists(kind, "name", name, _record(existing))
            try:
                seq = tx.conn.execute(_INSERT, values).scalar_one()
            except IntegrityError as error:  # a racing writer on a database without BEGIN IMMEDIATE
                raise AlreadyExists(kind, "id or name", name or id, None) from error
            tx.changes.append(Change(kind, account, region, id, 1))
        return Record(
            kind=kind,
            account=account,
            region=region,
            id=id,
            arn=arn,
            name=name,
            spec=json.loads(values["spec"]),  # copies: the caller's dicts stay theirs
            status=json.loads(values["status"]),
            tags=json.loads(values["tags"]),
            version=1,
            created_at=datetime.fromtimestamp(now, UTC),
            updated_at=datetime.fromtimestamp(now, UTC),
            seq=seq,
        )

    def update(
        self,
        record: Record,
        *,
        spec: dict[str, Any] | None = None,
        status: dict[str, Any] | None = None,
        tags: dict[str, str] | None = None,
    ) -> Record:
        """Replace the given parts of `record`. Conflict if it changed since read; NotFound if deleted."""
        params = {
            **_key(*record.key),
            "expected": record.version,
            "new_spec": _dumps(record.spec if spec is None else spec),
            "new_status": _dumps(record.status if status is None else status),
            "new_tags": _dumps(record.tags if tags is None else tags),
            "now": self._clock.time(),
        }
        with self._writing() as tx:
            row = tx.conn.execute(_UPDATE, params).first()
            if row is None:
                self._raise_missing_or_conflict(tx.conn, record.key, record.version)
            status_only = spec is None and tags is None and status is not None
            tx.changes.append(Change(*record.key, row.version, status_only=status_only))
        return _record(row)

    def update_status(
        self,
        kind: str,
        account: str,
        region: str,
        id: str,
        status: dict[str, Any],
        *,
        expected_version: int | None = None,
    ) -> Record:
        """Replace a record's status (controllers). NotFound if gone; with `expected_version`, Conflict
        if the record moved on. Without it the write wins regardless: status is the controller's alone."""
        params: dict[str, Any] = {
            **_key(kind, account, region, id),
            "new_status": _dumps(status),
            "now": self._clock.time(),
        }
        if expected_version is not None:
            params["expected"] = expected_version
        with self._writing() as tx:
            statement = _UPDATE_STATUS if expected_version is None else _UPDATE_STATUS_AT
            row = tx.conn.execute(statement, params).first()
            if row is None:
                self._raise_missing_or_conflict(tx.conn, (kind, account, region, id), expected_version)
            tx.changes.append(Change(kind, account, region, id, row.version, status_only=True))
        return _record(row)

    def delete(self, record: Record) -> None:
        """Delete `record`. Conflict if it changed since read; NotFound if already gone."""
        with self._writing() as tx:
            result = tx.conn.execute(_DELETE, {**_key(*record.key), "expected": record.version})
            if result.rowcount == 0:
                self._raise_missing_or_conflict(tx.conn, record.key, record.version)
            tx.changes.append(Change(*record.key, record.version + 1, deleted=True))

    def delete_by_id(self, kind: str, account: str, region: str, id: str) -> Record | None:
        """Delete whatever version is stored; returns the deleted record, or None if there was none."""
        with self._writing() as tx:
            row = tx.conn.execute(_DELETE_ANY, _key(kind, account, region, id)).first()
            if row is None:
                return None
            tx.changes.append(Change(kind, account, region, id, row.version + 1, deleted=True))
        return _record(row)

    def _raise_missing_or_conflict(
        self, conn: Connection, key: tuple[str, str, str, str], expected_version: int | None
    ) -> NoReturn:
        current = conn.execute(_VERSION, _key(*key)).scalar()
        if current is None or expected_version is None:
            raise NotFound(*key)
        raise Conflict(*key, expected_version, current)
