"""A balancer's interfaces in its VPC on the host: one small network namespace per interface, plugged into
its subnet like an instance (onebox.host.network.attach_interface: a port on the subnet's bridge, the
security group chains and the anti-spoofing entry of the router namespace), in which the balancer's
HAProxy listens (`bind IP:PORT namespace NS`). Nothing is added to the host's own namespace.

Each plugged interface leaves a marker file `STATE/elb-vpc/KEY/INTERFACE_ID`, so a deleted balancer's
interfaces, and on `onebox down` all of them, are unplugged even after a crash.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from onebox.host import network

RUN_NETNS = Path("/run/netns")
NETNS_PREFIX = "obelb-"


@dataclass(frozen=True)
class VpcPort:
    """One interface of a balancer: where it sits and its address."""

    interface_id: str
    vpc_id: str
    subnet_id: str
    address: str
    prefix_len: int


def netns_name(interface_id: str) -> str:
    return NETNS_PREFIX + hashlib.sha256(interface_id.encode()).hexdigest()[:12]


def mac_address(interface_id: str) -> str:
    digest = hashlib.sha256(interface_id.encode()).digest()
    return "02:" + ":".join(f"{b:02x}" for b in digest[:5])


def _markers(state_dir: Path, key: str) -> Path:
    return Path(state_dir) / "elb-vpc" / key


def plugged(state_dir: Path, key: str) -> list[str]:
    directory = _markers(state_dir, key)
    return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []


def plug(state_dir: Path, key: str, port: VpcPort, rules: network.InterfaceRules | None) -> None:
    """Plug the interface in (idempotent; a port already attached is left alone: the VPC controller
    keeps its security groups current). Raises NetworkError while the subnet is not built."""
    marker = _markers(state_dir, key) / port.interface_id
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(port.address + "\n")  # first: a crash from here on is still cleaned up
    ns = netns_name(port.interface_id)
    if network.interface_attached(port.interface_id) and (RUN_NETNS / ns).exists():
        return
    if not (RUN_NETNS / ns).exists():
        made = subprocess.run(["ip", "netns", "add", ns], capture_output=True, text=True)
        if made.returncode != 0:
            raise network.NetworkError(f"ip netns add {ns}: {made.stderr.strip()}")
    network.attach_interface(
        ns,
        port.vpc_id,
        port.subnet_id,
        port.address,
        port.prefix_len,
        mac_address(port.interface_id),
        port.interface_id,
    )
    if rules is not None:
        network.apply_security_groups(port.interface_id, rules)


def unplug(state_dir: Path, key: str, interface_id: str) -> None:
    """Detach the interface (its port and security group chains) and delete its namespace. Idempotent."""
    network.detach_interface(interface_id)
    ns = netns_name(interface_id)
    if (RUN_NETNS / ns).exists():
        subprocess.run(["ip", "netns", "delete", ns], check=False, capture_output=True)
    (_markers(state_dir, key) / interface_id).unlink(missing_ok=True)
    try:
        _markers(state_dir, key).rmdir()
    except OSError:
        pass


def unplug_others(state_dir: Path, key: str, keep: Sequence[str]) -> None:
    for interface_id in plugged(state_dir, key):
        if interface_id not in keep:
            unplug(state_dir, key, interface_id)


def release_all(state_dir: Path) -> list[str]:
    """Unplug every balancer interface this state dir's daemon plugged in (`onebox down`)."""
    root = Path(state_dir) / "elb-vpc"
    released = []
    if root.is_dir():
        for directory in sorted(root.iterdir()):
            for interface_id in plugged(state_dir, directory.name):
                unplug(state_dir, directory.name, interface_id)
                released.append(interface_id)
    return released
