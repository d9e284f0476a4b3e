"""CloudWatch Logs' handler table, its retention sweeper and the instance log agent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from onebox.aws.dispatch import ServiceApi
from onebox.controllers import Controller
from onebox.runtime import Runtime
from onebox.services.logs import groups, ingest, metric_filters, reading, streams
from onebox.services.logs.agent import LogAgent
from onebox.services.logs.retention import RetentionSweeper

api = ServiceApi("logs").include(groups.api, streams.api, ingest.api, reading.api, metric_filters.api)


def controllers(runtime: Runtime) -> list[tuple[Controller[Any], AsyncIterator[Any] | None]]:
    return [(RetentionSweeper(runtime), None), (LogAgent(runtime), None)]
