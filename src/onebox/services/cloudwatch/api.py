"""CloudWatch's handler table, composed from the metrics and alarms modules, and its controllers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from onebox.aws.dispatch import ServiceApi
from onebox.services.cloudwatch import alarms_api, metrics_api
from onebox.services.cloudwatch.alarm_model import ALARM_KIND
from onebox.services.cloudwatch.evaluator import alarm_changes, evaluator_for
from onebox.services.cloudwatch.maintenance import MetricsMaintenance

if TYPE_CHECKING:
    from onebox.controllers import Controller
    from onebox.runtime import Runtime

api = ServiceApi("cloudwatch").include(metrics_api.api, alarms_api.api)


def controllers(runtime: Runtime) -> list[tuple[Controller[Any], AsyncIterator[Any] | None]]:
    evaluator = evaluator_for(runtime)
    changes = runtime.store.changes.subscribe([ALARM_KIND])
    return [(evaluator, alarm_changes(changes, evaluator)), (MetricsMaintenance(runtime), None)]
