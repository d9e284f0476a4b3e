"""Instance drivers: how an instance's processes, root filesystem and limits are made real.

- `NamespaceDriver` (default when onebox runs as root on Linux): a network namespace (its interface
  into the subnet is attached by host/network.py), new mount/PID/UTS/IPC namespaces, an overlayfs root,
  cgroup limits from the instance type.
- `ProcessDriver` (non-root): the init runs as a plain process group with a loopback private address;
  no isolation, no limits, user data runs on the host's filesystem with the instance's directory as
  working directory.

Both write a BootConfig next to the instance's disk and hand the supervisor a ProcessSpec; the init
(host/instances/init.py) does the rest inside the instance. Everything here is idempotent, so the
instances controller can call it again after a crash or a daemon restart.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onebox.host.images import LayerStore
from onebox.host.instances import cgroups
from onebox.host.instances.boot import BootConfig
from onebox.host.supervisor import ProcessSpec

# The supervisor waits this long after SIGTERM; the init gives its processes 5 s of it.
STOP_TIMEOUT = 10.0
# Inside a namespace instance the IMDS listens here (outside Linux's ephemeral range 32768-60999).
IMDS_PORT = 65080


@dataclass
class LaunchPlan:
    """What the controller knows about an instance, in host terms."""

    instance_id: str
    hostname: str
    layers: list[str]  # image layers, top first
    user_data: bytes
    public_keys: list[str]
    metadata: dict[str, Any]
    vcpus: int
    memory_mib: int
    private_ip: str


def process_name(instance_id: str) -> str:
    return f"instance-{instance_id}"


class InstanceDriver:
    name = "base"

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.root = state_dir / "instances"
        self.layers = LayerStore(state_dir)

    def instance_dir(self, instance_id: str) -> Path:
        return self.root / instance_id

    def console_output(self, instance_id: str, limit: int = 64 * 1024) -> bytes:
        """The last `limit` bytes of the console (EC2 keeps the most recent 64 KB)."""
        path = self.instance_dir(instance_id) / "console.log"
        try:
            with open(path, "rb") as handle:
                size = handle.seek(0, os.SEEK_END)
                handle.seek(max(0, size - limit))
                return handle.read()
        except FileNotFoundError:
            return b""

    def booted(self, instance_id: str) -> bool:
        return (self.instance_dir(instance_id) / "booted").exists()

    def prepare(self, plan: LaunchPlan) -> ProcessSpec:
        """Everything the instance needs on the host before its init starts; the spec that starts it."""
        raise NotImplementedError

    def process_spec(self, instance_id: str) -> ProcessSpec:
        raise NotImplementedError

    def usage(self, instance_id: str) -> dict[str, Any]:
        return {}

    def stopped(self, instance_id: str) -> None:
        """After the supervisor stopped the init: forget the boot, make sure nothing is left running."""
        (self.instance_dir(instance_id) / "booted").unlink(missing_ok=True)

    def release_host(self, instance_id: str) -> None:
        """Host resources of a stopped instance, other than its disk, go back (nothing by default)."""

    def destroy(self, instance_id: str) -> None:
        """Terminate: delete the instance's disk (writable layer) and everything it held on the host."""
        self.stopped(instance_id)
        directory = self.instance_dir(instance_id)
        if directory.exists():
            shutil.rmtree(directory, ignore_errors=True)

    def freeze_layer(self, instance_id: str, layer_id: str, pause: bool) -> None:
        self.layers.freeze(self.instance_dir(instance_id) / "upper", layer_id)

    def _boot_config(self, plan: LaunchPlan, **extra: Any) -> Path:
        directory = self.instance_dir(plan.instance_id)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "booted").unlink(missing_ok=True)
        config = BootConfig(
            instance_id=plan.instance_id,
            driver=self.name,
            instance_dir=str(directory),
            hostname=plan.hostname,
            lower_dirs=[str(p) for p in self.layers.lower_dirs(plan.layers)],
            user_data_b64=base64.b64encode(plan.user_data).decode(),
            public_keys=plan.public_keys,
            metadata=plan.metadata,
            **extra,
        )
        path = directory / "boot.json"
        config.write(path)
        return path


class NamespaceDriver(InstanceDriver):
    name = "namespace"

    @staticmethod
    def netns(instance_id: str) -> str:
        return f"onebox-{instance_id}"

    def ensure_netns(self, instance_id: str) -> str:
        name = self.netns(instance_id)
        if not Path("/run/netns", name).exists():
            subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
        return name

    def prepare(self, plan: LaunchPlan) -> ProcessSpec:
        netns = self.ensure_netns(plan.instance_id)
        cgroups.create(plan.instance_id, plan.vcpus, plan.memory_mib)
        hide = [str(self.state_dir.resolve())]
        self._boot_config(plan, netns=netns, cgroup=plan.instance_id, hide=hide, imds_port=IMDS_PORT)
        return self.process_spec(plan.instance_id)

    def process_spec(self, instance_id: str) -> ProcessSpec:
        config = self.instance_dir(instance_id) / "boot.json"
        return ProcessSpec(
            process_name(instance_id),
            [sys.executable, "-m", "onebox.host.instances.launch", str(config)],
            stop_timeout=STOP_TIMEOUT,
        )

    def stopped(self, instance_id: str) -> None:
        super().stopped(instance_id)
        cgroups.kill_all(instance_id)

    def release_host(self, instance_id: str) -> None:
        """Give back the host resources of an instance whose init is stopped (cgroups, network
        namespace and with it its veth), keeping its disk: `onebox down`, and terminate."""
        cgroups.remove(instance_id)
        name = self.netns(instance_id)
        if Path("/run/netns", name).exists():
            subprocess.run(["ip", "netns", "delete", name], check=False, capture_output=True)

    def destroy(self, instance_id: str) -> None:
        self.release_host(instance_id)
        super().destroy(instance_id)

    def freeze_layer(self, instance_id: str, layer_id: str, pause: bool) -> None:
        """Copy the writable layer; with `pause` the instance's processes are frozen meanwhile, so the
        copy is consistent without the reboot EC2 does."""
        if pause and cgroups.exists(instance_id):
            os.sync()
            cgroups.freeze(instance_id, True)
            try:
                super().freeze_layer(instance_id, layer_id, pause)
            finally:
                cgroups.freeze(instance_id, False)
        else:
            super().freeze_layer(instance_id, layer_id, pause)

    def usage(self, instance_id: str) -> dict[str, Any]:
        """Raw counters for metrics: CPU ns, disk bytes, network bytes/packets from the netns."""
        counters: dict[str, Any] = {"cpu_ns": cgroups.cpu_usage_ns(instance_id)}
        disk = cgroups.disk_bytes(instance_id)
        if disk is not None:
            counters["disk_read"], counters["disk_write"] = disk
        # /proc/<pid>/net/dev shows the network namespace of that process: any process of the instance.
        members = sorted(cgroups.pids(instance_id))
        text = ""
        for pid in members:
            try:
                text = Path(f"/proc/{pid}/net/dev").read_text()
                break
            except OSError:
                continue
        if text:
            rx = tx = rxp = txp = 0
            for line in text.splitlines()[2:]:
                device, _, numbers = line.partition(":")
                if device.strip() == "lo":
                    continue
                fields = numbers.split()
                if len(fields) >= 10:
                    rx += int(fields[0])
                    rxp += int(fields[1])
                    tx += int(fields[8])
                    txp += int(fields[9])
            counters.update(net_in=rx, net_out=tx, packets_in=rxp, packets_out=txp)
        return counters


class ProcessDriver(InstanceDriver):
    name = "process"

    def prepare(self, plan: LaunchPlan) -> ProcessSpec:
        imds_port = 80 if os.geteuid() == 0 else 8773
        self._boot_config(plan, imds_address=plan.private_ip, imds_port=imds_port)
        return self.process_spec(plan.instance_id)

    def process_spec(self, instance_id: str) -> ProcessSpec:
        config = self.instance_dir(instance_id) / "boot.json"
        return ProcessSpec(
            process_name(instance_id),
            [sys.executable, "-m", "onebox.host.instances.init", str(config)],
            cwd=self.instance_dir(instance_id),
            stop_timeout=STOP_TIMEOUT,
        )


def default_driver_name() -> str:
    """namespace where onebox runs as root on Linux, else process; ONEBOX_INSTANCE_DRIVER overrides."""
    chosen = os.environ.get("ONEBOX_INSTANCE_DRIVER")
    if chosen in ("namespace", "process"):
        return chosen
    return "namespace" if sys.platform == "linux" and os.geteuid() == 0 else "process"


def make_driver(state_dir: Path, name: str | None = None) -> InstanceDriver:
    chosen = name or default_driver_name()
    return NamespaceDriver(state_dir) if chosen == "namespace" else ProcessDriver(state_dir)


def release_all(state_dir: Path) -> list[str]:
    """Give back the host resources (cgroups, network namespaces) of every instance of `state_dir`
    whose init no longer runs, keeping disks. For `onebox down`, whether or not the daemon (or its
    instances controller) got to do it. Returns the instance ids released."""
    root = state_dir / "instances"
    if not root.is_dir():
        return []
    driver = NamespaceDriver(state_dir)
    released = []
    for directory in sorted(root.iterdir()):
        instance_id = directory.name
        if not instance_id.startswith("i-"):
            continue
        has_netns = Path("/run/netns", driver.netns(instance_id)).exists()
        if not has_netns and not cgroups.exists(instance_id):
            continue
        driver.stopped(instance_id)
        driver.release_host(instance_id)
        released.append(instance_id)
    return released
