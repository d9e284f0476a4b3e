"""VPCs made real by a live daemon: router namespaces, subnet bridges and host routes appear, survive a
daemon crash, are repaired by the next daemon, and vanish with DeleteVpc and `onebox down`."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections.abc import Callable

import pytest

from onebox.host import network
from tests.conftest import LiveOnebox

pytestmark = pytest.mark.skipif(not network.available(), reason="the namespace driver needs root, ip and nft")


def _until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    """Wait for the daemon's controller to change the host (a real OS state, not a clock)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "the host did not reach the expected state"
        time.sleep(0.05)


def _cidr() -> str:
    while True:
        cidr = f"10.{random.randint(100, 199)}.0.0/16"
        if network.host_conflict(cidr) is None:
            return cidr


def _routes() -> str:
    return subprocess.run(["ip", "route"], capture_output=True, text=True, check=True).stdout


def _gone(vpc_id: str, cidr: str) -> bool:
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    return (
        network.router_namespace(vpc_id) not in network.namespaces()
        and network.host_link_name(vpc_id) not in links
        and cidr not in _routes()
    )


def _wait_gone(pid: int) -> None:
    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    _until(gone)


def test_vpc_network_lifecycle_crash_repair_and_down(fresh_onebox: LiveOnebox) -> None:
    box = fresh_onebox
    ec2 = box.client("ec2")
    cidr = _cidr()
    prefix = cidr.rsplit(".", 2)[0]
    vpc_id = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"{prefix}.1.0/24")["Subnet"]["SubnetId"]
    router = network.router_namespace(vpc_id)
    bridge = network.bridge_name(subnet_id)
    try:
        _until(lambda: ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]["State"] == "available")
        assert ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["State"] == "available"
        assert router in network.namespaces()
        addresses = subprocess.run(
            ["ip", "-n", router, "-4", "-o", "addr", "show", bridge], capture_output=True, text=True
        )
        assert f"inet {prefix}.1.1/24" in addresses.stdout
        assert f"{cidr} via {network.ROUTER_LINK_ADDRESS} dev {network.host_link_name(vpc_id)}" in _routes()

        # A crashed daemon leaves the network in place (static stability)...
        daemon_pid = int((box.state_dir / "run" / "daemon.pid").read_text())
        os.kill(daemon_pid, signal.SIGKILL)
        _wait_gone(daemon_pid)
        assert router in network.namespaces()
        # ...and the next daemon repairs drift from the store's state.
        subprocess.run(["ip", "-n", router, "link", "del", bridge], check=True)
        box.cli("up", "--detach")
        _until(lambda: network._link_exists(bridge, ns=router))

        # DeleteVpc removes the namespace, its link and its host routes.
        ec2.delete_subnet(SubnetId=subnet_id)
        ec2.delete_vpc(VpcId=vpc_id)
        _until(lambda: _gone(vpc_id, cidr))

        # `onebox down` removes what is left (the default VPC's network among it), even after a crash.
        default = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
        _until(lambda: network.router_namespace(default) in network.namespaces())
        daemon_pid = int((box.state_dir / "run" / "daemon.pid").read_text())
        os.kill(daemon_pid, signal.SIGKILL)
        _wait_gone(daemon_pid)
        box.cli("down")
        assert network.router_namespace(default) not in network.namespaces()
        assert not network.built_vpcs(box.state_dir)
    finally:
        box.cli("down", check=False)
        assert _gone(vpc_id, cidr)


def test_clean_down_removes_every_network(fresh_onebox: LiveOnebox) -> None:
    box = fresh_onebox
    ec2 = box.client("ec2")
    cidr = _cidr()
    vpc_id = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    _until(lambda: ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["State"] == "available")
    assert network.router_namespace(vpc_id) in network.namespaces()
    box.cli("down")
    assert _gone(vpc_id, cidr)
    assert not network.built_vpcs(box.state_dir)
