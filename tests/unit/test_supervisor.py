"""The supervisor with real child processes: logs, pid files, stop, backoff, spec changes, adoption."""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from onebox.clock import Clock, ManualClock
from onebox.host.supervisor import (
    ProcessSpec,
    ProcessState,
    Supervisor,
    SupervisorError,
    stop_all_from_pidfiles,
)

PY = sys.executable
Dirs = tuple[Path, Path]


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coro, timeout=20))


@pytest.fixture
def dirs(tmp_path: Path) -> Iterator[Dirs]:
    run_dir, log_dir = tmp_path / "run", tmp_path / "log"
    yield run_dir, log_dir
    # Safety net, and the crash path of `onebox down`: nothing a failed test started may outlive it.
    stop_all_from_pidfiles(run_dir, timeout=1)


def sleeper(message: str = "up", ignore_term: bool = False) -> list[str]:
    code = "import signal, time\n"
    if ignore_term:
        code += "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    code += f"print({message!r}, flush=True)\ntime.sleep(600)\n"
    return [PY, "-c", code]


def with_grandchild(ignore_term: bool = False) -> list[str]:
    code = "import signal, subprocess, sys, time\n"
    if ignore_term:
        code += "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"  # inherited by the grandchild too
    code += (
        "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        "print('grandchild', g.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    return [PY, "-c", code]


def http_server(port: int) -> list[str]:
    return [PY, "-m", "http.server", "--bind", "127.0.0.1", str(port)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_ok(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def stat_fields(pid: int) -> list[str] | None:
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return data[data.rindex(")") + 2 :].split()


def running(pid: int) -> bool:
    """Running, as opposed to gone or a zombie (an orphan waits for init to reap it)."""
    fields = stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def reaped(pid: int) -> bool:
    return stat_fields(pid) is None


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


def log_text(log_dir: Path, name: str) -> str:
    path = log_dir / f"{name}.log"
    return path.read_text() if path.exists() else ""


def test_child_logs_pidfile_and_stop(dirs: Dirs, tmp_path: Path) -> None:
    run_dir, log_dir = dirs

    async def main() -> None:
        sup = Supervisor(run_dir, log_dir, ManualClock())
        assert await sup.start() == []
        port = free_port()
        status = await sup.ensure(ProcessSpec("web", http_server(port), cwd=tmp_path))
        assert status.state is ProcessState.RUNNING and status.pid is not None
        assert status.log_path == log_dir / "web.log"
        pid = status.pid
        await until(lambda: http_ok(port))
        await until(lambda: "GET / HTTP" in log_text(log_dir, "web"))  # the child's stderr goes to its log

        record = json.loads((run_dir / "web.json").read_text())
        fields = stat_fields(pid)
        assert fields is not None
        assert record["pid"] == pid and record["start_ticks"] == int(fields[19])
        assert record["argv"] == http_server(port)
        assert int(fields[2]) == pid and int(fields[3]) == pid  # its own process group and session

        await sup.stop("web")
        assert reaped(pid)  # stopped and waited for: no zombie
        assert not (run_dir / "web.json").exists()
        assert not http_ok(port)
        [stopped] = sup.status()
        assert (stopped.name, stopped.state, stopped.pid) == ("web", ProcessState.STOPPED, None)

    run(main())


def test_stop_reaches_grandchildren(dirs: Dirs) -> None:
    run_dir, log_dir = dirs

    async def main() -> None:
        sup = Supervisor(run_dir, log_dir, ManualClock())
        await sup.start()
        status = await sup.ensure(ProcessSpec("tree", with_grandchild()))
        await until(lambda: "grandchild" in log_text(log_dir, "tree"))
        grandchild = int(log_text(log_dir, "tree").split()[1])
        assert running(grandchild)
        await sup.stop("tree")
        assert status.pid is not None and reaped(status.pid)
        await until(lambda: not running(grandchild))

    run(main())


def test_stop_escalates_to_sigkill_after_stop_timeout_on_the_clock(dirs: Dirs) -> None:
    run_dir, log_dir = dirs

    async def main() -> None:
        clock = ManualClock()
        sup = Supervisor(run_dir, log_dir, clock)
        await sup.start()
        status = await sup.ensure(ProcessSpec("stubborn", with_grandchild(ignore_term=True), stop_timeout=5))
        await until(lambda: "grandchild" in log_text(log_dir, "stubborn"))
        grandchild = int(log_text(log_dir, "stubborn").split()[1])
        stopping = asyncio.create_task(sup.stop("stubborn"))
        await asyncio.sleep(0.3)
        assert not stopping.done()  # SIGTERM is ignored and the clock has not moved
        assert status.pid is not None and running(status.pid) and running(grandchild)
        clock.advance(4)
        await asyncio.sleep(0.1)
        assert not stopping.done()
        clock.advance(1)
        await asyncio.wait_for(stopping, 5)
        assert reaped(status.pid)
        await until(lambda: not running(grandchild))

    run(main())


def test_unexpected_exit_restarts_with_exponential_backoff(dirs: Dirs) -> None:
    run_dir, log_dir = dirs

    async def main() -> None:
        clock = ManualClock()
        sup = Supervisor(run_dir, log_dir, clock)
        await sup.start()
        first = await sup.ensure(ProcessSpec("crashy", sleeper("hello")))
        pids = [first.pid]

        async def crash_and_expect_restart_after(delay: float) -> None:
            pid = pids[-1]
            assert pid is not None
            # Each start appends its greeting to the same log (appended, not truncated).
            await until(lambda: log_text(log_dir, "crashy").count("hello") == len(pids))
            os.kill(pid, signal.SIGKILL)
            await until(lambda: sup.status()[0].state is ProcessState.BACKOFF)
            status = sup.status()[0]
            assert status.pid is None and status.exit_code == -signal.SIGKILL
            assert reaped(pid) and not (run_dir / "crashy.json").exists()
            clock.advance(delay - 0.25)
            await asyncio.sleep(0.1)
            assert sup.status()[0].state is ProcessState.BACKOFF, f"restarted before {delay}s"
            clock.advance(0.25)
            await until(lambda: sup.status()[0].state is ProcessState.RUNNING)
            pids.append(sup.status()[0].pid)
            assert json.loads((run_dir / "crashy.json").read_text())["pid"] == pids[-1]

        await crash_and_expect_restart_after(1)
        await crash_and_expect_restart_after(2)
        await crash_and_expect_restart_after(4)
        assert sup.status()[0].restarts == 3
        clock.advance(60)  # it stayed up a minute: the next crash starts over at 1 s
        await crash_and_expect_restart_after(1)
        assert len(set(pids)) == 5
        await until(lambda: log_text(log_dir, "crashy").count("hello") == 5)
        await sup.stop_all()
        assert all(reaped(pid) for pid in pids if pid is not None)

    run(main())


def test_stop_during_backoff_cancels_the_restart(dirs: Dirs) -> None:
    run_dir, log_dir = dirs

    async def main() -> None:
        clock = ManualClock()
        sup = Supervisor(run_dir, log_dir, clock)
        await sup.start()
        status = await sup.ensure(ProcessSpec("c", sleeper()))
        assert status.pid is not None
        os.kill(status.pid, signal.SIGKILL)
        await until(lambda: sup.status()[0].state is ProcessState.BACKOFF)
        await sup.stop("c")
        clock.advance(100)
        await asyncio.sleep(0.1)
        assert sup.status()[0].state is ProcessState.STOPPED and sup.status()[0].pid is None

    run(main())


def test_spec_change_restarts_and_same_spec_does_not(dirs: Dirs) -> None:
    run_dir, log_dir = dirs

    async def main() -> None:
        sup = Supervisor(run_dir, log_dir, ManualClock())
        await sup.start()
        first = await sup.ensure(ProcessSpec("svc", sleeper(), env={"MODE": "a"}))
        same = await sup.ensure(ProcessSpec("svc", tuple(sleeper()), env={"MODE": "a"}))
        assert same.pid == first.pid
        # Stop settings do not change what runs: updated in place, recorded for the next daemon.
        tuned = await sup.ensure(ProcessSpec("svc", sleeper(), env={"MODE": "a"}, stop_timeout=3))
        assert tuned.pid == first.pid
        assert json.loads((run_dir / "svc.json").read_text())["spec"]["stop_timeout"] == 3

        changed = await sup.ensure(ProcessSpec("svc", sleeper(), env={"MODE": "b"}))
        assert changed.pid != first.pid and changed.state is ProcessState.RUNNING and changed.restarts == 0
        assert first.pid is not None and reaped(first.pid)
        assert changed.pid is not None
        assert "MODE=b" in Path(f"/proc/{changed.pid}/environ").read_bytes().decode().replace("\0", "\n")
        await sup.stop_all()

    run(main())


def test_ready_check_gates_running(dirs: Dirs) -> None:
    run_dir, log_dir = dirs

    async def main() -> None:
        ready = False

        async def check() -> bool:
            return ready

        sup = Supervisor(run_dir, log_dir, ManualClock(), poll_interval=0.01)
        await sup.start()
        status = await sup.ensure(ProcessSpec("slow", sleeper(), ready_check=check))
        assert status.state is ProcessState.STARTING
        await asyncio.sleep(0.05)
        assert sup.status()[0].state is ProcessState.STARTING
        ready = True
        await until(lambda: sup.status()[0].state is ProcessState.RUNNING)
        await sup.stop_all()

    run(main())


def test_spawn_failure_is_reported(dirs: Dirs) -> None:
    run_dir, log_dir = dirs

    async def main() -> None:
        sup = Supervisor(run_dir, log_dir, ManualClock())
        with pytest.raises(RuntimeError, match="start"):
            await sup.ensure(ProcessSpec("early", sleeper()))  # before adoption: could start a duplicate
        await sup.start()
        with pytest.raises(SupervisorError, match="nonexistent"):
            await sup.ensure(ProcessSpec("bad", ["/nonexistent/binary"]))
        [status] = sup.status()
        assert status.state is ProcessState.FAILED and status.error and status.pid is None
        assert not (run_dir / "bad.json").exists()
        with pytest.raises(ValueError):
            ProcessSpec("../escape", ["true"])

    run(main())


def test_adoption_after_daemon_exit_without_down(dirs: Dirs) -> None:
    run_dir, log_dir = dirs

    async def main() -> None:
        clock = ManualClock()
        first = Supervisor(run_dir, log_dir, clock)
        await first.start()
        started = await first.ensure(ProcessSpec("svc", sleeper("hi"), stop_timeout=2))
        await first.detach()  # the daemon goes away; its children must not
        assert started.pid is not None and running(started.pid)

        second = Supervisor(run_dir, log_dir, clock)
        assert await second.start() == ["svc"]
        [adopted] = second.status()
        assert (adopted.pid, adopted.state) == (started.pid, ProcessState.RUNNING)
        # The controller re-ensures the same spec after a restart: that must not restart the child.
        again = await second.ensure(ProcessSpec("svc", sleeper("hi"), stop_timeout=2))
        assert again.pid == started.pid

        # An adopted child that dies is noticed through /proc (it is not our child) and restarted.
        os.kill(started.pid, signal.SIGKILL)
        await until(lambda: second.status()[0].state is ProcessState.BACKOFF)
        clock.advance(1)
        await until(lambda: second.status()[0].state is ProcessState.RUNNING)
        replacement = second.status()[0].pid
        assert replacement is not None and replacement != started.pid

        await second.stop("svc")
        assert not running(started.pid) and reaped(replacement)
        assert list(run_dir.iterdir()) == []

    run(main())


def test_stale_pidfiles_are_removed_without_killing_anyone(dirs: Dirs) -> None:
    run_dir, log_dir = dirs
    run_dir.mkdir(parents=True)
    spec = ProcessSpec("x", ["true"]).to_json()

    exited = subprocess.Popen(["true"])
    exited.wait()
    dead_pid = exited.pid
    # Alive and a group leader, but not the process the pid file describes (different start time).
    bystander = subprocess.Popen(sleeper(), start_new_session=True, stdout=subprocess.DEVNULL)
    try:
        fields = stat_fields(bystander.pid)
        assert fields is not None
        files = {
            "dead": {"pid": dead_pid, "start_ticks": 1, "spec": {**spec, "name": "dead"}},
            "reused": {
                "pid": bystander.pid,
                "start_ticks": int(fields[19]) + 1,
                "spec": {**spec, "name": "reused"},
            },
        }
        for name, record in files.items():
            (run_dir / f"{name}.json").write_text(json.dumps(record))
        (run_dir / "junk.json").write_text("not json")

        async def main() -> None:
            sup = Supervisor(run_dir, log_dir, ManualClock())
            assert await sup.start() == []
            assert sup.status() == []

        run(main())
        assert list(run_dir.iterdir()) == []
        time.sleep(0.1)
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_stop_all_from_pidfiles_without_a_daemon(dirs: Dirs) -> None:
    run_dir, log_dir = dirs
    pids: list[int] = []

    async def main() -> None:
        sup = Supervisor(run_dir, log_dir, ManualClock())
        await sup.start()
        for spec in (
            ProcessSpec("polite", sleeper()),
            ProcessSpec("stubborn", sleeper("x", ignore_term=True), stop_timeout=0.3),
        ):
            status = await sup.ensure(spec)
            assert status.pid is not None
            pids.append(status.pid)
        await until(lambda: "x" in log_text(log_dir, "stubborn"))  # SIGTERM handler installed
        sup.close()  # the synchronous form of detach(), for a daemon's way out

    run(main())
    assert all(running(pid) for pid in pids)
    started = time.monotonic()
    assert sorted(stop_all_from_pidfiles(run_dir)) == ["polite", "stubborn"]
    assert time.monotonic() - started < 3
    assert not any(running(pid) for pid in pids)
    assert list(run_dir.iterdir()) == []
    assert stop_all_from_pidfiles(run_dir) == []


DAEMON_SCRIPT = """
import asyncio, sys
from pathlib import Path
from onebox.clock import Clock
from onebox.host.supervisor import ProcessSpec, Supervisor

async def main() -> None:
    sup = Supervisor(Path(sys.argv[1]), Path(sys.argv[2]), Clock())
    await sup.start()
    argv = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", sys.argv[3]]
    await sup.ensure(ProcessSpec("web", argv))
    print("ensured", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""

PR_SET_CHILD_SUBREAPER = 36


def set_subreaper(on: bool) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) == 0


def test_child_survives_sigkill_of_daemon_process_and_is_adopted(dirs: Dirs, tmp_path: Path) -> None:
    run_dir, log_dir = dirs
    script = tmp_path / "daemon.py"
    script.write_text(DAEMON_SCRIPT)
    port = free_port()
    # The orphaned server is reparented to us instead of init, so that once stopped it can be reaped and
    # shown to be fully gone (this VM's init may be slow to reap orphans).
    set_subreaper(True)
    daemon = subprocess.Popen(
        [PY, str(script), str(run_dir), str(log_dir), str(port)], stdout=subprocess.PIPE
    )
    try:
        assert daemon.stdout is not None and daemon.stdout.readline().strip() == b"ensured"
        pid = json.loads((run_dir / "web.json").read_text())["pid"]

        async def wait_serving() -> None:
            await until(lambda: http_ok(port))

        run(wait_serving())
        daemon.kill()
        daemon.wait()
        for _ in range(3):
            assert http_ok(port), "traffic stopped with the daemon"
        assert running(pid)

        async def adopt_and_stop() -> None:
            sup = Supervisor(run_dir, log_dir, Clock())
            assert await sup.start() == ["web"]
            assert sup.get("web") is not None and sup.get("web").pid == pid  # type: ignore[union-attr]
            await sup.stop("web")

        run(adopt_and_stop())
        assert not http_ok(port)
        assert reaped(pid)
    finally:
        set_subreaper(False)
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        if daemon.stdout is not None:
            daemon.stdout.close()
