"""The data plane's API for the elbv2 service: apply / remove one balancer, the shared edge, and read
target health and counters. See docs/elbv2.md ("Data plane")."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from onebox.host.loadbalancer import edge, process, status
from onebox.host.loadbalancer.paths import balancer_paths, edge_paths
from onebox.host.loadbalancer.render import checked_servers, render
from onebox.host.loadbalancer.spec import LoadBalancerSpec
from onebox.host.loadbalancer.status import BalancerStats, TargetHealth
from onebox.host.loadbalancer.syntax import SpecError

if TYPE_CHECKING:
    from onebox.runtime import Runtime


def process_name(key: str) -> str:
    return f"elb-{key}"


async def apply(
    runtime: Runtime, spec: LoadBalancerSpec, before_reload: Callable[[], Awaitable[None]] | None = None
) -> bool:
    """Run `spec`: render, `haproxy -c`, then start or hitlessly reload its HAProxy. Returns whether
    anything changed. Raises ConfigRejected (a LoadBalancerError) and leaves the running one untouched.
    `before_reload` runs just before a reload (the last moment to read the old worker's counters)."""
    paths = balancer_paths(runtime.config.state_dir, spec.key)
    try:
        text = render(spec, paths)
    except SpecError as exc:
        raise process.ConfigRejected(str(exc)) from exc
    certificates = [c.pem_path for listener in spec.listeners for c in listener.certificates]
    checked = [process.CheckedServer(*server) for server in checked_servers(spec)]
    return await process.install(
        runtime.supervisor, process_name(spec.key), paths, text, certificates, checked, before_reload
    )


async def remove(runtime: Runtime, key: str) -> None:
    """Stop the balancer's HAProxy and delete its files (no error if it does not exist)."""
    await process.uninstall(
        runtime.supervisor, process_name(key), balancer_paths(runtime.config.state_dir, key)
    )


async def apply_edge(runtime: Runtime, specs: list[LoadBalancerSpec]) -> list[int]:
    """Make the shared edge serve every listener port of `specs` on 127.0.0.1 (and ::1). Ports another
    program holds are skipped (logged). Returns the ports served. No listeners: the edge stops."""
    state_dir = runtime.config.state_dir
    paths = edge_paths(state_dir)
    wanted = {listener.port for spec in specs for listener in spec.listeners}
    if not wanted:
        await process.uninstall(runtime.supervisor, edge.PROCESS_NAME, paths)
        return []
    running = runtime.supervisor is not None and process.running_pid(runtime.supervisor, edge.PROCESS_NAME)
    ports = edge.choose_ports(wanted, edge.bound_ports(paths) if running else set())
    pairs = [(spec, balancer_paths(state_dir, spec.key)) for spec in specs]
    text = edge.render_edge(pairs, paths, ports, edge.ipv6_loopback())
    await process.install(runtime.supervisor, edge.PROCESS_NAME, paths, text)
    edge.ports_file(paths).write_text(json.dumps(ports))
    return ports


async def read_health(runtime: Runtime, key: str) -> dict[str, dict[str, TargetHealth]]:
    """{target_group_key: {target_key: TargetHealth}} as the balancer's health checks see them now."""
    return await status.health(balancer_paths(runtime.config.state_dir, key))


async def read_stats(runtime: Runtime, key: str) -> BalancerStats:
    return await status.stats(balancer_paths(runtime.config.state_dir, key).stats_socket)
