"""The metric store's housekeeping on the clock: flush buffered points, roll up and expire old data,
prune alarm history older than two weeks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from onebox.controllers import Controller
from onebox.services.cloudwatch.metric_store import metric_store

if TYPE_CHECKING:
    from onebox.runtime import Runtime

ROLL_UP_EVERY = 600.0


class MetricsMaintenance(Controller[str]):
    name = "cloudwatch-metrics"
    resync_interval = 5.0
    concurrency = 1

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime.clock)
        self.runtime = runtime
        self._rolled_at: float | None = None

    async def run(self, changes: AsyncIterator[str] | None = None) -> None:
        try:
            await super().run(changes)
        finally:
            metric_store(self.runtime).flush()  # points buffered since the last pass survive a stop

    async def list_keys(self) -> list[str]:
        return ["metrics"]

    async def reconcile(self, key: str) -> None:
        store = metric_store(self.runtime)
        await asyncio.to_thread(store.flush)  # SQLite works without the GIL: the API keeps answering
        now = self.clock.time()
        if self._rolled_at is None or now - self._rolled_at >= ROLL_UP_EVERY:
            store.roll_up(now)
            store.prune_history(now)
            self._rolled_at = now
