"""The change feed: every committed create/update/delete wakes the controllers that watch its kind.

Controllers are level-triggered, so a change only has to say *which* resource moved; they read the
store for the rest. That lets each subscription coalesce pending changes per resource (the way a
Kubernetes work queue does): memory is bounded by the number of distinct resources, not by the
number of writes, so nothing is dropped while a subscriber is alive, however slowly it consumes.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, replace

ResourceKey = tuple[str, str, str, str]  # kind, account, region, id


@dataclass(frozen=True, slots=True)
class Change:
    kind: str
    account: str
    region: str
    id: str
    version: int
    deleted: bool = False
    # True when only `status` changed, so a controller can skip reacting to its own status writes.
    status_only: bool = False

    @property
    def key(self) -> ResourceKey:
        return (self.kind, self.account, self.region, self.id)


class Subscription:
    """Changes for some kinds, delivered to one asyncio loop. Use `await next()` or `async for`."""

    def __init__(
        self, feed: ChangeFeed, kinds: frozenset[str] | None, loop: asyncio.AbstractEventLoop
    ) -> None:
        self._feed = feed
        self.kinds = kinds
        self._loop = loop
        # Publishers run on any thread; the lock guards `_pending` and `_closed` between them and the loop.
        self._lock = threading.Lock()
        self._pending: OrderedDict[ResourceKey, Change] = OrderedDict()
        self._wakeup = asyncio.Event()
        self._closed = False

    def wants(self, kind: str) -> bool:
        return self.kinds is None or kind in self.kinds

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def _deliver(self, change: Change) -> bool:
        """Queue `change` (from any thread). Returns False if the subscription's loop is gone."""
        with self._lock:
            if self._closed:
                return False
            was_empty = not self._pending
            previous = self._pending.get(change.key)
            if previous is not None:
                # Keep the queue position of the first pending change; a merged change is status-only
                # only if every write it stands for was.
                change = replace(change, status_only=previous.status_only and change.status_only)
            self._pending[change.key] = change
        if not was_empty:
            return True  # a wakeup is already on its way, or the consumer has not drained yet
        return self._wake()

    def _wake(self) -> bool:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._wakeup.set()
            return True
        try:
            self._loop.call_soon_threadsafe(self._wakeup.set)
        except RuntimeError:  # the loop is closed: nobody will ever consume this subscription
            self.close()
            return False
        return True

    def get_nowait(self) -> Change | None:
        with self._lock:
            if not self._pending:
                return None
            return self._pending.popitem(last=False)[1]

    async def next(self) -> Change:
        """The oldest pending change; waits for one. Raises StopAsyncIteration once closed."""
        while True:
            with self._lock:
                if self._pending:
                    return self._pending.popitem(last=False)[1]
                if self._closed:
                    raise StopAsyncIteration
                # Cleared under the lock: a publisher that adds after this point schedules a new set().
                self._wakeup.clear()
            await self._wakeup.wait()

    def __aiter__(self) -> AsyncIterator[Change]:
        return self

    async def __anext__(self) -> Change:
        return await self.next()

    def close(self) -> None:
        """Stop receiving; a waiting `next()` ends with StopAsyncIteration once it wakes."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._pending.clear()
        self._feed._remove(self)
        try:
            self._loop.call_soon_threadsafe(self._wakeup.set)
        except RuntimeError:
            pass  # loop already closed; nobody is waiting

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ChangeFeed:
    """Fan-out of committed changes to subscriptions. `publish` is thread-safe and never blocks long."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscriptions: list[Subscription] = []

    def subscribe(
        self, kinds: Iterable[str] | None = None, *, loop: asyncio.AbstractEventLoop | None = None
    ) -> Subscription:
        """Subscribe to `kinds` (None: all). Call from the consuming loop, or pass `loop`."""
        target = loop if loop is not None else asyncio.get_running_loop()
        subscription = Subscription(self, frozenset(kinds) if kinds is not None else None, target)
        with self._lock:
            self._subscriptions.append(subscription)
        return subscription

    def publish(self, changes: Iterable[Change]) -> None:
        with self._lock:
            subscriptions = list(self._subscriptions)
        for change in changes:
            for subscription in subscriptions:
                if subscription.wants(change.kind):
                    subscription._deliver(change)

    def _remove(self, subscription: Subscription) -> None:
        with self._lock:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)

    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscriptions)
