"""The change feed: delivery across threads into asyncio, coalescing, and only committed changes."""

from __future__ import annotations

import asyncio
import threading

import pytest

from onebox.clock import ManualClock
from onebox.store import Change, ChangeFeed, Store

ACCOUNT = "123456789012"
REGION = "us-east-1"


def create(store: Store, kind: str, id: str) -> None:
    store.create(kind, ACCOUNT, REGION, id, arn=f"arn:{id}", spec={})


def test_write_on_another_thread_wakes_the_loop() -> None:
    store = Store.memory(ManualClock())

    async def main() -> Change:
        subscription = store.changes.subscribe(["ec2:vpc"])
        thread = threading.Thread(target=create, args=(store, "ec2:vpc", "vpc-1"))
        thread.start()
        change = await asyncio.wait_for(subscription.next(), 5)
        thread.join()
        # Published after commit: the subscriber can read what woke it.
        assert store.get("ec2:vpc", ACCOUNT, REGION, "vpc-1") is not None
        return change

    assert asyncio.run(main()) == Change("ec2:vpc", ACCOUNT, REGION, "vpc-1", 1)


def test_create_update_status_delete_produce_changes() -> None:
    store = Store.memory(ManualClock())

    async def main() -> list[Change]:
        subscription = store.changes.subscribe()
        seen: list[Change] = []
        record = store.create("ec2:vpc", ACCOUNT, REGION, "vpc-1", arn="a", spec={})
        seen.append(await subscription.next())
        record = store.update(record, spec={"x": 1})
        seen.append(await subscription.next())
        store.update_status("ec2:vpc", ACCOUNT, REGION, "vpc-1", {"state": "available"})
        seen.append(await subscription.next())
        store.delete_by_id("ec2:vpc", ACCOUNT, REGION, "vpc-1")
        seen.append(await subscription.next())
        return seen

    assert asyncio.run(main()) == [
        Change("ec2:vpc", ACCOUNT, REGION, "vpc-1", 1),
        Change("ec2:vpc", ACCOUNT, REGION, "vpc-1", 2),
        Change("ec2:vpc", ACCOUNT, REGION, "vpc-1", 3, status_only=True),
        Change("ec2:vpc", ACCOUNT, REGION, "vpc-1", 4, deleted=True),
    ]


def test_subscription_only_sees_its_kinds() -> None:
    store = Store.memory(ManualClock())

    async def main() -> list[str]:
        vpcs = store.changes.subscribe(["ec2:vpc"])
        create(store, "ec2:subnet", "subnet-1")
        create(store, "ec2:vpc", "vpc-1")
        first = await vpcs.next()
        assert vpcs.get_nowait() is None
        return [first.id]

    assert asyncio.run(main()) == ["vpc-1"]


def test_rolled_back_transaction_publishes_nothing_and_commit_publishes_all() -> None:
    store = Store.memory(ManualClock())

    async def main() -> None:
        subscription = store.changes.subscribe()
        with pytest.raises(RuntimeError), store.transaction():
            create(store, "ec2:vpc", "vpc-1")
            raise RuntimeError("rollback")
        with store.transaction():
            create(store, "ec2:vpc", "vpc-2")
            with pytest.raises(RuntimeError), store.transaction():
                create(store, "ec2:vpc", "vpc-3")
                raise RuntimeError("inner rollback")
            create(store, "ec2:vpc", "vpc-4")
            assert subscription.pending() == 0  # nothing before commit
        assert [(await subscription.next()).id for _ in range(2)] == ["vpc-2", "vpc-4"]
        assert subscription.get_nowait() is None

    asyncio.run(main())


def test_pending_changes_coalesce_per_resource() -> None:
    store = Store.memory(ManualClock())

    async def main() -> None:
        subscription = store.changes.subscribe()
        record = store.create("ec2:vpc", ACCOUNT, REGION, "vpc-1", arn="a", spec={})
        create(store, "ec2:vpc", "vpc-2")
        for i in range(100):
            record = store.update(record, spec={"i": i})
        store.update_status("ec2:vpc", ACCOUNT, REGION, "vpc-1", {"s": 1})
        assert subscription.pending() == 2
        first = await subscription.next()
        # Keeps its place in the queue, carries the latest version, and is not status-only because
        # a spec change is folded in.
        assert (first.id, first.version, first.status_only) == ("vpc-1", 102, False)
        assert (await subscription.next()).id == "vpc-2"
        store.update_status("ec2:vpc", ACCOUNT, REGION, "vpc-2", {"s": 1})
        store.update_status("ec2:vpc", ACCOUNT, REGION, "vpc-2", {"s": 2})
        last = await subscription.next()
        assert (last.version, last.status_only) == (3, True)

    asyncio.run(main())


def test_many_writer_threads_lose_nothing() -> None:
    store = Store.memory(ManualClock())
    threads_count, per_thread = 4, 50

    def writer(n: int) -> None:
        for i in range(per_thread):
            record = store.create("ec2:vpc", ACCOUNT, REGION, f"vpc-{n}-{i}", arn="a", spec={})
            store.update_status("ec2:vpc", ACCOUNT, REGION, record.id, {"done": True})

    async def main() -> dict[str, int]:
        subscription = store.changes.subscribe(["ec2:vpc"])
        threads = [threading.Thread(target=writer, args=(n,)) for n in range(threads_count)]
        for thread in threads:
            thread.start()
        latest: dict[str, int] = {}
        while len(latest) < threads_count * per_thread or any(v < 2 for v in latest.values()):
            change = await asyncio.wait_for(subscription.next(), 5)
            latest[change.id] = max(latest.get(change.id, 0), change.version)
        for thread in threads:
            thread.join()
        return latest

    latest = asyncio.run(main())
    assert len(latest) == threads_count * per_thread
    assert set(latest.values()) == {2}


def test_close_ends_iteration_and_unsubscribes() -> None:
    feed = ChangeFeed()

    async def main() -> list[str]:
        subscription = feed.subscribe()
        received: list[str] = []

        async def consume() -> None:
            async for change in subscription:
                received.append(change.id)

        task = asyncio.create_task(consume())
        feed.publish([Change("k", ACCOUNT, REGION, "a", 1)])
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        # Closing from another thread wakes the waiting consumer, which then stops.
        closer = threading.Thread(target=subscription.close)
        closer.start()
        closer.join()
        await asyncio.wait_for(task, 5)
        assert feed.subscriber_count() == 0
        feed.publish([Change("k", ACCOUNT, REGION, "b", 1)])
        return received

    assert asyncio.run(main()) == ["a"]


def test_subscription_whose_loop_closed_is_dropped() -> None:
    feed = ChangeFeed()
    loop = asyncio.new_event_loop()
    feed.subscribe(loop=loop)
    loop.close()
    feed.publish([Change("k", ACCOUNT, REGION, "a", 1)])  # no error for the writer
    assert feed.subscriber_count() == 0


def test_subscribe_outside_a_loop_needs_a_loop() -> None:
    with pytest.raises(RuntimeError):
        ChangeFeed().subscribe()
