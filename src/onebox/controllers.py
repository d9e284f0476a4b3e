"""Level-triggered controllers: a deduplicating work queue fed by change events and a periodic resync.

A controller never trusts memory: `reconcile(key)` reads desired and observed state, acts, writes status.
So a missed event, a crash or a restart heals on the next resync, and events only make healing faster.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Hashable, Iterable
from typing import Any, Generic, TypeVar

from onebox.clock import Clock

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)


class QueueShutDown(Exception):
    """Raised by `WorkQueue.get()` once the queue is shut down."""


class RequeueAfter(Exception):
    """Raise from `reconcile` to look at the key again after `seconds`, without counting a failure.

    For progress that has to be polled, e.g. a process that is still starting.
    """

    def __init__(self, seconds: float) -> None:
        super().__init__(f"requeue after {seconds}s")
        self.seconds = seconds


class WorkQueue(Generic[K]):
    """A key waits in the queue at most once, and is never handed out while a worker still holds it.

    A key added while it is being processed is marked dirty and queued again when `done()` is called,
    so the change is not lost and two reconciles of one key never overlap.
    """

    def __init__(self) -> None:
        self._items: deque[K] = deque()
        self._queued: set[K] = set()
        self._processing: set[K] = set()
        self._dirty: set[K] = set()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._shut_down = False

    def __len__(self) -> int:
        return len(self._items)

    @property
    def is_shut_down(self) -> bool:
        return self._shut_down

    def add(self, key: K) -> None:
        if self._shut_down:
            return
        if key in self._processing:
            self._dirty.add(key)
            return
        if key in self._queued:
            return
        self._queued.add(key)
        self._items.append(key)
        self._wake_one()

    async def get(self) -> K:
        while True:
            if self._shut_down:
                raise QueueShutDown
            if self._items:
                key = self._items.popleft()
                self._queued.discard(key)
                self._processing.add(key)
                return key
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()  # we were woken but will not take the item: pass the wake-up on
                raise

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)

    def shut_down(self) -> None:
        """Make every `get()` raise QueueShutDown; keys still queued are dropped (resync finds them)."""
        self._shut_down = True
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


class Controller(ABC, Generic[K]):
    """Reconciles keys (any hashable value) on change events and every `resync_interval` of the clock.

    Failures back off per key (`backoff_initial` doubling up to `backoff_max`); a change event for a key
    retries it at once, a resync leaves a backing-off key to its timer. Subclasses implement `list_keys`
    and `reconcile`, and may override `on_error` to record the error in the resource's status.
    """

    name: str = "controller"
    resync_interval: float = 60.0
    backoff_initial: float = 1.0
    backoff_max: float = 300.0
    concurrency: int = 4  # reconciles of different keys that may run at once

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._queue: WorkQueue[K] | None = None
        self._failures: dict[K, int] = {}
        self._timers: dict[K, asyncio.Task[None]] = {}
        self._stop_requested: asyncio.Event | None = None
        self._finished: asyncio.Event | None = None

    @abstractmethod
    async def list_keys(self) -> Iterable[K]:
        """Every key that should be reconciled (desired and observed), for the periodic resync."""

    @abstractmethod
    async def reconcile(self, key: K) -> None:
        """Idempotently converge `key`: read desired and observed state, act, write status."""

    def on_error(self, key: K, exc: Exception) -> Awaitable[None] | None:
        """Called after a failed reconcile, before the retry is scheduled. Override to record the error
        (e.g. in the resource's status); may be a coroutine function."""
        log.warning(
            "%s: reconcile of %r failed (attempt %d): %s",
            self.name,
            key,
            self._failures.get(key, 0),
            exc,
            exc_info=exc,
        )
        return None

    @property
    def running(self) -> bool:
        return self._queue is not None

    def failures(self, key: K) -> int:
        """Consecutive failed reconciles of `key` (0 after a success)."""
        return self._failures.get(key, 0)

    def enqueue(self, key: K) -> None:
        """Reconcile `key` soon. Ignored when the controller is not running (its resync will catch up)."""
        if self._queue is not None:
            self._queue.add(key)

    async def run(self, changes: AsyncIterator[K] | None = None) -> None:
        """Run until `stop()`: reconcile everything now, then on each change and every resync_interval."""
        if self._queue is not None:
            raise RuntimeError(f"controller {self.name} is already running")
        queue: WorkQueue[K] = WorkQueue()
        self._queue = queue
        self._stop_requested = asyncio.Event()
        self._finished = asyncio.Event()
        helpers = [asyncio.create_task(self._resync_loop(queue), name=f"{self.name}:resync")]
        if changes is not None:
            helpers.append(asyncio.create_task(self._consume(changes), name=f"{self.name}:changes"))
        workers = [
            asyncio.create_task(self._worker(queue), name=f"{self.name}:worker{i}")
            for i in range(self.concurrency)
        ]
        try:
            await self._stop_requested.wait()
        except asyncio.CancelledError:
            for worker in workers:
                worker.cancel()  # cancelled, not stopped: do not wait for reconciles in flight
            raise
        finally:
            queue.shut_down()
            timers = list(self._timers.values())
            self._timers.clear()
            for task in helpers + timers:
                task.cancel()
            # Workers finish the reconcile they are in, then see the shut-down queue and return.
            await asyncio.gather(*helpers, *timers, *workers, return_exceptions=True)
            self._queue = None
            self._finished.set()

    async def stop(self) -> None:
        """Stop taking work, let reconciles in flight finish, return when `run()` has returned."""
        if self._queue is None or self._stop_requested is None or self._finished is None:
            return
        self._stop_requested.set()
        await self._finished.wait()

    # -- internals -------------------------------------------------------------------------------------

    async def _resync_loop(self, queue: WorkQueue[K]) -> None:
        while True:
            # Deadline first, so the interval does not stretch by however long listing took.
            deadline = self.clock.time() + self.resync_interval
            try:
                keys = list(await self.list_keys())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: list_keys failed; retrying at the next resync", self.name)
                keys = []
            for key in keys:
                if key not in self._timers:  # a backing-off key is retried by its own timer
                    queue.add(key)
            await self.clock.sleep(max(deadline - self.clock.time(), 0.0))

    async def _consume(self, changes: AsyncIterator[K]) -> None:
        try:
            async for key in changes:
                self.enqueue(key)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: change stream failed; relying on periodic resync", self.name)

    async def _worker(self, queue: WorkQueue[K]) -> None:
        while True:
            try:
                key = await queue.get()
            except QueueShutDown:
                return
            self._cancel_timer(key)  # this attempt supersedes a pending retry
            try:
                await self.reconcile(key)
            except RequeueAfter as requeue:
                self._failures.pop(key, None)
                self._retry_later(key, requeue.seconds)
            except Exception as exc:
                attempts = self._failures[key] = self._failures.get(key, 0) + 1
                try:
                    outcome = self.on_error(key, exc)
                    if inspect.isawaitable(outcome):
                        await outcome
                except Exception:
                    log.exception("%s: on_error hook failed for %r", self.name, key)
                self._retry_later(key, min(self.backoff_initial * 2 ** (attempts - 1), self.backoff_max))
            else:
                self._failures.pop(key, None)
            finally:
                queue.done(key)

    def _retry_later(self, key: K, delay: float) -> None:
        self._cancel_timer(key)
        if self._queue is None or self._queue.is_shut_down:
            return  # stopping: the next run's initial resync covers this key
        # Fix the deadline now: the timer task starts later, and the clock may have moved by then.
        deadline = self.clock.time() + delay
        self._timers[key] = asyncio.create_task(self._timer(key, deadline), name=f"{self.name}:retry")

    async def _timer(self, key: K, deadline: float) -> None:
        await self.clock.sleep(max(deadline - self.clock.time(), 0.0))
        if self._timers.get(key) is asyncio.current_task():
            del self._timers[key]
        self.enqueue(key)

    def _cancel_timer(self, key: K) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()


class ControllerManager:
    """Starts and stops a set of controllers, each with its own optional change stream."""

    def __init__(self) -> None:
        self._entries: list[tuple[Controller[Any], AsyncIterator[Any] | None]] = []
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def controllers(self) -> list[Controller[Any]]:
        return [controller for controller, _ in self._entries]

    def add(self, controller: Controller[K], changes: AsyncIterator[K] | None = None) -> None:
        if any(c.name == controller.name for c in self.controllers):
            raise ValueError(f"a controller named {controller.name!r} is already registered")
        if self._tasks:
            raise RuntimeError("add controllers before start()")
        self._entries.append((controller, changes))

    async def start(self) -> None:
        if self._tasks:
            raise RuntimeError("already started")
        for controller, changes in self._entries:
            task = asyncio.create_task(controller.run(changes), name=f"controller:{controller.name}")
            task.add_done_callback(_log_crash)
            self._tasks.append(task)

    async def stop(self) -> None:
        """Stop every controller (reconciles in flight finish first)."""
        for (controller, _), task in zip(self._entries, self._tasks, strict=False):
            if not controller.running:
                task.cancel()  # its run() has not begun yet, so there is nothing to stop gracefully
        await asyncio.gather(*(controller.stop() for controller in self.controllers))
        if self._tasks:
            await asyncio.wait(self._tasks)
        self._tasks = []


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s crashed", task.get_name(), exc_info=task.exception())
