"""Giving back everything onebox built on the host for one state dir: instance cgroups and
namespaces, then VPC networks. Called by the daemon after it stopped its children, and by
`onebox down` (which also covers a daemon that was killed). Disks and data stay."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("onebox.teardown")


def release_host_resources(state_dir: Path) -> list[str]:
    """Returns what was released (instance and VPC ids), for `onebox down` to report."""
    from onebox.host import network
    from onebox.host.instances.drivers import release_all

    released: list[str] = []
    # Instances first: their veths live in their own namespaces and their cgroups hold their processes.
    try:
        released += release_all(state_dir)
    except Exception:
        log.exception("releasing instance resources failed")
    try:  # RDS instances' filesystems (loop mounts) and VPC namespaces, once their servers are stopped
        from onebox.host.engines import volume, vpc_access

        released += volume.release_all(state_dir / "rds" / "instances")
        released += vpc_access.release_all(state_dir / "rds" / "instances")
    except Exception:
        log.exception("releasing RDS host resources failed")
    try:  # load balancers' interfaces in their VPCs (their HAProxies are stopped)
        from onebox.host.loadbalancer import vpc_ports

        released += vpc_ports.release_all(state_dir)
    except Exception:
        log.exception("releasing load balancer interfaces failed")
    try:
        released += network.teardown_built(state_dir)
    except Exception:
        log.exception("removing VPC networks failed")
    return released
