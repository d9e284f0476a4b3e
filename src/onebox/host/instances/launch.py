"""The supervised process of a namespace instance: join its cgroups, then enter its network namespace
and new mount, PID, UTS and IPC namespaces and exec the instance's init there.

`python -m onebox.host.instances.launch CONFIG`. Joining the cgroups first means every process of the
instance, whatever it forks, is counted against its limits and can be killed as a whole.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from onebox.host.instances import cgroups
from onebox.host.instances.boot import BootConfig


def main(argv: list[str]) -> None:
    config_path = Path(argv[1])
    config = BootConfig.read(config_path)
    if config.cgroup:
        cgroups.join(config.cgroup, os.getpid())
    command = [
        "nsenter",
        f"--net=/run/netns/{config.netns}",
        "--",
        "unshare",
        "--mount",
        "--uts",
        "--ipc",
        "--pid",
        "--fork",
        "--propagation",
        "private",
        "--",
        sys.executable,
        "-m",
        "onebox.host.instances.init",
        str(config_path),
    ]
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv)
