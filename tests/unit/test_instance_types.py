"""Instance type data (sizes double within a family) and the CPU quota rule."""

from __future__ import annotations

import pytest

from onebox.host.instances.cgroups import PERIOD_US, cpu_quota_us
from onebox.services.ec2.instance_types import INSTANCE_TYPES

SIZES = ["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge"]


@pytest.mark.parametrize("family", ["m5", "m6i", "c6i", "r5", "i3"])
def test_each_size_doubles_the_one_below(family: str) -> None:
    for small, big in zip(SIZES, SIZES[1:], strict=False):
        a, b = INSTANCE_TYPES[f"{family}.{small}"], INSTANCE_TYPES[f"{family}.{big}"]
        assert b.vcpus == 2 * a.vcpus
        assert b.memory_mib == 2 * a.memory_mib
        assert b.price == pytest.approx(2 * a.price)


def test_known_values() -> None:
    assert (INSTANCE_TYPES["t3.micro"].vcpus, INSTANCE_TYPES["t3.micro"].memory_mib) == (2, 1024)
    assert INSTANCE_TYPES["c5.xlarge"].price == 0.17
    assert INSTANCE_TYPES["c5.2xlarge"].price == 0.34
    assert INSTANCE_TYPES["m5.large"].price == 0.096
    assert INSTANCE_TYPES["p3.16xlarge"].gpus == 8


def test_cpu_quota_is_vcpus_capped_at_host_cpus() -> None:
    assert cpu_quota_us(2, host_cpus=8) == 2 * PERIOD_US
    assert cpu_quota_us(16, host_cpus=2) == 2 * PERIOD_US
    assert cpu_quota_us(1, host_cpus=2) == PERIOD_US
