"""The supervised process of a namespace instance: join its cgroups, enter its network namespace and new
mount, PID, UTS and IPC namespaces, fork the instance's init there (PID 1 inside) and forward the stop
request to it.

`python -m onebox.host.instances.launch CONFIG`. Joining the cgroups first means every process of the
instance, whatever it forks, is counted against its limits and can be killed as a whole.

Why not `nsenter … unshare --fork`: the kernel discards a signal sent to a PID namespace's init when the
init has no handler for it and does not block it, and the init is a Python interpreter that needs a
moment to install its handler; `unshare --fork` blocks SIGTERM in its own process and never passes it
on. A stop requested while the instance was starting was lost, and the supervisor waited its whole stop
timeout before killing the instance. Here SIGTERM and SIGINT are blocked from the first line: the
child inherits the mask through fork and exec, so a signal sent to it early stays pending until the
init has installed its handler and unblocks it (init.py), and this process, once it has forked,
forwards what it receives to the init.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from pathlib import Path

from onebox.host.instances import cgroups
from onebox.host.instances.boot import BootConfig

SHUTDOWN_SIGNALS = {signal.SIGTERM, signal.SIGINT}
CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18


def _check(result: int, what: str) -> None:
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def enter_namespaces(netns: str | None) -> None:
    """Join the instance's network namespace; make new mount (private propagation), UTS, IPC and PID
    namespaces (the PID one applies to the next child)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if netns:
        descriptor = os.open(f"/run/netns/{netns}", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _check(libc.setns(descriptor, CLONE_NEWNET), f"setns {netns}")
        finally:
            os.close(descriptor)
    _check(libc.unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID), "unshare")
    _check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "making / private")


def main(argv: list[str]) -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, SHUTDOWN_SIGNALS)
    config_path = Path(argv[1])
    config = BootConfig.read(config_path)
    if config.cgroup:
        cgroups.join(config.cgroup, os.getpid())
    enter_namespaces(config.netns)
    child = os.fork()
    if child == 0:  # PID 1 of the new namespace; SIGTERM/SIGINT stay blocked through the exec
        try:
            os.execv(sys.executable, [sys.executable, "-m", "onebox.host.instances.init", str(config_path)])
        finally:
            os._exit(127)

    def forward(signum: int, frame: object) -> None:
        try:
            os.kill(child, signum)
        except ProcessLookupError:
            pass

    for sig in SHUTDOWN_SIGNALS:
        signal.signal(sig, forward)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SHUTDOWN_SIGNALS)  # one received meanwhile runs now
    _, status = os.waitpid(child, 0)
    code = os.waitstatus_to_exitcode(status)
    sys.exit(code if code >= 0 else 128 - code)


if __name__ == "__main__":
    main(sys.argv)
