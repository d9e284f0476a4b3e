"""The controller loop, driven by a ManualClock: events, dedup, resync, per-key backoff, stop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from typing import Any

import pytest

from onebox.clock import ManualClock
from onebox.controllers import Controller, ControllerManager, QueueShutDown, RequeueAfter, WorkQueue


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coro, timeout=10))


async def until(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.001)


async def quiet() -> None:
    """Let every runnable task take its turn (used to show that something did NOT happen)."""
    for _ in range(50):
        await asyncio.sleep(0)


class Events:
    """A change stream the test pushes keys into."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[str] = asyncio.Queue()

    def push(self, *keys: str) -> None:
        for key in keys:
            self._queue.put_nowait(key)

    async def __aiter__(self) -> AsyncIterator[str]:
        while True:
            yield await self._queue.get()


class Fake(Controller[str]):
    name = "fake"
    resync_interval = 30.0

    def __init__(self, clock: ManualClock, keys: Iterable[str] = (), concurrency: int = 4) -> None:
        super().__init__(clock)
        self.keys = list(keys)
        self.concurrency = concurrency
        self.calls: list[str] = []
        self.fail: dict[str, int] = {}  # key -> how many more reconciles should fail
        self.errors: list[tuple[str, str]] = []
        self.gates: dict[str, asyncio.Event] = {}  # key -> reconcile waits for this
        self.in_flight: dict[str, int] = {}
        self.max_in_flight = 0
        self.list_fails = False

    async def list_keys(self) -> Iterable[str]:
        if self.list_fails:
            raise RuntimeError("store down")
        return self.keys

    async def reconcile(self, key: str) -> None:
        self.calls.append(key)
        self.in_flight[key] = self.in_flight.get(key, 0) + 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight[key])
        try:
            if key in self.gates:
                await self.gates[key].wait()
            if self.fail.get(key, 0) > 0:
                self.fail[key] -= 1
                raise RuntimeError(f"cannot reconcile {key}")
        finally:
            self.in_flight[key] -= 1

    def on_error(self, key: str, exc: Exception) -> None:
        self.errors.append((key, str(exc)))


def test_change_events_trigger_reconcile_and_stop_ends_run() -> None:
    async def main() -> None:
        clock = ManualClock()
        ctl, events = Fake(clock), Events()
        task = asyncio.create_task(ctl.run(aiter(events)))
        events.push("a")
        await until(lambda: ctl.calls == ["a"])
        events.push("b")
        await until(lambda: ctl.calls == ["a", "b"])
        await ctl.stop()
        assert task.done() and not ctl.running
        events.push("c")
        await quiet()
        assert ctl.calls == ["a", "b"]

    run(main())


def test_duplicate_events_collapse_and_one_key_never_runs_twice_at_once() -> None:
    async def main() -> None:
        clock = ManualClock()
        ctl, events = Fake(clock, concurrency=1), Events()
        ctl.gates["hold"] = asyncio.Event()
        task = asyncio.create_task(ctl.run(aiter(events)))
        events.push("hold")
        await until(lambda: ctl.calls == ["hold"])
        events.push("a", "a", "b", "a", "b")  # the only worker is busy: these wait, deduplicated
        await quiet()
        ctl.gates["hold"].set()
        await until(lambda: len(ctl.calls) == 3)
        await quiet()
        assert ctl.calls == ["hold", "a", "b"]

        # With idle workers to spare, events for a key that is being reconciled still wait for it,
        # then cause exactly one more reconcile (the change arrived after the first one read state).
        ctl2, events2 = Fake(clock, concurrency=4), Events()
        ctl2.gates["k"] = asyncio.Event()
        task2 = asyncio.create_task(ctl2.run(aiter(events2)))
        events2.push("k")
        await until(lambda: ctl2.calls == ["k"])
        events2.push("k", "k", "k")
        await quiet()
        assert ctl2.calls == ["k"]
        ctl2.gates["k"].set()
        await until(lambda: ctl2.calls == ["k", "k"])
        await quiet()
        assert ctl2.calls == ["k", "k"] and ctl2.max_in_flight == 1

        await ctl.stop()
        await ctl2.stop()
        assert task.done() and task2.done()

    run(main())


def test_resync_reconciles_everything_at_start_and_every_interval() -> None:
    async def main() -> None:
        clock = ManualClock()
        ctl = Fake(clock, keys=["a", "b"])
        task = asyncio.create_task(ctl.run())
        await until(lambda: sorted(ctl.calls) == ["a", "b"])
        clock.advance(29)
        await quiet()
        assert len(ctl.calls) == 2
        ctl.keys.append("c")  # appears in the store without an event: resync finds it
        clock.advance(1)
        await until(lambda: sorted(ctl.calls[2:]) == ["a", "b", "c"])

        ctl.list_fails = True  # a failed listing is logged and retried at the next interval
        clock.advance(30)
        await quiet()
        assert len(ctl.calls) == 5
        ctl.list_fails = False
        clock.advance(30)
        await until(lambda: len(ctl.calls) == 8)
        await ctl.stop()
        await task

    run(main())


def test_failures_back_off_exponentially_then_success_resets() -> None:
    async def main() -> None:
        clock = ManualClock()
        ctl, events = Fake(clock), Events()
        ctl.fail["a"] = 3
        task = asyncio.create_task(ctl.run(aiter(events)))
        events.push("a")
        await until(lambda: ctl.failures("a") == 1)
        assert ctl.errors == [("a", "cannot reconcile a")]

        for delay, attempt in ((1.0, 2), (2.0, 3), (4.0, 4)):
            clock.advance(delay - 0.25)
            await quiet()
            assert len(ctl.calls) == attempt - 1, f"retried before its {delay}s backoff"
            clock.advance(0.25)
            await until(lambda attempt=attempt: len(ctl.calls) == attempt)
        await until(lambda: ctl.failures("a") == 0)
        assert len(ctl.errors) == 3

        clock.advance(100)  # success: no more retries (only the resyncs, which list no keys here)
        await quiet()
        assert len(ctl.calls) == 4
        await ctl.stop()
        await task

    run(main())


def test_backing_off_key_is_left_to_its_timer_by_resync_but_events_retry_at_once() -> None:
    async def main() -> None:
        clock = ManualClock()
        ctl, events = Fake(clock, keys=["a"]), Events()
        ctl.backoff_initial = 100.0
        ctl.fail["a"] = 1
        task = asyncio.create_task(ctl.run(aiter(events)))
        await until(lambda: ctl.failures("a") == 1)
        clock.advance(30)  # resync: "a" is backing off (100 s), so it is not retried early
        await quiet()
        assert ctl.calls == ["a"]
        events.push("a")  # a change is new desired state: try now
        await until(lambda: ctl.calls == ["a", "a"])
        await until(lambda: ctl.failures("a") == 0)
        await ctl.stop()
        await task

    run(main())


def test_on_error_may_be_a_coroutine_and_a_failing_hook_does_not_stop_retries() -> None:
    async def main() -> None:
        clock = ManualClock()
        recorded: list[str] = []

        class Recording(Fake):
            async def on_error(self, key: str, exc: Exception) -> None:
                await asyncio.sleep(0)  # e.g. writing the error into the resource's status
                recorded.append(f"{key}: {exc}")
                if len(recorded) == 1:
                    raise RuntimeError("status write conflicted")

        ctl, events = Recording(clock), Events()
        ctl.fail["a"] = 2
        task = asyncio.create_task(ctl.run(aiter(events)))
        events.push("a")
        await until(lambda: len(recorded) == 1)
        clock.advance(1)
        await until(lambda: len(recorded) == 2)
        clock.advance(2)
        await until(lambda: len(ctl.calls) == 3 and ctl.failures("a") == 0)
        assert recorded == ["a: cannot reconcile a", "a: cannot reconcile a"]
        await ctl.stop()
        await task

    run(main())


def test_requeue_after_polls_without_counting_failures() -> None:
    async def main() -> None:
        clock = ManualClock()
        seen: list[str] = []

        class Polling(Fake):
            async def reconcile(self, key: str) -> None:
                seen.append(key)
                if len(seen) < 3:
                    raise RequeueAfter(5)

        ctl, events = Polling(clock), Events()
        task = asyncio.create_task(ctl.run(aiter(events)))
        events.push("p")
        await until(lambda: len(seen) == 1)
        clock.advance(5)
        await until(lambda: len(seen) == 2)
        clock.advance(5)
        await until(lambda: len(seen) == 3)
        assert ctl.failures("p") == 0 and ctl.errors == []
        await ctl.stop()
        await task

    run(main())


def test_stop_waits_for_reconcile_in_flight() -> None:
    async def main() -> None:
        clock = ManualClock()
        ctl, events = Fake(clock), Events()
        ctl.gates["slow"] = asyncio.Event()
        task = asyncio.create_task(ctl.run(aiter(events)))
        events.push("slow")
        await until(lambda: ctl.calls == ["slow"])
        stopping = asyncio.create_task(ctl.stop())
        await quiet()
        assert not stopping.done()  # graceful: the reconcile in flight is not cut off
        ctl.gates["slow"].set()
        await stopping
        assert task.done() and ctl.in_flight["slow"] == 0

        again = Fake(clock)
        first = asyncio.create_task(again.run())
        await quiet()
        with pytest.raises(RuntimeError, match="already running"):
            await again.run()
        await again.stop()
        await first

    run(main())


def test_manager_starts_and_stops_several() -> None:
    async def main() -> None:
        clock = ManualClock()
        one, two = Fake(clock, keys=["x"]), Fake(clock, keys=["y"])
        two.name = "fake2"
        events = Events()
        manager = ControllerManager()
        manager.add(one, aiter(events))
        manager.add(two)
        with pytest.raises(ValueError):
            manager.add(Fake(clock))  # same name as `one`
        await manager.start()
        await until(lambda: one.calls == ["x"] and two.calls == ["y"])
        events.push("z")
        await until(lambda: one.calls == ["x", "z"])
        await manager.stop()
        assert not one.running and not two.running

        # Stopping right after starting (before the run loops had a turn) must not hang.
        quick = ControllerManager()
        quick.add(Fake(clock))
        await quick.start()
        await quick.stop()

    run(main())


def test_work_queue_shutdown_wakes_waiters() -> None:
    async def main() -> None:
        queue: WorkQueue[int] = WorkQueue()
        getter = asyncio.create_task(queue.get())
        await quiet()
        queue.add(1)
        assert await getter == 1
        queue.add(1)  # being processed: marked dirty, handed out again after done()
        assert len(queue) == 0
        queue.done(1)
        assert len(queue) == 1
        waiting = asyncio.create_task(queue.get())
        assert await waiting == 1
        blocked = asyncio.create_task(queue.get())
        await quiet()
        queue.shut_down()
        with pytest.raises(QueueShutDown):
            await blocked

    run(main())
