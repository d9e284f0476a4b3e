"""What an instance's init needs to boot, written as JSON next to its disk by the driver."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class BootConfig:
    instance_id: str
    driver: str  # "namespace" or "process"
    instance_dir: str  # host path: upper/, work/, merged/, console.log, booted
    hostname: str
    lower_dirs: list[str]  # overlayfs lowers, top first (namespace driver)
    user_data_b64: str
    public_keys: list[str]
    metadata: dict[str, Any]  # the IMDS tree (host/imds.py: build_metadata)
    imds_address: str = "169.254.169.254"
    imds_port: int = 80  # where the IMDS listens (namespace driver: DNAT from :80, see init.py)
    hide: list[str] = field(default_factory=list)  # host paths covered by an empty tmpfs inside
    netns: str | None = None
    cgroup: str | None = None  # cgroup name the launcher joins before anything starts

    def write(self, path: Path) -> None:
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(asdict(self), indent=1))
        partial.chmod(0o600)
        partial.rename(path)

    @classmethod
    def read(cls, path: Path) -> BootConfig:
        return cls(**json.loads(path.read_text()))
