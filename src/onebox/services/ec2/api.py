"""EC2's handler table, composed from one module per resource family."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from onebox.aws.dispatch import ServiceApi
from onebox.services.ec2 import (
    default_vpc,
    gateways,
    images,
    instance_types,
    instances,
    key_pairs,
    launch_templates,
    network_acls,
    network_interfaces,
    regions,
    route_tables,
    security_groups,
    subnets,
    tags,
    vpcs,
)

if TYPE_CHECKING:
    from onebox.controllers import Controller
    from onebox.runtime import Runtime

api = ServiceApi("ec2").include(regions.api, key_pairs.api)
api.include(vpcs.api, default_vpc.api, subnets.api, security_groups.api, route_tables.api)
api.include(gateways.api, network_acls.api, network_interfaces.api, tags.api)
api.include(instance_types.api, images.api, instances.api, launch_templates.api)


def controllers(runtime: Runtime) -> list[tuple[Controller[Any], AsyncIterator[Any] | None]]:
    """EC2's controllers: one line per resource family that runs something."""
    from onebox.services.ec2 import alarm_actions, vpc_controller

    alarm_actions.register()  # CloudWatch alarms can now stop, terminate, reboot and recover instances
    entries: list[tuple[Controller[Any], AsyncIterator[Any] | None]] = []
    entries += vpc_controller.controllers(runtime)
    from onebox.services.ec2 import instances_controller

    entries += instances_controller.controllers(runtime)
    return entries
