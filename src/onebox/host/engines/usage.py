"""Resource use of a database server's process group, read from /proc."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Usage:
    cpu_seconds: float
    rss_bytes: int
    read_ops: int
    write_ops: int


def group_usage(pgid: int) -> Usage:
    """Summed over every process whose process group is `pgid` (the server and its workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    page = os.sysconf("SC_PAGE_SIZE")
    cpu = 0.0
    rss = reads = writes = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:
                continue
            cpu += (int(fields[11]) + int(fields[12])) / ticks
            rss += int(fields[21]) * page
            with open(f"/proc/{entry}/io") as f:
                io = dict(line.split(": ") for line in f.read().splitlines())
            reads += int(io.get("syscr", 0))
            writes += int(io.get("syscw", 0))
        except (OSError, ValueError, IndexError):
            continue
    return Usage(cpu, rss, reads, writes)
