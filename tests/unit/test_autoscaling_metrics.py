"""Instances an Auto Scaling group launched publish their AWS/EC2 metrics a second time under the
AutoScalingGroupName dimension (CloudWatch then aggregates them across the group, as AWS does)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from onebox.clock import ManualClock
from onebox.services.ec2.instance_metrics import InstanceMetrics
from onebox.services.ec2.instances import INSTANCE
from onebox.store import Store


class Driver:
    def __init__(self) -> None:
        self.cpu_ns = 0

    def usage(self, instance_id: str) -> dict[str, Any]:
        return {"cpu_ns": self.cpu_ns, "net_in": 0, "net_out": 0}

    def booted(self, instance_id: str) -> bool:
        return True


def test_group_instances_publish_under_the_group_dimension() -> None:
    clock = ManualClock()
    store = Store.memory(clock)
    for instance_id, tags in (
        ("i-0000000000000000a", {"aws:autoscaling:groupName": "web"}),
        ("i-0000000000000000b", {}),
    ):
        store.create(
            INSTANCE,
            "000000000000",
            "us-east-1",
            instance_id,
            arn="arn",
            spec={"InstanceType": "t3.micro", "Monitoring": True, "Driver": "namespace"},
            status={"State": "running"},
            tags=tags,
        )
    driver = Driver()
    metrics = InstanceMetrics(
        SimpleNamespace(clock=clock, store=store), SimpleNamespace(driver=lambda name: driver)
    )  # type: ignore[arg-type]
    published: list[list[dict[str, Any]]] = []
    metrics.publish = lambda account, region, data: published.append(data)  # type: ignore[method-assign]
    for instance_id in ("i-0000000000000000a", "i-0000000000000000b"):
        asyncio.run(metrics.reconcile(("000000000000", "us-east-1", instance_id)))
    clock.advance(10)
    driver.cpu_ns = 10**9
    for instance_id in ("i-0000000000000000a", "i-0000000000000000b"):
        asyncio.run(metrics.reconcile(("000000000000", "us-east-1", instance_id)))
    grouped, plain = published
    by_dimension = {(d["MetricName"], d["Dimensions"][0]["Name"]) for d in grouped}
    assert ("CPUUtilization", "InstanceId") in by_dimension
    assert ("CPUUtilization", "AutoScalingGroupName") in by_dimension
    assert ("NetworkIn", "AutoScalingGroupName") in by_dimension
    cpu = [d for d in grouped if d["MetricName"] == "CPUUtilization"]
    assert cpu[0]["Value"] == cpu[1]["Value"]
    assert [
        d["Value"] for d in grouped if d["Dimensions"] == [{"Name": "AutoScalingGroupName", "Value": "web"}]
    ]
    assert all(d["Dimensions"][0]["Name"] == "InstanceId" for d in plain)
    # Detailed monitoring: the group's copies are high resolution (10 s datapoints for 10 s alarms).
    assert {
        d.get("StorageResolution") for d in grouped if d["Dimensions"][0]["Name"] == "AutoScalingGroupName"
    } == {1}
    assert all("StorageResolution" not in d for d in grouped if d["Dimensions"][0]["Name"] == "InstanceId")
