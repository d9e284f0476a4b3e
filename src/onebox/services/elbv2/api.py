"""ELBv2's handler table and controllers (Application Load Balancers on HAProxy; docs/elbv2.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from onebox.aws.dispatch import ServiceApi
from onebox.services.elbv2 import (
    listeners,
    load_balancers,
    rules,
    ssl_policies,
    tagging,
    target_groups,
    targets,
)

if TYPE_CHECKING:
    from onebox.controllers import Controller
    from onebox.runtime import Runtime

api = ServiceApi("elbv2").include(
    load_balancers.api,
    target_groups.api,
    targets.api,
    listeners.api,
    rules.api,
    ssl_policies.api,
    tagging.api,
)


def controllers(runtime: Runtime) -> list[tuple[Controller[Any], AsyncIterator[Any] | None]]:
    from onebox.services.elbv2.controller import LoadBalancerController, changes

    return [(LoadBalancerController(runtime), changes(runtime))]
