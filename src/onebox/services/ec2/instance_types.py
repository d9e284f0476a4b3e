"""EC2 instance types: the seed's families with AWS's sizes, vCPUs, memory and us-east-1 prices.

Prices are Linux on-demand USD per hour in us-east-1 (AWS price list). Within a family each size
doubles the one below it in vCPUs, memory and price (c5.2xlarge = 2 x c5.xlarge), as in AWS.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.store.filters import Filters

api = ServiceApi("ec2")


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpus: int
    memory_mib: int
    price: float  # USD per hour, us-east-1, Linux on-demand
    hypervisor: str = "nitro"
    burstable: bool = False
    storage_gb: int = 0  # instance store (NVMe SSD); 0 = EBS only
    gpus: int = 0
    gpu: tuple[str, str, int] | None = None  # manufacturer, name, memory MiB per GPU
    network: str = "Up to 10 Gigabit"
    clock_ghz: float = 3.1

    @property
    def family(self) -> str:
        return self.name.split(".")[0]

    @property
    def size(self) -> str:
        return self.name.split(".")[1]

    @property
    def bare_metal(self) -> bool:
        return self.size == "metal"

    @property
    def free_tier(self) -> bool:
        return self.name in ("t3.micro",)

    @property
    def cores(self) -> int:
        return max(1, self.vcpus // 2)


def _family(family: str, sizes: list[tuple[str, int, float, float]], **extra: Any) -> list[InstanceType]:
    """(size, vCPUs, memory GiB, price) rows -> InstanceType values."""
    return [
        InstanceType(f"{family}.{size}", vcpus, int(memory_gib * 1024), price, **extra)
        for size, vcpus, memory_gib, price in sizes
    ]


def _net(vcpus: int, low: str = "Up to 10 Gigabit") -> str:
    if vcpus >= 96:
        return "25 Gigabit"
    if vcpus >= 48:
        return "12 Gigabit" if vcpus < 64 else "20 Gigabit"
    return low


_TYPES: list[InstanceType] = [
    *_family(
        "t3",
        [
            ("nano", 2, 0.5, 0.0052),
            ("micro", 2, 1, 0.0104),
            ("small", 2, 2, 0.0208),
            ("medium", 2, 4, 0.0416),
            ("large", 2, 8, 0.0832),
            ("xlarge", 4, 16, 0.1664),
            ("2xlarge", 8, 32, 0.3328),
        ],
        burstable=True,
        network="Up to 5 Gigabit",
        clock_ghz=2.5,
    ),
    *_family(
        "m5",
        [
            ("large", 2, 8, 0.096),
            ("xlarge", 4, 16, 0.192),
            ("2xlarge", 8, 32, 0.384),
            ("4xlarge", 16, 64, 0.768),
            ("8xlarge", 32, 128, 1.536),
            ("12xlarge", 48, 192, 2.304),
            ("16xlarge", 64, 256, 3.072),
            ("24xlarge", 96, 384, 4.608),
            ("metal", 96, 384, 4.608),
        ],
    ),
    *_family(
        "m6i",
        [
            ("large", 2, 8, 0.096),
            ("xlarge", 4, 16, 0.192),
            ("2xlarge", 8, 32, 0.384),
            ("4xlarge", 16, 64, 0.768),
            ("8xlarge", 32, 128, 1.536),
            ("12xlarge", 48, 192, 2.304),
            ("16xlarge", 64, 256, 3.072),
            ("24xlarge", 96, 384, 4.608),
            ("32xlarge", 128, 512, 6.144),
            ("metal", 128, 512, 6.144),
        ],
        network="Up to 12.5 Gigabit",
        clock_ghz=3.5,
    ),
    *_family(
        "c5",
        [
            ("large", 2, 4, 0.085),
            ("xlarge", 4, 8, 0.17),
            ("2xlarge", 8, 16, 0.34),
            ("4xlarge", 16, 32, 0.68),
            ("9xlarge", 36, 72, 1.53),
            ("12xlarge", 48, 96, 2.04),
            ("18xlarge", 72, 144, 3.06),
            ("24xlarge", 96, 192, 4.08),
            ("metal", 96, 192, 4.08),
        ],
        clock_ghz=3.6,
    ),
    *_family(
        "c6i",
        [
            ("large", 2, 4, 0.085),
            ("xlarge", 4, 8, 0.17),
            ("2xlarge", 8, 16, 0.34),
            ("4xlarge", 16, 32, 0.68),
            ("8xlarge", 32, 64, 1.36),
            ("12xlarge", 48, 96, 2.04),
            ("16xlarge", 64, 128, 2.72),
            ("24xlarge", 96, 192, 4.08),
            ("32xlarge", 128, 256, 5.44),
            ("metal", 128, 256, 5.44),
        ],
        network="Up to 12.5 Gigabit",
        clock_ghz=3.5,
    ),
    *_family(
        "r5",
        [
            ("large", 2, 16, 0.126),
            ("xlarge", 4, 32, 0.252),
            ("2xlarge", 8, 64, 0.504),
            ("4xlarge", 16, 128, 1.008),
            ("8xlarge", 32, 256, 2.016),
            ("12xlarge", 48, 384, 3.024),
            ("16xlarge", 64, 512, 4.032),
            ("24xlarge", 96, 768, 6.048),
            ("metal", 96, 768, 6.048),
        ],
    ),
]
_TYPES += [
    InstanceType(f"i3.{size}", vcpus, int(gib * 1024), price, "xen", storage_gb=storage, clock_ghz=2.3)
    for size, vcpus, gib, price, storage in [
        ("large", 2, 15.25, 0.156, 475),
        ("xlarge", 4, 30.5, 0.312, 950),
        ("2xlarge", 8, 61, 0.624, 1900),
        ("4xlarge", 16, 122, 1.248, 3800),
        ("8xlarge", 32, 244, 2.496, 7600),
        ("16xlarge", 64, 488, 4.992, 15200),
        ("metal", 72, 512, 4.992, 15200),
    ]
]
_TYPES += [
    InstanceType(
        f"g4dn.{size}",
        vcpus,
        gib * 1024,
        price,
        storage_gb=storage,
        gpus=gpus,
        gpu=("NVIDIA", "T4", 16384),
        network="Up to 25 Gigabit" if vcpus < 48 else ("50 Gigabit" if vcpus < 96 else "100 Gigabit"),
        clock_ghz=2.5,
    )
    for size, vcpus, gib, price, storage, gpus in [
        ("xlarge", 4, 16, 0.526, 125, 1),
        ("2xlarge", 8, 32, 0.752, 225, 1),
        ("4xlarge", 16, 64, 1.204, 225, 1),
        ("8xlarge", 32, 128, 2.176, 900, 1),
        ("12xlarge", 48, 192, 3.912, 900, 4),
        ("16xlarge", 64, 256, 4.352, 900, 1),
        ("metal", 96, 384, 7.824, 1800, 8),
    ]
]
_TYPES += [
    InstanceType(
        f"p3.{size}",
        vcpus,
        gib * 1024,
        price,
        "xen",
        gpus=gpus,
        gpu=("NVIDIA", "V100", 16384),
        network=network,
        clock_ghz=2.7,
    )
    for size, vcpus, gib, price, gpus, network in [
        ("2xlarge", 8, 61, 3.06, 1, "Up to 10 Gigabit"),
        ("8xlarge", 32, 244, 12.24, 4, "10 Gigabit"),
        ("16xlarge", 64, 488, 24.48, 8, "25 Gigabit"),
    ]
]
# The largest m5/c5/r5 sizes have fixed bandwidth instead of "Up to 10 Gigabit".
_TYPES = [replace(t, network=_net(t.vcpus)) if t.family in ("m5", "r5", "c5") else t for t in _TYPES]

INSTANCE_TYPES: dict[str, InstanceType] = {t.name: t for t in _TYPES}

FILTERS = (
    "instance-type",
    "current-generation",
    "free-tier-eligible",
    "bare-metal",
    "burstable-performance-supported",
    "hypervisor",
    "instance-storage-supported",
    "instance-storage-info.total-size-in-gb",
    "memory-info.size-in-mib",
    "vcpu-info.default-vcpus",
    "vcpu-info.default-cores",
    "processor-info.supported-architecture",
    "processor-info.sustained-clock-speed-in-ghz",
    "supported-usage-class",
    "supported-root-device-type",
    "supported-virtualization-type",
    "network-info.network-performance",
    "gpu-info.total-gpu-memory-in-mib",
)


def get_type(name: str) -> InstanceType:
    """The instance type, or EC2's error for a name it does not offer."""
    found = INSTANCE_TYPES.get(name)
    if found is None:
        raise AwsError("InvalidParameterValue", f"Invalid value '{name}' for InstanceType.")
    return found


def _filter_view(t: InstanceType) -> dict[str, Any]:
    return {
        "instance-type": t.name,
        "current-generation": "true",
        "free-tier-eligible": str(t.free_tier).lower(),
        "bare-metal": str(t.bare_metal).lower(),
        "burstable-performance-supported": str(t.burstable).lower(),
        "hypervisor": "" if t.bare_metal else t.hypervisor,
        "instance-storage-supported": str(bool(t.storage_gb)).lower(),
        "instance-storage-info.total-size-in-gb": str(t.storage_gb) if t.storage_gb else "",
        "memory-info.size-in-mib": str(t.memory_mib),
        "vcpu-info.default-vcpus": str(t.vcpus),
        "vcpu-info.default-cores": str(t.cores),
        "processor-info.supported-architecture": "x86_64",
        "processor-info.sustained-clock-speed-in-ghz": str(t.clock_ghz),
        "supported-usage-class": ["on-demand", "spot"],
        "supported-root-device-type": ["ebs", "instance-store"] if t.storage_gb else ["ebs"],
        "supported-virtualization-type": "hvm",
        "network-info.network-performance": t.network,
        "gpu-info.total-gpu-memory-in-mib": str(t.gpus * t.gpu[2]) if t.gpu else "",
    }


def instance_type_view(t: InstanceType) -> dict[str, Any]:
    view: dict[str, Any] = {
        "InstanceType": t.name,
        "CurrentGeneration": True,
        "FreeTierEligible": t.free_tier,
        "SupportedUsageClasses": ["on-demand", "spot"],
        "SupportedRootDeviceTypes": ["ebs", "instance-store"] if t.storage_gb else ["ebs"],
        "SupportedVirtualizationTypes": ["hvm"],
        "BareMetal": t.bare_metal,
        "ProcessorInfo": {
            "SupportedArchitectures": ["x86_64"],
            "SustainedClockSpeedInGhz": t.clock_ghz,
            "Manufacturer": "Intel",
        },
        "VCpuInfo": {
            "DefaultVCpus": t.vcpus,
            "DefaultCores": t.cores,
            "DefaultThreadsPerCore": 2 if t.vcpus > 1 else 1,
        },
        "MemoryInfo": {"SizeInMiB": t.memory_mib},
        "InstanceStorageSupported": bool(t.storage_gb),
        "EbsInfo": {
            "EbsOptimizedSupport": "default",
            "EncryptionSupport": "supported",
            "NvmeSupport": "required" if t.hypervisor == "nitro" else "unsupported",
        },
        "NetworkInfo": {
            "NetworkPerformance": t.network,
            "MaximumNetworkInterfaces": min(15, max(3, t.vcpus // 2 + 1)),
            "Ipv4AddressesPerInterface": min(50, max(6, t.vcpus * 3 // 2)),
            "Ipv6AddressesPerInterface": min(50, max(6, t.vcpus * 3 // 2)),
            "Ipv6Supported": True,
            "EnaSupport": "required" if t.hypervisor == "nitro" else "supported",
        },
        "PlacementGroupInfo": {"SupportedStrategies": ["cluster", "partition", "spread"]},
        "HibernationSupported": not t.bare_metal and not t.gpus,
        "BurstablePerformanceSupported": t.burstable,
        "DedicatedHostsSupported": not t.burstable,
        "AutoRecoverySupported": not t.storage_gb,
        "SupportedBootModes": ["legacy-bios", "uefi"],
    }
    if not t.bare_metal:
        view["Hypervisor"] = t.hypervisor
    if t.storage_gb:
        disks = 1 if t.storage_gb < 1900 else t.storage_gb // 1900
        view["InstanceStorageInfo"] = {
            "TotalSizeInGB": t.storage_gb,
            "Disks": [{"SizeInGB": t.storage_gb // disks, "Count": disks, "Type": "ssd"}],
            "NvmeSupport": "required",
        }
    if t.gpu:
        manufacturer, name, memory = t.gpu
        view["GpuInfo"] = {
            "Gpus": [
                {
                    "Name": name,
                    "Manufacturer": manufacturer,
                    "Count": t.gpus,
                    "MemoryInfo": {"SizeInMiB": memory},
                }
            ],
            "TotalGpuMemoryInMiB": t.gpus * memory,
        }
    return view


@api.operation("DescribeInstanceTypes")
def describe_instance_types(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    filters = Filters.parse(params.get("Filters"), FILTERS, allow_tags=False)
    max_results = params.get("MaxResults")
    if max_results is not None and not 5 <= max_results <= 100:
        raise AwsError("InvalidParameterValue", "MaxResults must be between 5 and 100")
    names = params.get("InstanceTypes") or []
    missing = [name for name in names if name not in INSTANCE_TYPES]
    if missing:
        raise AwsError(
            "InvalidInstanceType",
            f"The following supplied instance types do not exist: [{', '.join(missing)}]",
        )
    chosen = [INSTANCE_TYPES[n] for n in dict.fromkeys(names)] if names else list(INSTANCE_TYPES.values())
    chosen = filters.select(chosen, _filter_view, lambda _t: {})
    page, token = ctx.runtime.store.paginator.paginate(
        chosen, max_results or 100, params.get("NextToken"), key=lambda t: t.name, scope="instance-types"
    )
    result: dict[str, Any] = {"InstanceTypes": [instance_type_view(t) for t in page]}
    if token:
        result["NextToken"] = token
    return result


@api.operation("DescribeInstanceTypeOfferings")
def describe_instance_type_offerings(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    location_type = params.get("LocationType") or "region"
    filters = Filters.parse(params.get("Filters"), ("instance-type", "location"), allow_tags=False)
    if location_type == "region":
        locations = [ctx.region]
    else:
        locations = [f"{ctx.region}{zone}" for zone in "abc"]
    offerings = [
        {"InstanceType": t.name, "LocationType": location_type, "Location": location}
        for t in INSTANCE_TYPES.values()
        for location in locations
        if filters.matches({"instance-type": t.name, "location": location})
    ]
    return {"InstanceTypeOfferings": offerings}
