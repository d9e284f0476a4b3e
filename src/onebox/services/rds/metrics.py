"""AWS/RDS metrics from the real server, published through CloudWatch's ingest when it is present."""

from __future__ import annotations

import importlib
import logging
from typing import Any

from onebox.host.engines import volume
from onebox.host.engines.base import Layout, tree_size
from onebox.host.engines.usage import group_usage
from onebox.runtime import Runtime
from onebox.services.rds import catalog
from onebox.store import Record

log = logging.getLogger(__name__)

# Previous reading per instance, for rates: resource id -> (time, usage).
_previous: dict[str, tuple[float, Any]] = {}


def _ingest() -> Any:
    try:
        return importlib.import_module("onebox.services.cloudwatch.ingest")
    except ImportError:
        return None


async def collect(runtime: Runtime, record: Record, driver: Any, layout: Layout) -> list[dict[str, Any]]:
    from onebox.services.rds.controller import process_name

    spec = record.spec
    now = runtime.clock.time()
    dimensions = [{"Name": "DBInstanceIdentifier", "Value": record.id}]
    data: list[dict[str, Any]] = []

    def point(name: str, value: float, unit: str) -> None:
        data.append(
            {
                "MetricName": name,
                "Dimensions": dimensions,
                "Timestamp": runtime.clock.now(),
                "Value": value,
                "Unit": unit,
            }
        )

    if volume.mounted(layout.volume):  # the instance's own filesystem of AllocatedStorage GiB
        free = volume.space(layout.volume).free
    else:  # no quota (unprivileged daemon): what is left of the allocation
        free = max(spec["AllocatedStorage"] * volume.GIB - tree_size(layout.data), 0)
    point("FreeStorageSpace", float(free), "Bytes")
    try:
        point(
            "DatabaseConnections",
            float(await driver.connections(layout, spec["Port"], spec["MasterUsername"])),
            "Count",
        )
    except Exception as exc:
        log.debug("rds: connections of %s unavailable: %s", record.id, exc)
    child = runtime.supervisor.get(process_name(spec["DbiResourceId"])) if runtime.supervisor else None
    if child is not None and child.pid is not None:
        usage = group_usage(child.pid)
        memory = catalog.INSTANCE_CLASSES.get(spec["DBInstanceClass"], (2, 1))[1] * 1024**3
        point("FreeableMemory", float(max(memory - usage.rss_bytes, 0)), "Bytes")
        previous = _previous.get(spec["DbiResourceId"])
        _previous[spec["DbiResourceId"]] = (now, usage)
        if previous is not None and now > previous[0]:
            elapsed = now - previous[0]
            vcpus = catalog.INSTANCE_CLASSES.get(spec["DBInstanceClass"], (2, 1))[0]
            cpu = 100.0 * (usage.cpu_seconds - previous[1].cpu_seconds) / elapsed / vcpus
            point("CPUUtilization", max(min(cpu, 100.0), 0.0), "Percent")
            point("ReadIOPS", max(usage.read_ops - previous[1].read_ops, 0) / elapsed, "Count/Second")
            point("WriteIOPS", max(usage.write_ops - previous[1].write_ops, 0) / elapsed, "Count/Second")
    return data


async def publish(runtime: Runtime, record: Record, driver: Any, layout: Layout) -> None:
    ingest = _ingest()
    if ingest is None:
        return  # CloudWatch is not served by this build yet
    try:
        data = await collect(runtime, record, driver, layout)
        result = ingest.put_metric_data(runtime, record.account, record.region, "AWS/RDS", data)
        if hasattr(result, "__await__"):
            await result
    except Exception as exc:
        log.warning("rds: publishing metrics of %s failed: %s", record.id, exc)
