"""AWS/EC2 metrics for running instances, from their cgroups and network namespaces.

Every 60 s (10 s with detailed monitoring, `Monitoring.Enabled`), per instance: CPUUtilization,
NetworkIn/NetworkOut (bytes), NetworkPacketsIn/NetworkPacketsOut, DiskReadBytes/DiskWriteBytes where the
kernel accounts block I/O for the cgroup, and StatusCheckFailed (0 while the init runs, 1 otherwise).
Dimension: InstanceId; for instances an Auto Scaling group launched (tag `aws:autoscaling:groupName`)
the same datums again under AutoScalingGroupName, which CloudWatch aggregates across the group's
instances as AWS does (scaling policies alarm on them; 10 s high-resolution datapoints with detailed
monitoring). They go through
`cloudwatch.ingest.put_metric_data`, the path PutMetricData uses.

CPUUtilization is the share of the CPU time the instance may use: its cgroup's CPU time over the
interval divided by (interval x min(vCPUs, host CPUs)), the quota host/instances/cgroups.py sets. So
100 % means the instance uses all the CPU its type gives it on this host.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from onebox.controllers import Controller
from onebox.services.ec2.instance_types import INSTANCE_TYPES
from onebox.services.ec2.instances import INSTANCE

if TYPE_CHECKING:
    from onebox.runtime import Runtime
    from onebox.services.ec2.instances_controller import InstancesController

log = logging.getLogger(__name__)

Key = tuple[str, str, str]
AUTOSCALING_GROUP_TAG = "aws:autoscaling:groupName"


@dataclass
class _Sample:
    wall: float  # time.monotonic(): CPU counters are real time, whatever the clock says
    counters: dict[str, Any]
    published_at: float  # clock time of the last publication


class InstanceMetrics(Controller[Key]):
    name = "ec2-instance-metrics"
    resync_interval = 10.0
    concurrency = 2

    def __init__(self, runtime: Runtime, instances: InstancesController) -> None:
        super().__init__(runtime.clock)
        self.runtime = runtime
        self.instances = instances
        self._last: dict[Key, _Sample] = {}

    async def list_keys(self) -> Iterable[Key]:
        keys = [
            (r.account, r.region, r.id)
            for r in self.runtime.store.list_all(INSTANCE)
            if r.status.get("State") == "running"
        ]
        for gone in set(self._last) - set(keys):
            del self._last[gone]
        return keys

    async def reconcile(self, key: Key) -> None:
        account, region, instance_id = key
        record = self.runtime.store.get(INSTANCE, account, region, instance_id)
        if record is None or record.status.get("State") != "running":
            return
        period = 10.0 if record.spec.get("Monitoring") else 60.0
        now = self.clock.time()
        previous = self._last.get(key)
        # A second's slack: the resync runs every 10 s, and a pass a hair early must not skip a period.
        if previous is not None and now - previous.published_at < period - 1.0:
            return
        driver = self.instances.driver(record.spec.get("Driver"))
        counters = await asyncio.to_thread(driver.usage, instance_id)
        wall = time.monotonic()
        self._last[key] = _Sample(wall, counters, now)
        if previous is None:
            return  # the first sample only sets the baseline
        data = self._datums(record, previous, counters, wall - previous.wall, driver.booted(instance_id))
        if data:
            self.publish(account, region, data)

    def _datums(
        self, record: Any, previous: _Sample, counters: dict[str, Any], elapsed: float, booted: bool
    ) -> list[dict[str, Any]]:
        dimensions = [{"Name": "InstanceId", "Value": record.id}]
        data: list[dict[str, Any]] = [
            {
                "MetricName": "StatusCheckFailed",
                "Dimensions": dimensions,
                "Value": 0.0 if booted else 1.0,
                "Unit": "Count",
            }
        ]
        before = previous.counters
        if counters.get("cpu_ns") is not None and before.get("cpu_ns") is not None and elapsed > 0:
            vcpus = INSTANCE_TYPES[record.spec["InstanceType"]].vcpus
            cpus = min(vcpus, os.cpu_count() or 1)
            used = (counters["cpu_ns"] - before["cpu_ns"]) / 1e9
            percent = max(0.0, min(100.0, used / (elapsed * cpus) * 100))
            data.append(
                {
                    "MetricName": "CPUUtilization",
                    "Dimensions": dimensions,
                    "Value": percent,
                    "Unit": "Percent",
                }
            )
        for field, metric, unit in (
            ("net_in", "NetworkIn", "Bytes"),
            ("net_out", "NetworkOut", "Bytes"),
            ("packets_in", "NetworkPacketsIn", "Count"),
            ("packets_out", "NetworkPacketsOut", "Count"),
            ("disk_read", "DiskReadBytes", "Bytes"),
            ("disk_write", "DiskWriteBytes", "Bytes"),
        ):
            if field in counters and field in before:
                delta = max(0, counters[field] - before[field])
                data.append(
                    {"MetricName": metric, "Dimensions": dimensions, "Value": float(delta), "Unit": unit}
                )
        group = record.tags.get(AUTOSCALING_GROUP_TAG)
        if group:
            by_group = [{"Name": "AutoScalingGroupName", "Value": group}]
            # With detailed monitoring the group's aggregate keeps its 10 s datapoints (high resolution),
            # so 10 s scaling alarms see every one; AWS's EC2 metrics stop at 1 minute.
            extra = {"StorageResolution": 1} if record.spec.get("Monitoring") else {}
            data += [{**datum, "Dimensions": by_group, **extra} for datum in data]
        return data

    def publish(self, account: str, region: str, data: list[dict[str, Any]]) -> None:
        try:
            from onebox.services.cloudwatch.ingest import put_metric_data
        except ImportError:  # no CloudWatch in this build
            return
        put_metric_data(self.runtime, account, region, "AWS/EC2", data)
