"""A namespace instance halts on a stop request like an OS on EC2's ACPI shutdown: its init (PID 1 of the
instance's PID namespace) forwards SIGTERM to the instance's services, waits for them and exits, with
no SIGKILL needed. Driven through the driver's real launcher and init, without a daemon, so the test
chooses exactly when the request arrives."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from onebox.host.instances import cgroups
from onebox.host.instances.drivers import LaunchPlan, NamespaceDriver

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the namespace driver needs root")

# A service that, like php-fpm or nginx, finishes cleanly on SIGTERM and says so on its disk.
SERVICE_USER_DATA = b"""#!/bin/sh
mkdir -p /var/log
cat > /usr/local/sbin/service.sh <<'SH'
#!/bin/sh
trap 'echo stopped-by-sigterm > /var/log/service.state; exit 0' TERM
echo running > /var/log/service.state
while :; do sleep 0.05; done
SH
chmod +x /usr/local/sbin/service.sh
/usr/local/sbin/service.sh >/dev/null 2>&1 &
"""
SIGTERM_BIT = 1 << (signal.SIGTERM - 1)
HALT_BOUND = 8.0  # below the driver's 10 s stop timeout: a halt that needs the SIGKILL fallback fails


class Instance:
    def __init__(self, state_dir: Path, user_data: bytes) -> None:
        self.id = "i-" + secrets.token_hex(9)[:17]
        self.driver = NamespaceDriver(state_dir)
        spec = self.driver.prepare(
            LaunchPlan(
                instance_id=self.id,
                hostname="ip-10-0-0-9",
                layers=[],
                user_data=user_data,
                public_keys=[],
                metadata={"meta-data": {"instance-id": self.id}},
                vcpus=1,
                memory_mib=512,
                private_ip="10.0.0.9",
            )
        )
        self.directory = self.driver.instance_dir(self.id)
        # As the supervisor starts it: its own session and process group.
        self.launcher = subprocess.Popen(spec.argv, start_new_session=True)

    def console(self) -> str:
        path = self.directory / "console.log"
        return path.read_text() if path.exists() else ""

    def init_before_its_handler(self) -> int | None:
        """The pid of the instance's PID 1 while it cannot yet handle SIGTERM (starting up), else None."""
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                status = (entry / "status").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[2]) != self.launcher.pid:  # process group
                continue
            fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
            if fields.get("NSpid", "").split()[-1:] == ["1"] and len(fields["NSpid"].split()) > 1:
                if not int(fields["SigCgt"], 16) & SIGTERM_BIT:
                    return int(entry.name)
        return None

    def halted_by_itself(self) -> bool:
        """Whether the launcher exits within HALT_BOUND (then with status 0)."""
        try:
            return self.launcher.wait(timeout=HALT_BOUND) == 0
        except subprocess.TimeoutExpired:
            return False

    def destroy(self) -> None:
        if self.launcher.poll() is None:
            os.killpg(self.launcher.pid, signal.SIGKILL)
            self.launcher.wait()
        self.driver.destroy(self.id)


@pytest.fixture
def instances(tmp_path: Path) -> Iterator[list[Instance]]:
    made: list[Instance] = []
    yield made
    for instance in made:
        instance.destroy()
    assert not any(cgroups.exists(instance.id) for instance in made)


def test_a_stop_requested_while_the_init_starts_is_not_lost(tmp_path: Path, instances) -> None:  # noqa: ANN001
    instances.append(instance := Instance(tmp_path / "state", SERVICE_USER_DATA))
    deadline = time.monotonic() + 20
    pid = None
    while pid is None and time.monotonic() < deadline and instance.launcher.poll() is None:
        pid = instance.init_before_its_handler()
    assert pid is not None, "never saw the instance's init starting"
    # What the supervisor does to stop an instance; PID 1 has no SIGTERM handler yet.
    os.killpg(instance.launcher.pid, signal.SIGTERM)
    assert instance.halted_by_itself(), instance.console()
    assert "onebox-init: halted" in instance.console()
    assert "finished booting" not in instance.console()  # it halted instead of going on booting


def test_the_init_forwards_sigterm_to_the_instance_services(tmp_path: Path, instances) -> None:  # noqa: ANN001
    instances.append(instance := Instance(tmp_path / "state", SERVICE_USER_DATA))
    state = instance.directory / "upper" / "var" / "log" / "service.state"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (state.exists() and state.read_text() == "running\n"):
        time.sleep(0.05)
    assert state.read_text() == "running\n", instance.console()
    # Only the launcher is signalled: the request reaches the service through the init alone.
    os.kill(instance.launcher.pid, signal.SIGTERM)
    assert instance.halted_by_itself(), instance.console()
    assert state.read_text() == "stopped-by-sigterm\n"
    console = instance.console()
    assert console.index("stopping all processes") < console.index("onebox-init: halted")
