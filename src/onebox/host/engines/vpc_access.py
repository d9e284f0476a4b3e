"""The host side of a DB instance's VPC placement: a small network namespace per instance (plugged into
its subnet with onebox.host.network.attach_interface) and the supervised forwarder that listens there
on the private address and relays to the server's loopback endpoint (forwarder.py)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from onebox.host.supervisor import ProcessSpec

RUN_NETNS = Path("/run/netns")


def netns_name(resource_id: str) -> str:
    return "obrds-" + hashlib.sha256(resource_id.encode()).hexdigest()[:16]


def mac_address(interface_id: str) -> str:
    """A stable, locally administered unicast MAC for the instance's interface."""
    digest = hashlib.sha256(interface_id.encode()).digest()
    return "02:" + ":".join(f"{b:02x}" for b in digest[:5])


def ensure_netns(resource_id: str) -> str:
    name = netns_name(resource_id)
    if not (RUN_NETNS / name).exists():
        subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    return name


def remove_netns(resource_id: str) -> None:
    """Deleting the namespace takes its veth (and so the subnet port) with it."""
    name = netns_name(resource_id)
    if (RUN_NETNS / name).exists():
        subprocess.run(["ip", "netns", "delete", name], check=False, capture_output=True)


def forwarder_name(resource_id: str) -> str:
    return f"rds-{resource_id.lower()}-vpc"


def forwarder_spec(resource_id: str, private_ip: str, address: str, port: int) -> ProcessSpec:
    return ProcessSpec(
        name=forwarder_name(resource_id),
        argv=[
            sys.executable,
            "-m",
            "onebox.host.engines.forwarder",
            "--netns",
            netns_name(resource_id),
            "--listen",
            f"{private_ip}:{port}",
            "--to",
            f"{address}:{port}",
        ],
        stop_timeout=5.0,
    )


def release_all(instances_root: Path) -> list[str]:
    """Remove the namespaces of every instance under `instances_root` (`onebox down`)."""
    released = []
    if instances_root.is_dir():
        for instance in sorted(instances_root.iterdir()):
            if (RUN_NETNS / netns_name(instance.name)).exists():
                remove_netns(instance.name)
                released.append(instance.name)
    return released
