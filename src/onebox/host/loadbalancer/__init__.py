"""The Application Load Balancer data plane: one HAProxy per balancer (docs/elbv2.md, "Data plane").

The elbv2 service builds a `LoadBalancerSpec` (spec.py) and calls `apply`, `remove`, `apply_edge`,
`read_health` and `read_stats`."""

from onebox.host.loadbalancer.balancer import apply, apply_edge, read_health, read_stats, remove
from onebox.host.loadbalancer.process import ConfigRejected, LoadBalancerError
from onebox.host.loadbalancer.render import render
from onebox.host.loadbalancer.runtime_api import RuntimeApiError
from onebox.host.loadbalancer.status import BalancerStats, Counters, TargetHealth

__all__ = [
    "BalancerStats",
    "ConfigRejected",
    "Counters",
    "LoadBalancerError",
    "RuntimeApiError",
    "TargetHealth",
    "apply",
    "apply_edge",
    "read_health",
    "read_stats",
    "remove",
    "render",
]
