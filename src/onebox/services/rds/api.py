"""RDS's handler table and controllers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from onebox.aws.dispatch import ServiceApi
from onebox.services.rds import instances, misc, parameter_groups, snapshots

if TYPE_CHECKING:
    from onebox.controllers import Controller
    from onebox.runtime import Runtime

api = ServiceApi("rds").include(instances.api, snapshots.api, parameter_groups.api, misc.api)


def controllers(runtime: Runtime) -> list[tuple[Controller[Any], AsyncIterator[Any] | None]]:
    from onebox.services.rds.controller import (
        InstanceController,
        SnapshotController,
        instance_changes,
        snapshot_changes,
    )

    return [
        (InstanceController(runtime), instance_changes(runtime)),
        (SnapshotController(runtime), snapshot_changes(runtime)),
    ]
