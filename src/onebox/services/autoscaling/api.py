"""EC2 Auto Scaling's handler table and controllers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from onebox.aws.dispatch import ServiceApi
from onebox.services.autoscaling import (
    group_instances,
    group_settings,
    groups,
    instance_refresh,
    launch_configurations,
    lifecycle_hooks,
    policies,
    scheduled_actions,
)

if TYPE_CHECKING:
    from onebox.controllers import Controller
    from onebox.runtime import Runtime

api = ServiceApi("autoscaling").include(groups.api, group_instances.api, group_settings.api)
api.include(launch_configurations.api, policies.api, scheduled_actions.api, lifecycle_hooks.api)
api.include(instance_refresh.api)


def controllers(runtime: Runtime) -> list[tuple[Controller[Any], AsyncIterator[Any] | None]]:
    from onebox.services.autoscaling.controller import GroupController, group_changes

    policies.register()  # CloudWatch alarms can now run scaling policies
    return [(GroupController(runtime), group_changes(runtime))]
