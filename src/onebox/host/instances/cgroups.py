"""Per-instance cgroups: the instance type's CPU quota and memory limit, and a kill switch for all of it.

CPU rule: an instance may use as many host CPUs as it has vCPUs, capped at the host's CPU count
(quota = min(vCPUs, host CPUs) x period). One vCPU is one host CPU's worth of time, so a t3.micro (2
vCPUs) on a 2-CPU host can use the whole host, and a c5.large can never use more than 2 CPUs'
time. Memory: the type's memory is the hard limit (memory.limit_in_bytes / memory.max).

Works on cgroup v1 (one hierarchy per controller: cpu, memory, pids, freezer) and on a unified v2
hierarchy. Groups live under `onebox/<instance-id>` in each hierarchy.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PERIOD_US = 100_000
V1_CONTROLLERS = ("cpu", "cpuacct", "memory", "pids", "freezer", "blkio")


def is_v2() -> bool:
    return (CGROUP_ROOT / "cgroup.controllers").exists()


def cpu_quota_us(vcpus: int, host_cpus: int | None = None) -> int:
    """The CFS quota per PERIOD_US for an instance with `vcpus` (see the module docstring)."""
    cpus = host_cpus or os.cpu_count() or 1
    return min(vcpus, cpus) * PERIOD_US


def _v1_dirs(name: str) -> list[Path]:
    return [CGROUP_ROOT / c / "onebox" / name for c in V1_CONTROLLERS if (CGROUP_ROOT / c).is_dir()]


def _v2_dir(name: str) -> Path:
    return CGROUP_ROOT / "onebox" / name


def paths(name: str) -> list[Path]:
    return [_v2_dir(name)] if is_v2() else _v1_dirs(name)


def create(name: str, vcpus: int, memory_mib: int) -> None:
    """Create the instance's groups with its limits (idempotent; limits are re-applied)."""
    quota = cpu_quota_us(vcpus)
    memory = memory_mib * 1024 * 1024
    if is_v2():
        parent = CGROUP_ROOT / "onebox"
        parent.mkdir(exist_ok=True)
        (CGROUP_ROOT / "cgroup.subtree_control").write_text("+cpu +memory +pids +io")
        (parent / "cgroup.subtree_control").write_text("+cpu +memory +pids +io")
        group = _v2_dir(name)
        group.mkdir(exist_ok=True)
        (group / "cpu.max").write_text(f"{quota} {PERIOD_US}")
        (group / "memory.max").write_text(str(memory))
        return
    for group in _v1_dirs(name):
        group.mkdir(parents=True, exist_ok=True)
    cpu = CGROUP_ROOT / "cpu" / "onebox" / name
    (cpu / "cpu.cfs_period_us").write_text(str(PERIOD_US))
    (cpu / "cpu.cfs_quota_us").write_text(str(quota))
    (CGROUP_ROOT / "memory" / "onebox" / name / "memory.limit_in_bytes").write_text(str(memory))


def join(name: str, pid: int) -> None:
    """Move `pid` into every group of the instance (its children follow)."""
    for group in paths(name):
        (group / "cgroup.procs").write_text(str(pid))


def pids(name: str) -> set[int]:
    found: set[int] = set()
    for group in paths(name):
        try:
            found.update(int(line) for line in (group / "cgroup.procs").read_text().split())
        except FileNotFoundError:
            pass
    return found


def kill_all(name: str, timeout: float = 5.0) -> None:
    """SIGKILL everything left in the instance's groups and wait for them to go."""
    deadline = time.monotonic() + timeout
    while True:
        left = pids(name)
        if not left:
            return
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if time.monotonic() > deadline:
            return
        time.sleep(0.02)


def remove(name: str) -> None:
    """Kill what is left and delete the groups."""
    kill_all(name)
    for group in paths(name):
        for _ in range(50):
            try:
                group.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:  # EBUSY while the last exited tasks are being released
                time.sleep(0.02)


def exists(name: str) -> bool:
    return any(group.is_dir() for group in paths(name))


def freeze(name: str, frozen: bool) -> None:
    """Pause (or resume) every process of the instance, for a consistent CreateImage without reboot."""
    if is_v2():
        target = _v2_dir(name) / "cgroup.freeze"
        if target.exists():
            target.write_text("1" if frozen else "0")
        return
    target = CGROUP_ROOT / "freezer" / "onebox" / name / "freezer.state"
    if target.exists():
        target.write_text("FROZEN" if frozen else "THAWED")
        wanted = "FROZEN" if frozen else "THAWED"
        for _ in range(250):
            if target.read_text().strip() == wanted:
                return
            time.sleep(0.02)


def cpu_usage_ns(name: str) -> int | None:
    """Total CPU time the instance has used, in nanoseconds."""
    try:
        if is_v2():
            for line in (_v2_dir(name) / "cpu.stat").read_text().splitlines():
                key, value = line.split()
                if key == "usage_usec":
                    return int(value) * 1000
            return None
        return int((CGROUP_ROOT / "cpuacct" / "onebox" / name / "cpuacct.usage").read_text())
    except (FileNotFoundError, ValueError):
        return None


def memory_bytes(name: str) -> int | None:
    try:
        if is_v2():
            return int((_v2_dir(name) / "memory.current").read_text())
        return int((CGROUP_ROOT / "memory" / "onebox" / name / "memory.usage_in_bytes").read_text())
    except (FileNotFoundError, ValueError):
        return None


def memory_limit_bytes(name: str) -> int | None:
    try:
        if is_v2():
            return int((_v2_dir(name) / "memory.max").read_text())
        return int((CGROUP_ROOT / "memory" / "onebox" / name / "memory.limit_in_bytes").read_text())
    except (FileNotFoundError, ValueError):
        return None


def disk_bytes(name: str) -> tuple[int, int] | None:
    """(read, written) bytes of block I/O, where the kernel accounts them."""
    try:
        if is_v2():
            read = written = 0
            for line in (_v2_dir(name) / "io.stat").read_text().splitlines():
                for part in line.split()[1:]:
                    key, _, value = part.partition("=")
                    if key == "rbytes":
                        read += int(value)
                    elif key == "wbytes":
                        written += int(value)
            return read, written
        text = (CGROUP_ROOT / "blkio" / "onebox" / name / "blkio.throttle.io_service_bytes").read_text()
        read = written = 0
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] == "Read":
                read += int(parts[2])
            elif len(parts) == 3 and parts[1] == "Write":
                written += int(parts[2])
        return read, written
    except (FileNotFoundError, ValueError):
        return None
