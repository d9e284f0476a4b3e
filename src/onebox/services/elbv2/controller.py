"""Makes load balancers real: builds each balancer's `LoadBalancerSpec` from the records, has the data
plane run it (one HAProxy per balancer, hitless reloads), keeps the shared loopback edge and the
balancer's name current, copies target health into the target groups' status, ends draining after the
deregistration delay, and publishes AWS/ApplicationELB metrics each minute.

Level-triggered: every reconcile recomputes the spec from the store; the data plane does nothing when the
rendered configuration is what already runs. A resync every few seconds doubles as the health poll.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

from onebox.controllers import Controller, RequeueAfter
from onebox.host import loadbalancer as data_plane
from onebox.runtime import Runtime
from onebox.services.elbv2 import metrics, spec_builder, targets
from onebox.services.elbv2.common import (
    LISTENER,
    LOAD_BALANCER,
    RULE,
    TARGET_GROUP,
    TEARDOWN,
    data_plane_key,
    target_group_usage,
)
from onebox.store import Conflict, NotFound, Record

log = logging.getLogger(__name__)

Key = tuple[str, str, str]  # account, region, load balancer id
HEALTH_POLL = 2.0
METRICS_PERIOD = 60.0


class LoadBalancerController(Controller[Key]):
    name = "elbv2-load-balancers"
    resync_interval = HEALTH_POLL
    concurrency = 4

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime.clock)
        self.runtime = runtime
        self._edge_lock = asyncio.Lock()
        self._edge_applied: Any = None
        self._last_metrics: dict[Key, float] = {}
        self._last_stats: dict[Key, Any] = {}

    @property
    def store(self) -> Any:
        return self.runtime.store

    async def list_keys(self) -> Iterable[Key]:
        keys = [(r.account, r.region, r.id) for r in self.store.list_all(LOAD_BALANCER)]
        keys += [(r.account, r.region, r.id) for r in self.store.list_all(TEARDOWN)]
        return keys

    def on_error(self, key: Key, exc: Exception) -> None:
        log.warning("elbv2: reconcile of %s failed: %s", key, exc, exc_info=exc)

    async def reconcile(self, key: Key) -> None:
        record = self.store.get(LOAD_BALANCER, *key)
        if record is None:
            await self._teardown(key)
            return
        now = self.clock.time()
        for group in self._groups_of(record):
            try:
                targets.expire_draining(self.store, group, now)
            except (Conflict, NotFound):
                raise RequeueAfter(0.05) from None
        built = spec_builder.build(self.runtime, record)
        try:
            await data_plane.apply(self.runtime, built.spec)
        except data_plane.ConfigRejected as error:
            # The running balancer is untouched; say so, and look again on the next change.
            log.error("elbv2: configuration of %s rejected: %s", record.arn, error)
            code = (record.status.get("State") or {}).get("Code")
            state = {"Code": "active" if code == "active" else "failed", "Reason": str(error)[:500]}
            self._set_status(record, State=state)
            return
        names = self.runtime.names
        if names is not None and names.all().get(record.spec["DNSName"]) != record.spec["Address"]:
            names.set(record.spec["DNSName"], record.spec["Address"])
        await self._ensure_edge()
        if (record.status.get("State") or {}).get("Code") != "active":
            record = self._set_status(record, State={"Code": "active"})
        health = await self._copy_health(built)
        await self._metrics(key, record, built, health)

    # -- pieces --------------------------------------------------------------------------------------

    def _groups_of(self, lb: Record) -> list[Record]:
        usage = target_group_usage(self.store, lb.account, lb.region)
        return [
            g for g in self.store.list(TARGET_GROUP, lb.account, lb.region) if lb.id in usage.get(g.arn, ())
        ]

    def _set_status(self, record: Record, **changes: Any) -> Record:
        try:
            return self.store.update_status(
                LOAD_BALANCER, record.account, record.region, record.id, {**record.status, **changes}
            )
        except NotFound:
            raise RequeueAfter(0.05) from None

    async def _teardown(self, key: Key) -> None:
        await data_plane.remove(self.runtime, data_plane_key(key[2]))
        self._last_metrics.pop(key, None)
        self._last_stats.pop(key, None)
        teardown = self.store.get(TEARDOWN, *key)
        if teardown is None:
            return
        names = self.runtime.names
        if names is not None and teardown.spec["DNSName"] in names.all():
            names.remove(teardown.spec["DNSName"])
        await self._ensure_edge()
        self.store.delete_by_id(TEARDOWN, *key)

    def _edge_signature(self) -> tuple[Any, ...]:
        listeners: dict[str, list[tuple[int, str]]] = {}
        for listener in self.store.list_all(LISTENER):
            listeners.setdefault(listener.spec["LoadBalancerId"], []).append(
                (listener.spec["Port"], listener.spec["Protocol"])
            )
        return tuple(
            sorted(
                (lb.id, lb.spec["DNSName"], tuple(sorted(listeners.get(lb.id, []))))
                for lb in self.store.list_all(LOAD_BALANCER)
            )
        )

    async def _ensure_edge(self) -> None:
        """The loopback edge serves every balancer's listener ports by name; rebuilt when they change."""
        async with self._edge_lock:
            signature = self._edge_signature()
            if signature == self._edge_applied:
                return
            specs = [spec_builder.build(self.runtime, lb).spec for lb in self.store.list_all(LOAD_BALANCER)]
            ports = await data_plane.apply_edge(self.runtime, specs)
            wanted = {listener.port for spec in specs for listener in spec.listeners}
            skipped = sorted(wanted - set(ports))
            if skipped:
                log.warning(
                    "elbv2: loopback ports %s are taken; those listeners answer on their own address", skipped
                )
            self._edge_applied = signature

    async def _copy_health(self, built: spec_builder.Built) -> dict[str, dict[str, Any]]:
        """Target health as the data plane sees it -> each group's status.Health (written on change)."""
        try:
            observed = await data_plane.read_health(self.runtime, built.spec.key)
        except Exception as exc:  # the balancer is starting or reloading: next poll
            log.debug("elbv2: health of %s unavailable: %s", built.spec.key, exc)
            return {}
        for group_spec in built.spec.target_groups:
            record = built.groups.get(group_spec.key)
            if record is None:
                continue
            seen = observed.get(group_spec.key, {})
            health: dict[str, dict[str, Any]] = {}
            for target in group_spec.targets:
                if target.draining:
                    continue
                found = seen.get(target.key)
                entry: dict[str, Any]
                if found is None:
                    entry = {"State": "initial", "Reason": "Elb.RegistrationInProgress"}
                else:
                    entry = {"State": found.state}
                    if found.reason:
                        entry["Reason"] = found.reason
                        entry["Description"] = found.description or ""
                entry["RegisteredAt"] = built.registered_at.get((group_spec.key, target.key), 0.0)
                entry["AvailabilityZone"] = target.availability_zone
                health[target.key] = entry
            current = self.store.get(TARGET_GROUP, record.account, record.region, record.id)
            if current is not None and current.status.get("Health") != health:
                self.store.update_status(
                    TARGET_GROUP,
                    record.account,
                    record.region,
                    record.id,
                    {**current.status, "Health": health},
                )
        return observed

    async def _metrics(
        self, key: Key, record: Record, built: spec_builder.Built, observed: dict[str, Any]
    ) -> None:
        now = self.clock.time()
        last = self._last_metrics.get(key)
        if last is not None and now - last < METRICS_PERIOD:
            return
        try:
            stats = await data_plane.read_stats(self.runtime, built.spec.key)
        except Exception as exc:
            log.debug("elbv2: statistics of %s unavailable: %s", built.spec.key, exc)
            return
        previous = self._last_stats.get(key)
        reading = metrics.difference(stats, previous)
        for group_spec in built.spec.target_groups:
            group_reading = reading.groups.setdefault(group_spec.key, metrics.GroupReading())
            seen = observed.get(group_spec.key, {})
            for target in group_spec.targets:
                if target.draining:
                    continue
                group_reading.targets += 1
                state = seen.get(target.key)
                healthy = state is not None and state.state == "healthy"
                bucket = group_reading.healthy if healthy else group_reading.unhealthy
                if state is not None and state.state in ("healthy", "unhealthy"):
                    bucket[target.availability_zone] = bucket.get(target.availability_zone, 0) + 1
        data = metrics.metric_data(record, built.groups, reading, self.clock.now())
        if not data:
            return  # nothing to report yet (no target groups): look again at the next poll
        self._last_metrics[key] = now
        self._last_stats[key] = stats
        metrics.publish(self.runtime, record, data)


async def changes(runtime: Runtime) -> AsyncIterator[Key]:
    """Balancers to reconcile when they, their listeners, rules or target groups, or a registered
    instance change."""
    store = runtime.store
    subscription = store.changes.subscribe(
        [LOAD_BALANCER, TEARDOWN, LISTENER, RULE, TARGET_GROUP, "ec2:instance"]
    )
    async for change in subscription:
        where = (change.account, change.region)
        if change.kind in (LOAD_BALANCER, TEARDOWN):
            if not change.status_only and not (change.kind == TEARDOWN and change.deleted):
                yield (*where, change.id)
        elif change.kind in (LISTENER, RULE):
            record = None if change.deleted else store.get(change.kind, *where, change.id)
            if record is not None:
                yield (*where, record.spec["LoadBalancerId"])
            else:
                for lb in store.list(LOAD_BALANCER, *where):
                    yield (*where, lb.id)
        elif change.kind == TARGET_GROUP:
            if change.status_only or change.deleted:
                continue
            record = store.get(TARGET_GROUP, *where, change.id)
            if record is not None:
                for lb_id in target_group_usage(store, *where).get(record.arn, ()):
                    yield (*where, lb_id)
        else:
            groups = [
                g
                for g in store.list(TARGET_GROUP, *where)
                if g.spec["TargetType"] == "instance" and any(t["Id"] == change.id for t in g.spec["Targets"])
            ]
            if groups:
                usage = target_group_usage(store, *where)
                for group in groups:
                    for lb_id in usage.get(group.arn, ()):
                        yield (*where, lb_id)
