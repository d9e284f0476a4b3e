"""Makes instances and images real: boots, stops, reboots and terminates instances through the instance
driver and the supervisor, plugs them into their subnet, freezes writable layers into images, and
accounts instance-hours and cost.

Keys are ("instance" | "image", account, region, id). The supervisor keeps each instance's init running
(and re-adopts it after a daemon kill -9); this controller decides whether it should run.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

from onebox.controllers import Controller, RequeueAfter
from onebox.host import imds
from onebox.host.instances.drivers import InstanceDriver, LaunchPlan, make_driver, process_name
from onebox.services.ec2 import instance_network
from onebox.services.ec2.images import IMAGE
from onebox.services.ec2.instance_types import INSTANCE_TYPES
from onebox.services.ec2.instances import INSTANCE, hostname_for
from onebox.services.ec2.regions import zones
from onebox.store import Conflict, Record

if TYPE_CHECKING:
    from onebox.runtime import Runtime

log = logging.getLogger(__name__)

Key = tuple[str, str, str, str]
TERMINATED_VISIBLE_SECONDS = 3600.0  # EC2 lists terminated instances for about an hour
BOOT_POLL_SECONDS = 0.05
MIN_BILLED_SECONDS = 60  # Linux on-demand: per-second billing with a one-minute minimum per start


class InstancesController(Controller[Key]):
    name = "ec2-instances"
    resync_interval = 30.0
    concurrency = 8

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime.clock)
        self.runtime = runtime
        self.store = runtime.store
        self._drivers: dict[str, InstanceDriver] = {}

    def driver(self, name: str | None) -> InstanceDriver:
        key = name or "default"
        if key not in self._drivers:
            self._drivers[key] = make_driver(self.runtime.config.state_dir, name)
        return self._drivers[key]

    async def list_keys(self) -> Iterable[Key]:
        keys: list[Key] = [("instance", r.account, r.region, r.id) for r in self.store.list_all(INSTANCE)]
        keys += [
            ("image", r.account, r.region, r.id)
            for r in self.store.list_all(IMAGE)
            if r.status.get("State") == "pending" or r.spec.get("State") == "deregistered"
        ]
        return keys

    async def reconcile(self, key: Key) -> None:
        kind, account, region, resource_id = key
        if kind == "instance":
            await self._instance(account, region, resource_id)
        else:
            await self._image(account, region, resource_id)

    # -- instances --------------------------------------------------------------------------------

    async def _instance(self, account: str, region: str, instance_id: str) -> None:
        record = self.store.get(INSTANCE, account, region, instance_id)
        if record is None:
            return
        desired = record.spec["DesiredState"]
        if desired == "terminated":
            await self._terminate(record)
        elif desired == "stopped":
            await self._stop(record)
        else:
            await self._run(record)

    def _status(self, record: Record, **changes: Any) -> Record:
        status = {**record.status, **changes}
        now = self.clock.time()
        was_running = record.status.get("State") == "running"
        if was_running and changes.get("State") not in (None, "running"):
            since = record.status.get("RunningSince", now)
            billed = max(MIN_BILLED_SECONDS, now - since)
            status["RunningSeconds"] = record.status.get("RunningSeconds", 0) + billed
            status.pop("RunningSince", None)
        if changes.get("State") == "running" and not was_running:
            status["RunningSince"] = now
        price = INSTANCE_TYPES[record.spec["InstanceType"]].price
        seconds = status.get("RunningSeconds", 0)
        status["InstanceHours"] = round(seconds / 3600, 6)
        status["CostUsd"] = round(seconds / 3600 * price, 6)
        try:
            # At the version we read: a handler's transition meanwhile (stop, terminate) must not be undone.
            return self.store.update_status(
                INSTANCE, record.account, record.region, record.id, status, expected_version=record.version
            )
        except Conflict:
            raise RequeueAfter(0) from None

    async def _run(self, record: Record) -> None:
        driver = self.driver(record.spec.get("Driver"))
        supervisor = self.runtime.supervisor
        assert supervisor is not None
        name = process_name(record.id)
        process = supervisor.get(name)
        alive = process is not None and process.state in ("starting", "running", "backoff")
        reboots = record.spec.get("RebootRequests", 0)
        if alive and reboots != record.status.get("RebootsDone", 0):
            await supervisor.stop(name)
            await asyncio.to_thread(driver.stopped, record.id)
            record = self.store.update_status(
                INSTANCE, record.account, record.region, record.id, {**record.status, "RebootsDone": reboots}
            )
            alive = False
        if alive:
            await supervisor.ensure(driver.process_spec(record.id))
        else:
            spec = await asyncio.to_thread(self._prepare, record, driver)
            if spec is None:
                raise RequeueAfter(0.2)  # the subnet is still being built
            await supervisor.ensure(spec)
            if record.status.get("RebootsDone", 0) != reboots:
                record = self.store.update_status(
                    INSTANCE,
                    record.account,
                    record.region,
                    record.id,
                    {**record.status, "RebootsDone": reboots},
                )
        if driver.booted(record.id):
            if record.status.get("State") != "running" or not record.status.get("Booted"):
                self._status(record, State="running", Booted=True, StateTransitionReason="")
            return
        if record.status.get("State") not in ("pending", "running"):  # a reboot stays "running", as in EC2
            self._status(record, State="pending", Booted=False)
        raise RequeueAfter(BOOT_POLL_SECONDS)

    def _prepare(self, record: Record, driver: InstanceDriver) -> Any:
        """Host side of a start (runs in a thread): network, cgroup, boot config. None = retry soon."""
        spec = record.spec
        instance_type = INSTANCE_TYPES[spec["InstanceType"]]
        if driver.name == "namespace":
            netns = driver.ensure_netns(record.id)  # type: ignore[attr-defined]
            if spec.get("SubnetId") and not self._attach(record, netns):
                return None
        user_data = base64.b64decode(spec.get("UserData") or "")
        public_keys = [f"{spec['PublicKey'].strip()} {spec['KeyName']}"] if spec.get("PublicKey") else []
        plan = LaunchPlan(
            instance_id=record.id,
            hostname=hostname_for(spec["PrivateIpAddress"]),
            layers=list(spec["Layers"]),
            user_data=user_data,
            public_keys=public_keys,
            metadata=self._metadata(record, user_data),
            vcpus=instance_type.vcpus,
            memory_mib=instance_type.memory_mib,
            private_ip=spec["PrivateIpAddress"],
        )
        return driver.prepare(plan)

    def _attach(self, record: Record, netns: str) -> bool:
        from onebox.host import network

        spec = record.spec
        prefix = int(str(spec.get("SubnetCidr") or "0/24").split("/")[1])
        try:
            network.attach_interface(
                netns,
                spec["VpcId"],
                spec["SubnetId"],
                spec["PrivateIpAddress"],
                prefix,
                spec["MacAddress"],
                spec["NetworkInterfaceId"],
            )
        except network.NetworkError as error:
            if "not built yet" in str(error):
                return False
            raise
        from onebox.services.ec2.security_groups import rules_for

        group_ids = [group_id for group_id, _ in spec.get("SecurityGroups") or []]
        network.apply_security_groups(
            spec["NetworkInterfaceId"], rules_for(self.store, record.account, record.region, group_ids)
        )
        return True

    def _metadata(self, record: Record, user_data: bytes) -> dict[str, Any]:
        spec = record.spec
        zone = spec["AvailabilityZone"]
        zone_id = next(
            (str(z["ZoneId"]) for z in zones(record.region) if z["ZoneName"] == zone), f"{record.region}-az1"
        )
        return imds.build_metadata(
            instance_id=record.id,
            image_id=spec["ImageId"],
            instance_type=spec["InstanceType"],
            region=record.region,
            availability_zone=zone,
            availability_zone_id=zone_id,
            account_id=record.account,
            private_ip=spec["PrivateIpAddress"],
            mac=spec["MacAddress"],
            interface_id=spec["NetworkInterfaceId"],
            subnet_id=spec.get("SubnetId"),
            vpc_id=spec.get("VpcId"),
            subnet_cidr=spec.get("SubnetCidr"),
            vpc_cidr=spec.get("VpcCidr"),
            security_groups=[(g[0], g[1]) for g in spec.get("SecurityGroups") or []],
            key_name=spec.get("KeyName"),
            public_key=spec.get("PublicKey"),
            user_data=user_data,
            launch_index=spec["AmiLaunchIndex"],
            reservation_id=spec["ReservationId"],
            launch_time=record.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            http_tokens=spec.get("HttpTokens", "optional"),
        )

    async def _stop(self, record: Record) -> None:
        if record.status.get("State") == "stopped":
            return
        driver = self.driver(record.spec.get("Driver"))
        assert self.runtime.supervisor is not None
        await self.runtime.supervisor.stop(process_name(record.id))
        await asyncio.to_thread(driver.stopped, record.id)
        self._status(record, State="stopped", Booted=False)

    async def _terminate(self, record: Record) -> None:
        now = self.clock.time()
        if record.status.get("State") == "terminated":
            left = record.status.get("TerminatedAt", now) + TERMINATED_VISIBLE_SECONDS - now
            if left <= 0:
                self.store.delete_by_id(INSTANCE, record.account, record.region, record.id)
                return
            raise RequeueAfter(left)
        driver = self.driver(record.spec.get("Driver"))
        assert self.runtime.supervisor is not None
        await self.runtime.supervisor.stop(process_name(record.id))
        await asyncio.to_thread(self._destroy, record, driver)
        spec = record.spec
        instance_network.release_ip(
            self.store, record.account, record.region, spec.get("SubnetId"), spec["PrivateIpAddress"]
        )
        self._status(record, State="terminated", Booted=False, TerminatedAt=now)

    def _destroy(self, record: Record, driver: InstanceDriver) -> None:
        if driver.name == "namespace" and record.spec.get("SubnetId"):
            from onebox.host import network

            network.detach_interface(record.spec["NetworkInterfaceId"])
        driver.destroy(record.id)

    async def stop(self) -> None:
        """`onebox down`: stop every instance's processes and give back its namespaces and cgroups;
        disks stay, and the next daemon boots the instances that should run. (A killed daemon never gets
        here: its instances keep running and the next daemon adopts them.)"""
        await super().stop()
        supervisor = self.runtime.supervisor
        for record in self.store.list_all(INSTANCE):
            if record.status.get("State") == "terminated":
                continue
            driver = self.driver(record.spec.get("Driver"))
            try:
                if supervisor is not None:
                    await supervisor.stop(process_name(record.id))
                await asyncio.to_thread(driver.stopped, record.id)
                await asyncio.to_thread(driver.release_host, record.id)
            except Exception:
                log.exception("releasing the host resources of %s failed", record.id)

    # -- images -----------------------------------------------------------------------------------

    async def _image(self, account: str, region: str, image_id: str) -> None:
        record = self.store.get(IMAGE, account, region, image_id)
        if record is None:
            return
        if record.spec.get("State") == "deregistered":
            await asyncio.to_thread(self._delete_unused_layers, record)
            self.store.delete_by_id(IMAGE, account, region, image_id)
            return
        if record.status.get("State") != "pending":
            return
        layer = record.spec.get("FreezeLayer")
        instance = self.store.get(INSTANCE, account, region, record.spec.get("SourceInstanceId", ""))
        if layer is None or instance is None or instance.status.get("State") == "terminated":
            self.store.update_status(
                IMAGE,
                account,
                region,
                image_id,
                {
                    "State": "failed",
                    "StateReason": {"Code": "Client.InstanceTerminated", "Message": "instance gone"},
                },
            )
            return
        driver = self.driver(instance.spec.get("Driver"))
        pause = not record.spec.get("NoReboot") and instance.status.get("State") == "running"
        await asyncio.to_thread(driver.freeze_layer, instance.id, layer, pause)
        self.store.update_status(IMAGE, account, region, image_id, {"State": "available"})

    def _delete_unused_layers(self, record: Record) -> None:
        used: set[str] = set()
        for image in self.store.list_all(IMAGE):
            if image.id != record.id and image.spec.get("State") != "deregistered":
                used.update(image.spec.get("Layers") or [])
        for instance in self.store.list_all(INSTANCE):
            if instance.status.get("State") != "terminated":
                used.update(instance.spec.get("Layers") or [])
        driver = self.driver(None)
        for layer in record.spec.get("Layers") or []:
            if layer not in used:
                driver.layers.delete(layer)


async def instance_changes(runtime: Runtime) -> AsyncIterator[Key]:
    subscription = runtime.store.changes.subscribe([INSTANCE, IMAGE])
    async for change in subscription:
        if change.status_only or change.deleted:
            continue
        kind = "instance" if change.kind == INSTANCE else "image"
        yield (kind, change.account, change.region, change.id)


def controllers(runtime: Runtime) -> list[tuple[Controller[Any], AsyncIterator[Any] | None]]:
    controller = InstancesController(runtime)
    entries: list[tuple[Controller[Any], AsyncIterator[Any] | None]] = [
        (controller, instance_changes(runtime))
    ]
    from onebox.services.ec2.instance_metrics import InstanceMetrics

    entries.append((InstanceMetrics(runtime, controller), None))
    return entries


def host_cpus() -> int:
    return os.cpu_count() or 1
