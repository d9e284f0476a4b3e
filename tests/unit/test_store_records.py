"""Store CRUD, identity, isolation, optimistic concurrency, transactions and reopening."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from onebox.clock import ManualClock
from onebox.store import AlreadyExists, Conflict, NameScope, NotFound, Record, Store

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"
REGION = "us-east-1"
KIND = "ec2:key-pair"


@pytest.fixture(params=["memory", "file"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    clock = ManualClock()
    # NORMAL keeps the file variant fast; durability under FULL has its own test.
    opened = (
        Store.memory(clock)
        if request.param == "memory"
        else Store.open(tmp_path / "state.db", clock, synchronous="NORMAL")
    )
    yield opened
    opened.close()


def make(store: Store, id: str, *, account: str = ACCOUNT, region: str = REGION, **kwargs: object) -> Record:
    kwargs.setdefault("spec", {"n": id})
    return store.create(
        KIND, account, region, id, arn=f"arn:aws:ec2:{region}:{account}:key-pair/{id}", **kwargs
    )  # type: ignore[arg-type]


def test_create_then_get_round_trips_every_field(store: Store) -> None:
    created = store.create(
        KIND,
        ACCOUNT,
        REGION,
        "key-1",
        arn="arn:aws:ec2:us-east-1:123456789012:key-pair/key-1",
        name="deploy",
        spec={"KeyName": "deploy", "nested": {"list": [1, 2]}},
        status={"state": "pending"},
        tags={"b": "2", "a": "1"},
    )
    fetched = store.get(KIND, ACCOUNT, REGION, "key-1")
    assert fetched == created
    assert fetched is not None
    assert fetched.version == 1
    assert fetched.name == "deploy"
    assert fetched.spec == {"KeyName": "deploy", "nested": {"list": [1, 2]}}
    assert fetched.status == {"state": "pending"}
    assert list(fetched.tags.items()) == [("b", "2"), ("a", "1")]  # order preserved, not sorted
    assert fetched.created_at == datetime.fromtimestamp(1_800_000_000.0, UTC)
    assert fetched.updated_at == fetched.created_at


def test_returned_dicts_are_copies(store: Store) -> None:
    spec = {"a": 1}
    created = make(store, "key-1", spec=spec)
    spec["a"] = 2
    created.spec["a"] = 3
    fetched = store.get(KIND, ACCOUNT, REGION, "key-1")
    assert fetched is not None and fetched.spec == {"a": 1}


def test_get_missing_returns_none(store: Store) -> None:
    assert store.get(KIND, ACCOUNT, REGION, "key-nope") is None
    assert store.get_by_name(KIND, ACCOUNT, REGION, "nope") is None


def test_duplicate_id_is_rejected(store: Store) -> None:
    first = make(store, "key-1")
    with pytest.raises(AlreadyExists) as caught:
        make(store, "key-1")
    assert caught.value.field == "id"
    assert caught.value.existing == first
    assert store.count(KIND, ACCOUNT, REGION) == 1


def test_same_id_in_another_kind_is_fine(store: Store) -> None:
    make(store, "x-1")
    store.create("ec2:vpc", ACCOUNT, REGION, "x-1", arn="a", spec={})
    assert store.get("ec2:vpc", ACCOUNT, REGION, "x-1") is not None


def test_name_unique_per_account_and_region(store: Store) -> None:
    make(store, "key-1", name="deploy")
    with pytest.raises(AlreadyExists) as caught:
        make(store, "key-2", name="deploy")
    assert caught.value.field == "name"
    assert caught.value.existing is not None and caught.value.existing.id == "key-1"
    # The same name is free in another region and in another account.
    make(store, "key-3", name="deploy", region="eu-west-1")
    make(store, "key-4", name="deploy", account=OTHER_ACCOUNT)
    found = store.get_by_name(KIND, ACCOUNT, REGION, "deploy")
    assert found is not None and found.id == "key-1"
    found = store.get_by_name(KIND, ACCOUNT, "eu-west-1", "deploy")
    assert found is not None and found.id == "key-3"
    # Unnamed records never collide with each other.
    make(store, "key-5")
    make(store, "key-6")


def test_name_freed_by_delete(store: Store) -> None:
    first = make(store, "key-1", name="deploy")
    store.delete(first)
    make(store, "key-2", name="deploy")


def test_global_names_are_unique_across_accounts_and_regions(store: Store) -> None:
    # S3 buckets: one namespace for the whole partition.
    store.create(
        "s3:bucket", ACCOUNT, "", "b1", arn="arn:aws:s3:::b1", name="b1", name_scope=NameScope.GLOBAL, spec={}
    )
    with pytest.raises(AlreadyExists) as caught:
        store.create(
            "s3:bucket", OTHER_ACCOUNT, "", "b1x", arn="x", name="b1", name_scope=NameScope.GLOBAL, spec={}
        )
    assert caught.value.existing is not None and caught.value.existing.account == ACCOUNT
    owner = store.get_by_name("s3:bucket", OTHER_ACCOUNT, "", "b1", scope=NameScope.GLOBAL)
    assert owner is not None and owner.account == ACCOUNT


def test_account_scoped_names_span_regions(store: Store) -> None:
    store.create(
        "iam:role", ACCOUNT, REGION, "r1", arn="a", name="admin", name_scope=NameScope.ACCOUNT, spec={}
    )
    with pytest.raises(AlreadyExists):
        store.create(
            "iam:role",
            ACCOUNT,
            "eu-west-1",
            "r2",
            arn="a",
            name="admin",
            name_scope=NameScope.ACCOUNT,
            spec={},
        )
    store.create(
        "iam:role", OTHER_ACCOUNT, REGION, "r3", arn="a", name="admin", name_scope=NameScope.ACCOUNT, spec={}
    )


def test_accounts_and_regions_are_isolated(store: Store) -> None:
    make(store, "key-1")
    make(store, "key-2", account=OTHER_ACCOUNT)
    make(store, "key-3", region="eu-west-1")
    assert [r.id for r in store.list(KIND, ACCOUNT, REGION)] == ["key-1"]
    assert [r.id for r in store.list(KIND, OTHER_ACCOUNT, REGION)] == ["key-2"]
    assert [r.id for r in store.list(KIND, ACCOUNT, "eu-west-1")] == ["key-3"]
    assert store.get(KIND, OTHER_ACCOUNT, REGION, "key-1") is None
    assert store.get(KIND, ACCOUNT, "eu-west-1", "key-1") is None
    assert store.list(KIND, OTHER_ACCOUNT, REGION, ids=["key-1", "key-3"]) == []
    assert store.count(KIND, ACCOUNT, REGION) == 1
    assert store.delete_by_id(KIND, OTHER_ACCOUNT, REGION, "key-1") is None
    assert store.get(KIND, ACCOUNT, REGION, "key-1") is not None
    assert sorted(r.id for r in store.list_all(KIND)) == ["key-1", "key-2", "key-3"]


def test_list_is_in_creation_order_and_filters_by_ids(store: Store) -> None:
    for id in ["key-c", "key-a", "key-b", "key-d"]:
        make(store, id)
    assert [r.id for r in store.list(KIND, ACCOUNT, REGION)] == ["key-c", "key-a", "key-b", "key-d"]
    picked = store.list(KIND, ACCOUNT, REGION, ids=["key-d", "key-c", "key-missing"])
    assert [r.id for r in picked] == ["key-c", "key-d"]
    assert store.list(KIND, ACCOUNT, REGION, ids=[]) == []
    seqs = [r.seq for r in store.list(KIND, ACCOUNT, REGION)]
    assert seqs == sorted(seqs)


def test_update_bumps_version_and_keeps_unchanged_parts(store: Store) -> None:
    clock = store._clock
    assert isinstance(clock, ManualClock)
    created = make(store, "key-1", status={"s": 1}, tags={"a": "1"})
    clock.advance(5)
    updated = store.update(created, spec={"n": "new"})
    assert updated.version == 2
    assert updated.spec == {"n": "new"}
    assert updated.status == {"s": 1}
    assert updated.tags == {"a": "1"}
    assert updated.created_at == created.created_at
    assert (updated.updated_at - created.updated_at).total_seconds() == 5
    again = store.update(updated, tags={"b": "2"})
    assert again.version == 3 and again.tags == {"b": "2"} and again.spec == {"n": "new"}
    assert store.get(KIND, ACCOUNT, REGION, "key-1") == again


def test_stale_update_conflicts(store: Store) -> None:
    created = make(store, "key-1")
    store.update(created, spec={"n": "first"})
    with pytest.raises(Conflict) as caught:
        store.update(created, spec={"n": "second"})
    assert caught.value.expected_version == 1
    assert caught.value.current_version == 2
    current = store.get(KIND, ACCOUNT, REGION, "key-1")
    assert current is not None and current.spec == {"n": "first"}


def test_update_or_delete_of_deleted_record_is_not_found(store: Store) -> None:
    created = make(store, "key-1")
    store.delete(created)
    with pytest.raises(NotFound):
        store.update(created, spec={})
    with pytest.raises(NotFound):
        store.delete(created)
    with pytest.raises(NotFound):
        store.update_status(KIND, ACCOUNT, REGION, "key-1", {"s": 1})


def test_stale_delete_conflicts(store: Store) -> None:
    created = make(store, "key-1")
    store.update(created, spec={"n": "changed"})
    with pytest.raises(Conflict):
        store.delete(created)
    assert store.get(KIND, ACCOUNT, REGION, "key-1") is not None


def test_delete_by_id_returns_the_deleted_record(store: Store) -> None:
    created = make(store, "key-1")
    deleted = store.delete_by_id(KIND, ACCOUNT, REGION, "key-1")
    assert deleted == created
    assert store.get(KIND, ACCOUNT, REGION, "key-1") is None
    assert store.delete_by_id(KIND, ACCOUNT, REGION, "key-1") is None


def test_update_status(store: Store) -> None:
    created = make(store, "key-1", spec={"keep": True})
    updated = store.update_status(KIND, ACCOUNT, REGION, "key-1", {"state": "available"})
    assert (
        updated.version == 2 and updated.status == {"state": "available"} and updated.spec == {"keep": True}
    )
    again = store.update_status(KIND, ACCOUNT, REGION, "key-1", {"state": "x"}, expected_version=2)
    assert again.version == 3
    with pytest.raises(Conflict) as caught:
        store.update_status(KIND, ACCOUNT, REGION, "key-1", {"state": "y"}, expected_version=created.version)
    assert caught.value.current_version == 3


def test_transaction_commits_all_or_nothing(store: Store) -> None:
    with store.transaction():
        make(store, "key-1")
        make(store, "key-2")
    assert store.count(KIND, ACCOUNT, REGION) == 2

    with pytest.raises(RuntimeError), store.transaction():
        make(store, "key-3")
        record = store.get(KIND, ACCOUNT, REGION, "key-1")
        assert record is not None
        store.update(record, spec={"n": "changed"})
        # Reads inside the transaction see its own writes.
        assert store.get(KIND, ACCOUNT, REGION, "key-3") is not None
        raise RuntimeError("boom")
    assert store.get(KIND, ACCOUNT, REGION, "key-3") is None
    unchanged = store.get(KIND, ACCOUNT, REGION, "key-1")
    assert unchanged is not None and unchanged.version == 1 and unchanged.spec == {"n": "key-1"}


def test_store_error_inside_transaction_rolls_back_earlier_writes(store: Store) -> None:
    make(store, "key-1")
    with pytest.raises(AlreadyExists), store.transaction():
        make(store, "key-2")
        make(store, "key-1")
    assert store.get(KIND, ACCOUNT, REGION, "key-2") is None


def test_nested_transaction_is_a_savepoint(store: Store) -> None:
    with store.transaction():
        make(store, "key-1")
        with pytest.raises(RuntimeError), store.transaction():
            make(store, "key-2")
            raise RuntimeError("inner fails")
        make(store, "key-3")
    assert [r.id for r in store.list(KIND, ACCOUNT, REGION)] == ["key-1", "key-3"]


def test_transaction_is_invisible_to_other_threads_until_commit(tmp_path: Path) -> None:
    # File stores only: the in-memory store has one connection, so other threads wait instead.
    store = Store.open(tmp_path / "state.db", ManualClock(), synchronous="NORMAL")
    inside = threading.Event()
    release = threading.Event()

    def writer() -> None:
        with store.transaction():
            make(store, "key-1")
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert inside.wait(5)
        # WAL: this read neither waits for the writer nor sees its uncommitted row.
        assert store.get(KIND, ACCOUNT, REGION, "key-1") is None
        assert store.list(KIND, ACCOUNT, REGION) == []
    finally:
        release.set()
        thread.join(5)
    assert store.get(KIND, ACCOUNT, REGION, "key-1") is not None
    store.close()


def test_concurrent_read_modify_write_loses_nothing(store: Store) -> None:
    make(store, "counter", spec={"n": 0})
    threads_count, increments = 4, 25

    def bump() -> None:
        for _ in range(increments):
            while True:
                current = store.get(KIND, ACCOUNT, REGION, "counter")
                assert current is not None
                try:
                    store.update(current, spec={"n": current.spec["n"] + 1})
                    break
                except Conflict:
                    continue  # someone else won this round: re-read and retry

    threads = [threading.Thread(target=bump) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    final = store.get(KIND, ACCOUNT, REGION, "counter")
    assert final is not None
    assert final.spec == {"n": threads_count * increments}
    assert final.version == 1 + threads_count * increments


def test_reopen_keeps_records_and_pagination_secret(tmp_path: Path) -> None:
    clock = ManualClock()
    path = tmp_path / "deep" / "state.db"
    first = Store.open(path, clock)
    make(first, "key-1", name="deploy", tags={"a": "1"})
    token = first.paginator.encode(1)
    first.close()

    second = Store.open(path, clock)
    try:
        found = second.get_by_name(KIND, ACCOUNT, REGION, "deploy")
        assert found is not None and found.id == "key-1" and found.tags == {"a": "1"}
        assert second.paginator.decode(token) == 1
        with pytest.raises(AlreadyExists):
            make(second, "key-1")
        make(second, "key-2")
        assert [r.id for r in second.list(KIND, ACCOUNT, REGION)] == ["key-1", "key-2"]
    finally:
        second.close()


def test_two_stores_on_one_file_see_each_others_commits(tmp_path: Path) -> None:
    clock = ManualClock()
    a = Store.open(tmp_path / "state.db", clock)
    b = Store.open(tmp_path / "state.db", clock)
    try:
        created = make(a, "key-1")
        seen = b.get(KIND, ACCOUNT, REGION, "key-1")
        assert seen == created
        b.update(seen, spec={"by": "b"})
        with pytest.raises(Conflict):
            a.update(created, spec={"by": "a"})
    finally:
        a.close()
        b.close()


def test_wal_and_synchronous_are_configured(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "state.db", ManualClock())
    try:
        with store._checkout() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    finally:
        store.close()
