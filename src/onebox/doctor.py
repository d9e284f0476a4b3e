"""`onebox doctor`: what this host can run, and how to fix what it cannot."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
from dataclasses import dataclass


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = False


# (what it is for, binary or glob, version flag, Debian package)
DATA_PLANE_BINARIES: tuple[tuple[str, str, str, str], ...] = (
    ("ALB load balancers", "haproxy", "-v", "haproxy"),
    ("RDS PostgreSQL", "/usr/lib/postgresql/*/bin/postgres", "--version", "postgresql"),
    ("RDS MySQL/MariaDB", "mariadbd", "--version", "mariadb-server"),
    ("ElastiCache Redis", "redis-server", "--version", "redis-server"),
    ("ElastiCache Memcached", "memcached", "-V", "memcached"),
    ("CloudFront cache", "varnishd", "-V", "varnish"),
    ("VPC networking", "ip", "-V", "iproute2"),
    ("security groups", "nft", "--version", "nftables"),
    ("psql client", "psql", "--version", "postgresql-client"),
    ("dig", "dig", "-v", "bind9-dnsutils"),
)


def checks(port: int) -> list[Check]:
    results: list[Check] = []
    root = os.geteuid() == 0
    results.append(
        Check(
            "root",
            root,
            "running as root" if root else "not root",
            ""
            if root
            else "run onebox as root for namespaces, cgroups and /etc/hosts names (sudo onebox up)",
        )
    )
    results.append(_namespaces())
    results.append(_cgroups())
    from onebox.host.instances.drivers import default_driver_name  # EC2 instances (docs/instances.md)

    results.append(Check("instance driver", True, f"{default_driver_name()} (docs/instances.md)"))
    for purpose, binary, flag, package in DATA_PLANE_BINARIES:
        results.append(_binary(purpose, binary, flag, package))
    results.append(_port(port))
    return results


def _namespaces() -> Check:
    present = os.path.exists("/proc/self/ns/net") and shutil.which("ip") is not None
    if not present:
        return Check("namespaces", False, "network namespaces unavailable", "apt-get install iproute2")
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    ok = probe.returncode == 0
    return Check(
        "namespaces",
        ok,
        "network namespaces usable" if ok else probe.stderr.strip(),
        "" if ok else "run as root on a kernel with CONFIG_NET_NS",
    )


def _cgroups() -> Check:
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        return Check("cgroups", True, "cgroup v2 (unified)")
    if os.path.isdir("/sys/fs/cgroup/cpu") or os.path.isdir("/sys/fs/cgroup/memory"):
        return Check("cgroups", True, "cgroup v1")
    return Check("cgroups", False, "no cgroup hierarchy mounted", "mount cgroup2 on /sys/fs/cgroup")


def _binary(purpose: str, binary: str, flag: str, package: str) -> Check:
    path = sorted(glob.glob(binary))[-1] if "*" in binary and glob.glob(binary) else shutil.which(binary)
    name = os.path.basename(binary)
    if not path:
        return Check(name, False, f"missing ({purpose})", f"apt-get install {package}")
    try:
        output = subprocess.run([path, flag], capture_output=True, text=True, timeout=5)
        version = (
            (output.stdout or output.stderr).strip().splitlines()[0]
            if (output.stdout or output.stderr)
            else ""
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        version = f"cannot run: {error}"
    return Check(name, True, f"{version} ({purpose})")


def _port(port: int) -> Check:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return Check(
                f"port {port}",
                False,
                "in use (a running onebox, or another program)",
                f"onebox status, or choose another: onebox up --port {port + 1}",
            )
    return Check(f"port {port}", True, "free on 127.0.0.1")


def run_doctor(port: int) -> int:
    problems = 0
    for check in checks(port):
        mark = "ok  " if check.ok else "MISS"
        print(f"[{mark}] {check.name:<12} {check.detail}")
        if not check.ok and check.fix:
            print(f"       fix: {check.fix}")
            problems += check.required
    print("\nonebox starts without the missing programs; install the ones you need with the commands above.")
    return 1 if problems else 0
