"""The VPC controller on the real kernel: store records in, router namespaces, bridges and enforced
security groups out; group changes through the API handlers reach the interfaces; teardown is total."""

from __future__ import annotations

import asyncio
import ipaddress
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from onebox.aws.credentials import CredentialStore
from onebox.aws.dispatch import RequestContext
from onebox.clock import ManualClock
from onebox.config import Config
from onebox.host import network
from onebox.runtime import Runtime
from onebox.services.ec2 import addressing, security_groups, subnets, vpcs
from onebox.services.ec2.regions import zones
from onebox.services.ec2.vpc_controller import VpcNetworkController
from onebox.services.ec2.vpc_records import VPC
from onebox.store import Store
from onebox.store.ids import new_id

pytestmark = pytest.mark.skipif(not network.available(), reason="needs root, ip and nft")

ACCOUNT, REGION = "000000000000", "us-east-1"

SERVER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(16)
print("ready", flush=True)
while True:
    c, _ = s.accept(); c.sendall(b"hello"); c.close()
"""
PROBE = """
import socket, sys
s = socket.socket(); s.settimeout(0.5)
try:
    s.connect((sys.argv[1], int(sys.argv[2]))); print(s.recv(5).decode())
except OSError as e:
    print("error")
"""


class World:
    def __init__(self, state_dir: Path) -> None:
        clock = ManualClock()
        self.store = Store.memory(clock)
        self.runtime = Runtime(
            config=Config(state_dir=state_dir), clock=clock, store=self.store, credentials=CredentialStore([])
        )
        self.controller = VpcNetworkController(self.runtime)
        self.namespaces: list[str] = []
        self.servers: list[subprocess.Popen[str]] = []

    def ctx(self, operation: str) -> RequestContext:
        return RequestContext(self.runtime, "ec2", operation, ACCOUNT, REGION, "req", None)  # type: ignore[arg-type]

    def reconcile(self, vpc_id: str) -> None:
        self.controller._reconcile((ACCOUNT, REGION, vpc_id))

    def instance(self, vpc_id: str, subnet_id: str, group_ids: list[str]) -> tuple[str, str]:
        eni = new_id("eni")
        ip = addressing.allocate_private_ip(
            self.store, ACCOUNT, REGION, subnet_id, None, interface_id=eni, group_ids=group_ids
        )
        ns = f"obtest-{new_id('i')[2:12]}"
        subprocess.run(["ip", "netns", "add", ns], check=True)
        self.namespaces.append(ns)
        subnet_cidr = self.store.get("ec2:subnet", ACCOUNT, REGION, subnet_id).spec["CidrBlock"]  # type: ignore[union-attr]
        prefix = ipaddress.ip_network(subnet_cidr).prefixlen
        mac = "02:" + ":".join(f"{random.randint(0, 255):02x}" for _ in range(5))
        network.attach_interface(ns, vpc_id, subnet_id, ip, prefix, mac, eni)
        server = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-c", SERVER, "80"], stdout=subprocess.PIPE, text=True
        )
        self.servers.append(server)
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        return ns, ip

    def probe(self, ns: str | None, ip: str) -> str:
        prefix = ["ip", "netns", "exec", ns] if ns else []
        argv = [*prefix, sys.executable, "-c", PROBE, ip, "80"]
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()

    def close(self) -> None:
        for server in self.servers:
            server.kill()
            server.wait()
        for ns in self.namespaces:
            subprocess.run(["ip", "netns", "del", ns], check=False)
        self.controller.teardown()
        self.store.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    world = World(tmp_path)
    try:
        yield world
    finally:
        world.close()
    assert not [n for n in network.namespaces() if n in world.namespaces]


def _free_cidr() -> str:
    while True:
        cidr = f"10.{random.randint(100, 199)}.0.0/16"
        if network.host_conflict(cidr) is None:
            return cidr


def test_groups_from_the_api_are_enforced_and_teardown_is_total(world: World) -> None:
    cidr = _free_cidr()
    vpc = vpcs.create_vpc_records(world.store, ACCOUNT, REGION, cidr)
    base = ipaddress.ip_network(cidr)
    zone = zones(REGION)[0]
    one = subnets.create_subnet_record(
        world.store, ACCOUNT, REGION, vpc, str(list(base.subnets(new_prefix=24))[1]), zone
    )
    two = subnets.create_subnet_record(
        world.store, ACCOUNT, REGION, vpc, str(list(base.subnets(new_prefix=24))[2]), zone
    )
    world.reconcile(vpc.id)
    record = world.store.get(VPC, ACCOUNT, REGION, vpc.id)
    assert record is not None and record.status["State"] == "available" and record.status["HostRoute"]
    router = network.router_namespace(vpc.id)
    assert router in network.namespaces()
    bridges = subprocess.run(["ip", "-n", router, "-4", "-o", "addr"], capture_output=True, text=True).stdout
    assert f"{network.subnet_gateway(one.spec['CidrBlock'])}/24" in bridges

    web: Any = security_groups.create_security_group(
        world.ctx("CreateSecurityGroup"), {"GroupName": "web", "Description": "w", "VpcId": vpc.id}
    )
    client: Any = security_groups.create_security_group(
        world.ctx("CreateSecurityGroup"), {"GroupName": "client", "Description": "c", "VpcId": vpc.id}
    )
    server_ns, server_ip = world.instance(vpc.id, two.id, [web["GroupId"]])
    client_ns, client_ip = world.instance(vpc.id, one.id, [client["GroupId"]])
    default = security_groups.default_group(world.store, ACCOUNT, REGION, vpc.id)
    assert default is not None
    other_ns, _ = world.instance(vpc.id, one.id, [default.id])
    world.reconcile(vpc.id)
    # "web" has no ingress rule yet: nobody gets in.
    assert world.probe(client_ns, server_ip) == "error"
    assert world.probe(None, server_ip) == "error"
    # A rule naming the client group opens port 80 to its members only.
    security_groups.authorize_ingress(
        world.ctx("AuthorizeSecurityGroupIngress"),
        {
            "GroupId": web["GroupId"],
            "IpPermissions": [
                {
                    "IpProtocol": "tcp",
                    "FromPort": 80,
                    "ToPort": 80,
                    "UserIdGroupPairs": [{"GroupId": client["GroupId"]}],
                }
            ],
        },
    )
    world.reconcile(vpc.id)
    assert world.probe(client_ns, server_ip) == "hello"
    assert world.probe(other_ns, server_ip) == "error"
    assert world.probe(None, server_ip) == "error"
    # A CIDR rule opens it to the host too (its VPC link address is 169.254.10.1).
    security_groups.authorize_ingress(
        world.ctx("AuthorizeSecurityGroupIngress"),
        {
            "GroupId": web["GroupId"],
            "IpPermissions": [
                {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
            ],
        },
    )
    world.reconcile(vpc.id)
    assert world.probe(None, server_ip) == "hello"
    assert world.probe(other_ns, server_ip) == "hello"
    assert client_ip

    # Deleting a subnet's record prunes its bridge; teardown removes the whole VPC network.
    empty = subnets.create_subnet_record(
        world.store, ACCOUNT, REGION, vpc, str(list(base.subnets(new_prefix=24))[9]), zone
    )
    world.reconcile(vpc.id)
    assert network._link_exists(network.bridge_name(empty.id), ns=router)
    world.store.delete_by_id("ec2:subnet", ACCOUNT, REGION, empty.id)
    world.reconcile(vpc.id)
    assert not network._link_exists(network.bridge_name(empty.id), ns=router)

    world.controller.teardown()
    assert router not in network.namespaces()
    assert cidr not in subprocess.run(["ip", "route"], capture_output=True, text=True).stdout
    assert not network.built_vpcs(world.runtime.config.state_dir)


def test_deleted_vpc_is_torn_down_by_its_reconcile(world: World) -> None:
    cidr = _free_cidr()
    vpc = vpcs.create_vpc_records(world.store, ACCOUNT, REGION, cidr)
    world.reconcile(vpc.id)
    assert network.router_namespace(vpc.id) in network.namespaces()
    keys = asyncio.run(world.controller.list_keys())
    assert (ACCOUNT, REGION, vpc.id) in keys
    vpcs.delete_vpc(world.ctx("DeleteVpc"), {"VpcId": vpc.id})
    # The record is gone, but the controller remembers what it built and still lists the key.
    assert (ACCOUNT, REGION, vpc.id) in asyncio.run(world.controller.list_keys())
    world.reconcile(vpc.id)
    assert network.router_namespace(vpc.id) not in network.namespaces()
    assert cidr not in subprocess.run(["ip", "route"], capture_output=True, text=True).stdout
