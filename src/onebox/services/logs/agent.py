"""The instance log agent: ships each EC2 instance's configured log files to CloudWatch Logs, one stream
per instance id, as the awslogs agent in an AMI does (docs/logs.md, "The instance log agent").

Per instance, every `buffer_duration` (5 s by default): read the configuration from the instance's disk
(host/instances/log_agent.py), read what each file gained since the recorded position, and store each
batch of events with its new position in one transaction of the events database. A daemon killed at
any moment therefore resumes exactly where the stored events end: no line is lost or shipped twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from onebox.controllers import Controller
from onebox.host.instances.log_agent import (
    DEFAULT_BUFFER_MS,
    Chunk,
    LogFile,
    Position,
    configured_files,
    host_path,
    load_instance,
    read_new,
)
from onebox.services.logs.ingest import put_internal_events
from onebox.services.logs.model import events

if TYPE_CHECKING:
    from onebox.runtime import Runtime

log = logging.getLogger(__name__)

Key = tuple[str, str, str]  # account, region, instance id
INSTANCE = "ec2:instance"  # services/ec2/instances.py's kind (read only; no import of the EC2 service)
SHIPPING_STATES = ("pending", "running", "stopping", "stopped", "shutting-down")
FIRST_LOOK_MS = 1000  # pass interval while a configured file does not exist yet


@dataclass
class _Pass:
    log: LogFile
    cursor: str
    chunks: list[Chunk]


class LogAgent(Controller[Key]):
    name = "logs-instance-agent"
    resync_interval = 1.0
    concurrency = 2

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime.clock)
        self.runtime = runtime
        self._due: dict[Key, float] = {}  # time.monotonic() of each instance's next pass
        self._sources: dict[str, str] = {}  # instance id -> where its configuration came from

    async def list_keys(self) -> Iterable[Key]:
        keys = [
            (r.account, r.region, r.id)
            for r in self.runtime.store.list_all(INSTANCE)
            if r.status.get("State") in SHIPPING_STATES
        ]
        for gone in set(self._due) - set(keys):  # terminated (its disk is gone) or forgotten
            self._due.pop(gone, None)
            self._sources.pop(gone[2], None)
            events(self.runtime).delete_cursors(f"agent|{gone[2]}|")
        return keys

    async def reconcile(self, key: Key) -> None:
        if time.monotonic() < self._due.get(key, 0.0):
            return
        account, region, instance_id = key
        record = self.runtime.store.get(INSTANCE, account, region, instance_id)
        if record is None:
            return
        passes, buffer_ms = await asyncio.to_thread(
            self._read, instance_id, str(record.spec.get("PrivateIpAddress") or "")
        )
        self._due[key] = time.monotonic() + buffer_ms / 1000
        store = events(self.runtime)
        for found in passes:
            for chunk in found.chunks:
                cursor = (found.cursor, chunk.position.dumps())
                if chunk.events:
                    put_internal_events(
                        self.runtime, account, region, found.log.group, found.log.stream, chunk.events, cursor
                    )
                else:
                    store.set_cursor(*cursor)

    def _read(self, instance_id: str, ip_address: str) -> tuple[list[_Pass], int]:
        """Off the event loop: the configuration and every file's new lines."""
        instance = load_instance(self.runtime.config.state_dir / "instances" / instance_id, ip_address)
        if instance is None:
            return [], FIRST_LOOK_MS
        files, source = configured_files(instance)
        if self._sources.get(instance_id) != source:
            self._sources[instance_id] = source
            log.info("log agent for %s: %d file(s) from %s", instance_id, len(files), source)
        store = events(self.runtime)
        passes = []
        interval = min((entry.buffer_ms for entry in files), default=DEFAULT_BUFFER_MS)
        for entry in files:
            path = host_path(instance, entry.path)
            if path is None:
                continue
            if not path.exists():
                # Look again soon: a file that appears is picked up before a quick rotation hides it.
                interval = min(interval, FIRST_LOOK_MS)
                continue
            name = cursor_name(instance_id, entry)
            chunks = read_new(entry, path, Position.loads(store.cursor(name)))
            if chunks:
                passes.append(_Pass(entry, name, chunks))
        return passes, interval


def cursor_name(instance_id: str, entry: LogFile) -> str:
    return f"agent|{instance_id}|{entry.path}|{entry.group}|{entry.stream}"
