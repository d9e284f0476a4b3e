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
from datetime import UTC, datetime
from typing import Any

from onebox.controllers import Controller, RequeueAfter
from onebox.host import loadbalancer as data_plane
from onebox.host import network
from onebox.host.loadbalancer import spec as dp
from onebox.host.loadbalancer import vpc_ports
from onebox.host.loadbalancer.paths import elb_dir
from onebox.runtime import Runtime
from onebox.services.elbv2 import access_logs, interfaces, metrics, spec_builder, targets
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
METRICS_TRIGGER = "publish-metrics"  # STATE/elb/publish-metrics: touch to publish at once (tests)


class LoadBalancerController(Controller[Key]):
    name = "elbv2-load-balancers"
    resync_interval = HEALTH_POLL
    concurrency = 4

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime.clock)
        self.runtime = runtime
        self._edge_lock = asyncio.Lock()
        self._edge_applied: Any = None
        self._last_metrics: dict[Key, int] = {}  # the clock minute of the last publication
        self._last_stats: dict[Key, Any] = {}
        self._metrics_trigger_seen: dict[Key, float] = {}
        self._carried: dict[Key, metrics.Reading] = {}  # counted by workers a reload replaced
        self._plugged: set[str] = set()  # interface ids plugged in by this controller
        self._access_logs = access_logs.AccessLogs(runtime)

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
        await self._access_logs.start()
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
        vpc_addresses = await self._plug(record)
        record = self.store.get(LOAD_BALANCER, *key)  # what changed while the interfaces were plugged
        if record is None:
            raise RequeueAfter(0.05)
        built = spec_builder.build(self.runtime, record, vpc_addresses)
        try:
            await data_plane.apply(
                self.runtime, built.spec, before_reload=lambda: self._carry_counters(key, built.spec.key)
            )
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
        await self._access_logs.collect(built.spec)
        await self._access_logs.deliver(record, built.spec, self.clock.time())

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

    async def _plug(self, record: Record) -> tuple[dp.VpcAddress, ...]:
        """The balancer's interfaces plugged into their subnets (those whose subnet is built), and the
        ones it no longer has unplugged. Nothing without the namespace driver's networking."""
        if not network.available():
            return ()
        state_dir = self.runtime.config.state_dir
        key = data_plane_key(record.id)
        wanted = list(record.spec.get("Interfaces") or [])
        zones = {s["SubnetId"]: s["ZoneName"] for s in record.spec["Subnets"]}

        def work() -> tuple[dp.VpcAddress, ...]:
            keep = [i["InterfaceId"] for i in wanted]
            for gone in set(vpc_ports.plugged(state_dir, key)) - set(keep):
                vpc_ports.unplug(state_dir, key, gone)
                self._plugged.discard(gone)
            ready = []
            for interface in wanted:
                interface_id = interface["InterfaceId"]
                if interface_id not in self._plugged:
                    port = vpc_ports.VpcPort(
                        interface_id,
                        record.spec["VpcId"],
                        interface["SubnetId"],
                        interface["PrivateIp"],
                        int(interface["PrefixLen"]),
                    )
                    rules = interfaces.rules(self.store, record.account, record.region, interface)
                    try:
                        vpc_ports.plug(state_dir, key, port, rules)
                    except (network.NetworkError, OSError) as error:
                        log.info("elbv2: interface %s of %s waits: %s", interface_id, record.arn, error)
                        continue
                    self._plugged.add(interface_id)
                ready.append(
                    dp.VpcAddress(
                        vpc_ports.netns_name(interface_id),
                        interface["PrivateIp"],
                        zones.get(interface["SubnetId"]),
                    )
                )
            return tuple(ready)

        return await asyncio.to_thread(work)

    async def _teardown(self, key: Key) -> None:
        await data_plane.remove(self.runtime, data_plane_key(key[2]))
        if network.available():
            state_dir = self.runtime.config.state_dir
            for interface_id in vpc_ports.plugged(state_dir, data_plane_key(key[2])):
                await asyncio.to_thread(vpc_ports.unplug, state_dir, data_plane_key(key[2]), interface_id)
                self._plugged.discard(interface_id)
        self._last_metrics.pop(key, None)
        self._last_stats.pop(key, None)
        self._metrics_trigger_seen.pop(key, None)
        self._carried.pop(key, None)
        self._access_logs.forget(data_plane_key(key[2]))
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

    async def _carry_counters(self, key: Key, data_plane_key_: str) -> None:
        """Just before a reload: what the old worker counted since the last reading, kept for the next
        publication (the new worker's counters start at zero)."""
        try:
            stats = await data_plane.read_stats(self.runtime, data_plane_key_)
        except Exception as exc:
            log.debug("elbv2: statistics of %s before reload unavailable: %s", data_plane_key_, exc)
            return
        reading = metrics.difference(stats, self._last_stats.get(key))
        carried = self._carried.get(key)
        self._carried[key] = reading if carried is None else metrics.merge(carried, reading)
        self._last_stats[key] = stats

    def _metrics_trigger(self, key: Key) -> bool:
        """Whether the trigger file asks for metrics now (each balancer answers each touch once)."""
        try:
            mtime = (elb_dir(self.runtime.config.state_dir) / METRICS_TRIGGER).stat().st_mtime
        except OSError:
            return False
        if self._metrics_trigger_seen.get(key) == mtime:
            return False
        self._metrics_trigger_seen[key] = mtime
        return True

    async def _metrics(
        self, key: Key, record: Record, built: spec_builder.Built, observed: dict[str, Any]
    ) -> None:
        """Publish at each minute boundary of the clock (the minute that ended, as one 60 s datapoint),
        at the first reading, or at once when the trigger file is touched (the current minute)."""
        now = self.clock.time()
        minute = int(now // METRICS_PERIOD)
        last = self._last_metrics.get(key)
        forced = self._metrics_trigger(key)
        if last is not None and minute <= last and not forced:
            return
        stamp_minute = minute - 1 if last is not None and minute > last and not forced else minute
        try:
            stats = await data_plane.read_stats(self.runtime, built.spec.key)
        except Exception as exc:
            log.debug("elbv2: statistics of %s unavailable: %s", built.spec.key, exc)
            return
        previous = self._last_stats.get(key)
        reading = metrics.difference(stats, previous)
        carried = self._carried.get(key)
        if carried is not None:
            reading = metrics.merge(carried, reading)
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
        when = datetime.fromtimestamp(stamp_minute * METRICS_PERIOD, UTC)
        data = metrics.metric_data(record, built.groups, reading, when)
        if not data:
            return  # nothing to report yet (no target groups): look again at the next poll
        self._last_metrics[key] = minute
        self._last_stats[key] = stats
        self._carried.pop(key, None)
        metrics.publish(self.runtime, record, data)

    async def stop(self) -> None:
        await super().stop()
        self._access_logs.close()


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
