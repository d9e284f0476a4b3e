"""Makes VPCs real: per VPC a router namespace with one bridge per subnet (host/network.py), and the
security groups of every attached interface as nftables rules. Level-triggered on VPC, subnet, group
and private-IP changes plus a periodic resync, so a daemon restart re-applies the store's state.

What this daemon built is remembered under `<state dir>/network/vpcs/` (host/network.py), so a VPC
deleted while the network change was pending, and everything at `onebox down` (the controller's stop,
or `onebox down` itself after a crash), is torn down without touching another daemon's networks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from onebox.controllers import Controller, RequeueAfter
from onebox.host import network
from onebox.services.ec2.security_groups import rules_for
from onebox.services.ec2.vpc_records import PRIVATE_IP, SECURITY_GROUP, SUBNET, VPC
from onebox.store import NotFound

if TYPE_CHECKING:
    from onebox.runtime import Runtime

log = logging.getLogger("onebox.ec2.vpc")

Key = tuple[str, str, str]  # account, region, vpc id


class VpcNetworkController(Controller[Key]):
    name = "ec2-vpc-network"
    resync_interval = 30.0

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime.clock)
        self.runtime = runtime
        self.state_dir = Path(runtime.config.state_dir)

    # -- keys ---------------------------------------------------------------------------------------

    async def list_keys(self) -> Iterable[Key]:
        keys = {(r.account, r.region, r.id) for r in self.runtime.store.list_all(VPC)}
        for vpc_id, built in self._built().items():
            keys.add((built["account"], built["region"], vpc_id))
        return sorted(keys)

    def keys_for_change(self, kind: str, account: str, region: str, record_id: str) -> list[Key]:
        store = self.runtime.store
        if kind == VPC:
            return [(account, region, record_id)]
        record = store.get(kind, account, region, record_id)
        if record is not None and record.spec.get("VpcId"):
            return [(account, region, record.spec["VpcId"])]
        # Deleted: we no longer know its VPC; every VPC of the account and region takes a look.
        return [(account, region, vpc.id) for vpc in store.list(VPC, account, region)]

    # -- reconcile ----------------------------------------------------------------------------------

    async def reconcile(self, key: Key) -> None:
        await asyncio.to_thread(self._reconcile, key)

    def _reconcile(self, key: Key) -> None:
        account, region, vpc_id = key
        store = self.runtime.store
        vpc = store.get(VPC, account, region, vpc_id)
        if vpc is None:
            built = self._built().get(vpc_id)
            if built is not None and network.available():
                network.forget_vpc(self.state_dir, vpc_id, built["cidrs"])
            return
        subnets = [s for s in store.list(SUBNET, account, region) if s.spec["VpcId"] == vpc_id]
        status: dict[str, Any] = {"State": "available", "Network": "none"}
        contended = False
        if network.available():
            network.remember_vpc(self.state_dir, vpc_id, account, region, [vpc.spec["CidrBlock"]])
            link = network.ensure_vpc(vpc_id, [vpc.spec["CidrBlock"]])
            for subnet in subnets:
                network.ensure_subnet(vpc_id, subnet.id, subnet.spec["CidrBlock"])
            network.prune_subnets(vpc_id, [s.id for s in subnets])
            self._apply_groups(account, region, vpc_id)
            status = {"State": "available", "Network": "namespace", "HostRoute": link.host_route}
            contended = link.contended
            if link.reason:
                status["HostRouteReason"] = link.reason
        try:
            for subnet in subnets:
                if subnet.status.get("State") != "available":
                    store.update_status(
                        SUBNET, account, region, subnet.id, {**subnet.status, "State": "available"}
                    )
            if vpc.status != status:
                store.update_status(VPC, account, region, vpc_id, status)
        except NotFound:
            return  # deleted meanwhile: its delete event brings the key back and the teardown runs
        if contended:
            # Another daemon's VPC with the same CIDR holds the host route: take it over within
            # seconds of it being freed rather than at the next 30 s resync.
            raise RequeueAfter(5.0)

    def _apply_groups(self, account: str, region: str, vpc_id: str) -> None:
        store = self.runtime.store
        for address in store.list(PRIVATE_IP, account, region):
            interface_id = address.spec.get("InterfaceId")
            if address.spec.get("VpcId") != vpc_id or not interface_id:
                continue
            if not network.interface_attached(interface_id):
                continue  # not running: the instance applies its groups when it attaches
            try:
                network.apply_security_groups(
                    interface_id, rules_for(store, account, region, address.spec.get("GroupIds") or [])
                )
            except network.NetworkError as error:  # detached meanwhile; the next pass settles it
                log.info("applying groups to %s: %s", interface_id, error)

    def _built(self) -> dict[str, dict[str, Any]]:
        return network.built_vpcs(self.state_dir)

    def teardown(self) -> None:
        """Remove every network this daemon built (what `onebox down` ends with)."""
        network.teardown_built(self.state_dir)

    async def stop(self) -> None:
        # The daemon stops its controllers only on a clean stop (`onebox down`); a killed daemon leaves
        # the networks serving and the next one adopts them through the resync.
        await super().stop()
        await asyncio.to_thread(self.teardown)


async def _changes(controller: VpcNetworkController) -> AsyncIterator[Key]:
    subscription = controller.runtime.store.changes.subscribe([VPC, SUBNET, SECURITY_GROUP, PRIVATE_IP])
    try:
        async for change in subscription:
            if change.status_only:
                continue
            for key in controller.keys_for_change(change.kind, change.account, change.region, change.id):
                yield key
    finally:
        subscription.close()


def controllers(runtime: Runtime) -> list[tuple[Controller[Any], AsyncIterator[Any] | None]]:
    controller = VpcNetworkController(runtime)
    return [(controller, _changes(controller))]
