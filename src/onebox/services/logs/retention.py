"""Retention: events older than a group's retentionInDays are deleted, on the runtime clock.

Reads already hide expired events (so they disappear on time); this sweeper frees their space.
"""

from __future__ import annotations

from collections.abc import Iterable

from onebox.controllers import Controller
from onebox.runtime import Runtime
from onebox.services.logs.model import LOG_GROUP, events, now_ms, retention_cutoff

Key = tuple[str, str, str]


class RetentionSweeper(Controller[Key]):
    name = "logs-retention"
    resync_interval = 300.0
    concurrency = 1

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime.clock)
        self.runtime = runtime

    async def list_keys(self) -> Iterable[Key]:
        return [
            (r.account, r.region, r.id)
            for r in self.runtime.store.list_all(LOG_GROUP)
            if r.spec.get("retentionInDays")
        ]

    async def reconcile(self, key: Key) -> None:
        sweep(self.runtime, *key)


def sweep(runtime: Runtime, account: str, region: str, group_name: str) -> int:
    """Delete the group's expired events now; returns how many went."""
    group = runtime.store.get(LOG_GROUP, account, region, group_name)
    if group is None:
        return 0
    cutoff = retention_cutoff(group, now_ms(runtime))
    if cutoff is None:
        return 0
    return events(runtime).expire(account, region, group_name, cutoff)
