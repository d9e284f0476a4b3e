"""AWS/EC2 metrics: cadence (60 s, 10 s with detailed monitoring, driven by the clock) and values
computed from the driver's counters."""

from __future__ import annotations

import asyncio
from typing import Any

from onebox.clock import ManualClock
from onebox.services.ec2.instance_metrics import InstanceMetrics
from onebox.services.ec2.instances import INSTANCE
from onebox.store import Store


class FakeDriver:
    def __init__(self) -> None:
        self.counters: dict[str, Any] = {
            "cpu_ns": 0,
            "net_in": 0,
            "net_out": 0,
            "packets_in": 0,
            "packets_out": 0,
        }

    def usage(self, instance_id: str) -> dict[str, Any]:
        return dict(self.counters)

    def booted(self, instance_id: str) -> bool:
        return True


class FakeInstances:
    def __init__(self, driver: FakeDriver) -> None:
        self._driver = driver

    def driver(self, name: str | None) -> FakeDriver:
        return self._driver


class FakeRuntime:
    def __init__(self, clock: ManualClock, store: Store) -> None:
        self.clock = clock
        self.store = store


def _metrics(monitoring: bool) -> tuple[InstanceMetrics, FakeDriver, ManualClock, list[list[dict[str, Any]]]]:
    clock = ManualClock()
    store = Store.memory(clock)
    store.create(
        INSTANCE,
        "000000000000",
        "us-east-1",
        "i-0123456789abcdef0",
        arn="arn",
        spec={"InstanceType": "t3.micro", "Monitoring": monitoring, "Driver": "namespace"},
        status={"State": "running"},
    )
    driver = FakeDriver()
    metrics = InstanceMetrics(FakeRuntime(clock, store), FakeInstances(driver))  # type: ignore[arg-type]
    published: list[list[dict[str, Any]]] = []
    metrics.publish = lambda account, region, data: published.append(data)  # type: ignore[method-assign]
    return metrics, driver, clock, published


def test_basic_monitoring_publishes_every_60_seconds() -> None:
    metrics, driver, clock, published = _metrics(monitoring=False)
    key = ("000000000000", "us-east-1", "i-0123456789abcdef0")
    asyncio.run(metrics.reconcile(key))  # baseline
    assert published == []
    clock._now += 30
    asyncio.run(metrics.reconcile(key))
    assert published == []
    driver.counters.update(net_in=5000, packets_in=7)
    clock._now += 30
    asyncio.run(metrics.reconcile(key))
    names = {d["MetricName"]: d for d in published[0]}
    assert set(names) >= {
        "CPUUtilization",
        "NetworkIn",
        "NetworkOut",
        "NetworkPacketsIn",
        "StatusCheckFailed",
    }
    assert names["NetworkIn"]["Value"] == 5000.0 and names["NetworkIn"]["Unit"] == "Bytes"
    assert names["StatusCheckFailed"]["Value"] == 0.0
    assert names["CPUUtilization"]["Dimensions"] == [{"Name": "InstanceId", "Value": "i-0123456789abcdef0"}]
    assert 0.0 <= names["CPUUtilization"]["Value"] <= 100.0


def test_detailed_monitoring_publishes_every_10_seconds() -> None:
    metrics, _, clock, published = _metrics(monitoring=True)
    key = ("000000000000", "us-east-1", "i-0123456789abcdef0")
    asyncio.run(metrics.reconcile(key))
    clock._now += 10
    asyncio.run(metrics.reconcile(key))
    assert len(published) == 1
