"""Runs data-plane processes: own session, own log, restart with backoff, re-adoption after a daemon restart.

Every child is a session (and process group) leader, so signals reach its whole tree and a `kill -9` of the
daemon leaves it serving. A pid file per child (`run_dir/<name>.json`) records the pid, the kernel's start
time for that pid (so a reused pid is never mistaken for ours) and the spec, which is all a later daemon
needs to adopt the child, or `onebox down` needs to stop it when no daemon runs.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import os
import re
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from onebox.clock import Clock

log = logging.getLogger(__name__)

BACKOFF_INITIAL = 1.0
BACKOFF_MAX = 60.0
# A child that stayed up this long is healthy again: its next crash restarts after BACKOFF_INITIAL.
STABLE_AFTER = 60.0
# SIGKILL cannot be ignored; this only bounds the wait for a process stuck in uninterruptible sleep.
_KILL_GRACE = 5.0
# A ready check that hangs must not stall monitoring; it counts as "not ready yet".
_READY_CHECK_TIMEOUT = 5.0
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

ReadyCheck = Callable[[], Awaitable[bool]]


class ProcessState(enum.StrEnum):
    STARTING = "starting"  # spawned, ready_check has not passed yet
    RUNNING = "running"
    BACKOFF = "backoff"  # exited unexpectedly, waiting to be restarted
    STOPPED = "stopped"
    FAILED = "failed"  # could not be spawned (bad argv or cwd); the next ensure() tries again


class SupervisorError(Exception):
    """A child could not be started."""


@dataclass(frozen=True)
class ProcessSpec:
    """What to run. `env` is layered over the daemon's environment; None inherits it unchanged."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] | None = None
    cwd: str | Path | None = None
    stop_signal: int = signal.SIGTERM
    stop_timeout: float = 10.0
    # Not persisted and not part of equality: an adopted child is trusted to be ready.
    ready_check: ReadyCheck | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise ValueError(f"invalid process name {self.name!r}: it names files, use [A-Za-z0-9._-]")
        if isinstance(self.argv, str) or not self.argv:
            raise ValueError("argv must be a non-empty sequence of strings")
        if self.stop_timeout < 0:
            raise ValueError("stop_timeout must be >= 0")
        # Normalise so specs compare equal however the caller spelled them (list vs tuple, Path vs str).
        object.__setattr__(self, "argv", tuple(str(a) for a in self.argv))
        object.__setattr__(
            self, "env", None if self.env is None else {str(k): str(v) for k, v in self.env.items()}
        )
        object.__setattr__(self, "cwd", None if self.cwd is None else str(self.cwd))
        object.__setattr__(self, "stop_signal", signal.Signals(self.stop_signal))

    def launch_identity(self) -> dict[str, Any]:
        """The fields that change what runs; a difference here means restart, anything else is updated live."""
        return {"argv": list(self.argv), "env": self.env, "cwd": self.cwd}

    def to_json(self) -> dict[str, Any]:
        return {
            **self.launch_identity(),
            "name": self.name,
            "stop_signal": signal.Signals(self.stop_signal).name,
            "stop_timeout": self.stop_timeout,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProcessSpec:
        return cls(
            name=data["name"],
            argv=data["argv"],
            env=data.get("env"),
            cwd=data.get("cwd"),
            stop_signal=signal.Signals[data.get("stop_signal", "SIGTERM")],
            stop_timeout=float(data.get("stop_timeout", 10.0)),
        )


@dataclass(frozen=True)
class ProcessStatus:
    name: str
    pid: int | None
    state: ProcessState
    restarts: int
    started_at: float | None  # clock time of the current (or last) spawn
    log_path: Path
    exit_code: int | None = (
        None  # last unexpected exit; None if unknown (adopted children are not ours to wait for)
    )
    error: str | None = None


@dataclass
class _Child:
    spec: ProcessSpec
    log_path: Path
    state: ProcessState = ProcessState.STOPPED
    pid: int | None = None
    start_ticks: int | None = None
    # Only for children this daemon spawned; adopted ones belong to init and are watched through /proc.
    popen: subprocess.Popen[bytes] | None = None
    started_at: float | None = None
    restarts: int = 0
    next_delay: float = BACKOFF_INITIAL
    exit_code: int | None = None
    error: str | None = None
    monitor: asyncio.Task[None] | None = None

    def status(self) -> ProcessStatus:
        return ProcessStatus(
            name=self.spec.name,
            pid=self.pid,
            state=self.state,
            restarts=self.restarts,
            started_at=self.started_at,
            log_path=self.log_path,
            exit_code=self.exit_code,
            error=self.error,
        )


class Supervisor:
    """Starts, watches, restarts, adopts and stops the daemon's child processes. Call `start()` first."""

    def __init__(
        self,
        run_dir: Path,
        log_dir: Path,
        clock: Clock,
        *,
        poll_interval: float = 0.1,
        backoff_initial: float = BACKOFF_INITIAL,
        backoff_max: float = BACKOFF_MAX,
        stable_after: float = STABLE_AFTER,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.log_dir = Path(log_dir)
        self.clock = clock
        # Poll cadence is not behaviour (only how soon we notice), so it runs on real time, not the clock.
        self._poll_interval = poll_interval
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._stable_after = stable_after
        self._children: dict[str, _Child] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._started = False
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------------------------

    async def start(self) -> list[str]:
        """Adopt children a previous daemon left running; remove stale pid files. Returns adopted names."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for leftover in self.run_dir.glob(".*.tmp"):
            leftover.unlink(missing_ok=True)
        adopted: list[str] = []
        for path in sorted(self.run_dir.glob("*.json")):
            record = _load_pidfile(path)
            if record is None or record.spec.name != path.stem:
                log.warning("removing unreadable pid file %s", path)
                path.unlink(missing_ok=True)
                continue
            if record.spec.name in self._children:
                continue
            if _is_alive(record.pid, record.start_ticks):
                child = _Child(
                    spec=record.spec,
                    log_path=self._log_path(record.spec.name),
                    state=ProcessState.RUNNING,
                    pid=record.pid,
                    start_ticks=record.start_ticks,
                    started_at=record.started_at,
                    restarts=record.restarts,
                    next_delay=self._backoff_initial,
                )
                self._children[child.spec.name] = child
                child.monitor = asyncio.create_task(self._monitor(child), name=f"supervise:{child.spec.name}")
                adopted.append(child.spec.name)
                log.info("adopted %s (pid %d)", child.spec.name, record.pid)
            else:
                # The leader died while no daemon watched; its group may still hold stragglers.
                _kill_group_if_ours(record.pid, record.start_ticks, signal.SIGKILL)
                path.unlink(missing_ok=True)
                log.info("removed stale pid file for %s (pid %d is gone)", record.spec.name, record.pid)
        self._started = True
        return adopted

    async def ensure(self, spec: ProcessSpec) -> ProcessStatus:
        """Make `spec` run: start it if absent or failed, restart it if its argv/env/cwd changed."""
        if not self._started or self._closed:
            # Starting before adoption would run a second copy next to the one a previous daemon left.
            raise RuntimeError("Supervisor.start() must be called first (and not after close())")
        async with self._lock(spec.name):
            child = self._children.get(spec.name)
            if child is not None and child.state in (
                ProcessState.STARTING,
                ProcessState.RUNNING,
                ProcessState.BACKOFF,
            ):
                if child.spec.launch_identity() == spec.launch_identity():
                    if child.spec != spec or child.spec.ready_check is not spec.ready_check:
                        child.spec = spec
                        if child.pid is not None:
                            self._write_pidfile(child)
                    return child.status()
                log.info("spec of %s changed; restarting it", spec.name)
                await self._stop_locked(child)
            child = _Child(spec=spec, log_path=self._log_path(spec.name), next_delay=self._backoff_initial)
            self._children[spec.name] = child
            self._spawn(child)
            child.monitor = asyncio.create_task(self._monitor(child), name=f"supervise:{spec.name}")
            return child.status()

    async def stop(self, name: str) -> None:
        """Signal the child's process group, wait stop_timeout (clock), then SIGKILL the group."""
        async with self._lock(name):
            child = self._children.get(name)
            if child is not None:
                await self._stop_locked(child)

    async def stop_all(self) -> None:
        await asyncio.gather(*(self.stop(name) for name in list(self._children)))

    def close(self) -> None:
        """Stop watching without stopping anything: children and pid files stay for the next daemon.

        Synchronous, so it also fits a `finally` on the way out; the cancelled monitors end at the loop's
        next turn. `await detach()` does the same and waits for them.
        """
        self._closed = True
        for child in self._children.values():
            if child.monitor is not None:
                child.monitor.cancel()
                child.monitor = None
            if child.popen is not None:
                # Leaving it running is the point; without this, Popen warns "still running" when dropped.
                child.popen.returncode = 0
                child.popen = None

    async def detach(self) -> None:
        monitors = [c.monitor for c in self._children.values() if c.monitor is not None]
        self.close()
        if monitors:
            await asyncio.wait(monitors)

    def status(self) -> list[ProcessStatus]:
        return [self._children[name].status() for name in sorted(self._children)]

    def get(self, name: str) -> ProcessStatus | None:
        child = self._children.get(name)
        return None if child is None else child.status()

    # -- internals -------------------------------------------------------------------------------------

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    def _log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def _pid_path(self, name: str) -> Path:
        return self.run_dir / f"{name}.json"

    def _spawn(self, child: _Child) -> None:
        spec = child.spec
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = None if spec.env is None else {**os.environ, **spec.env}
        try:
            with open(child.log_path, "ab") as log_file:
                popen = subprocess.Popen(
                    spec.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    cwd=spec.cwd,
                    env=env,
                    # Own session and process group: survives the daemon, and one killpg reaches the tree.
                    start_new_session=True,
                    close_fds=True,
                )
        except OSError as exc:
            child.state, child.pid, child.popen, child.error = ProcessState.FAILED, None, None, str(exc)
            log.error("cannot start %s: %s", spec.name, exc)
            raise SupervisorError(f"cannot start {spec.name}: {exc}") from exc
        # The child cannot be reaped (so its pid cannot be reused) until we wait for it: this read is safe.
        stat = _read_stat(popen.pid)
        child.pid, child.popen = popen.pid, popen
        child.start_ticks = stat.start_ticks if stat is not None else None
        child.started_at = self.clock.time()
        child.error = None
        child.state = ProcessState.STARTING if spec.ready_check is not None else ProcessState.RUNNING
        try:
            self._write_pidfile(child)
        except OSError as exc:
            # A child without a pid file could never be adopted or stopped by `onebox down`: undo the start.
            os.killpg(popen.pid, signal.SIGKILL)
            popen.wait()
            child.state, child.pid, child.popen, child.error = ProcessState.FAILED, None, None, str(exc)
            raise SupervisorError(f"cannot record pid file for {spec.name}: {exc}") from exc
        log.info("started %s (pid %d): %s", spec.name, popen.pid, " ".join(spec.argv))

    def _write_pidfile(self, child: _Child) -> None:
        record = {
            "pid": child.pid,
            "start_ticks": child.start_ticks,
            "argv": list(child.spec.argv),
            "spec": child.spec.to_json(),
            "started_at": child.started_at,
            "restarts": child.restarts,
        }
        path = self._pid_path(child.spec.name)
        tmp = path.with_name(f".{path.name}.tmp")
        # 0600: env may carry engine passwords.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(record, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    async def _monitor(self, child: _Child) -> None:
        try:
            await self._supervise(child)
        except Exception as exc:  # a bug here must show in status and the log, not vanish with the task
            log.exception("monitoring %s failed", child.spec.name)
            child.state, child.error = ProcessState.FAILED, f"monitor failed: {exc}"

    async def _supervise(self, child: _Child) -> None:
        """Watch one child for its whole life: readiness, unexpected exits, restarts with backoff."""
        while True:
            await self._watch_once(child)
            # stop() cancels this task before signalling, so any exit seen here is unexpected.
            pid = child.pid
            assert pid is not None
            uptime = self.clock.time() - (
                child.started_at if child.started_at is not None else self.clock.time()
            )
            # Kill stragglers while the leader is unreaped: the pgid cannot be reused until then.
            _kill_group_if_ours(pid, child.start_ticks, signal.SIGKILL)
            child.exit_code = self._reap(child)
            child.pid, child.popen, child.start_ticks = None, None, None
            self._pid_path(child.spec.name).unlink(missing_ok=True)
            if uptime >= self._stable_after:
                child.next_delay = self._backoff_initial
            delay = child.next_delay
            child.next_delay = min(delay * 2, self._backoff_max)
            child.state = ProcessState.BACKOFF
            log.warning(
                "%s (pid %d) exited with %s after %.1fs; restarting in %.0fs",
                child.spec.name,
                pid,
                "unknown status" if child.exit_code is None else f"code {child.exit_code}",
                uptime,
                delay,
            )
            await self.clock.sleep(delay)
            child.restarts += 1
            try:
                self._spawn(child)
            except SupervisorError:
                return  # FAILED: retrying a bad argv is pointless; the controller's next ensure() will

    async def _watch_once(self, child: _Child) -> None:
        """Return when the current pid exits; meanwhile run the ready check while STARTING."""
        assert child.pid is not None
        exited = asyncio.create_task(self._wait_exit(child.pid, child.start_ticks))
        try:
            check = child.spec.ready_check
            while check is not None and child.state is ProcessState.STARTING and not exited.done():
                if await _ready(check):
                    child.state = ProcessState.RUNNING
                    log.info("%s is ready", child.spec.name)
                    break
                await asyncio.wait({exited}, timeout=self._poll_interval)
            await exited
        finally:
            exited.cancel()

    async def _wait_exit(self, pid: int, start_ticks: int | None) -> None:
        # A pidfd works for children and non-children alike and pins the process, so no pid-reuse race.
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            return
        except (OSError, AttributeError):
            pidfd = None
        if pidfd is None:
            while _is_alive(pid, start_ticks):
                await asyncio.sleep(self._poll_interval)
            return
        try:
            if not _is_alive(pid, start_ticks):
                return
            loop = asyncio.get_running_loop()
            readable: asyncio.Future[None] = loop.create_future()
            loop.add_reader(pidfd, lambda: readable.done() or readable.set_result(None))
            try:
                await readable
            finally:
                loop.remove_reader(pidfd)
        finally:
            os.close(pidfd)

    def _reap(self, child: _Child) -> int | None:
        """Collect the exit status if the process is our child, so no zombie is left behind."""
        if child.popen is not None:
            return child.popen.poll()
        if child.pid is None:
            return None
        # An adopted process may still be our child (same process re-adopting, or we are its subreaper).
        try:
            pid, status = os.waitpid(child.pid, os.WNOHANG)
        except ChildProcessError:
            return None
        return os.waitstatus_to_exitcode(status) if pid else None

    async def _stop_locked(self, child: _Child) -> None:
        if child.monitor is not None:
            child.monitor.cancel()
            await asyncio.wait({child.monitor})
            child.monitor = None
        if child.pid is not None:
            await self._terminate(child)
            self._reap(child)
        self._pid_path(child.spec.name).unlink(missing_ok=True)
        child.pid, child.popen, child.start_ticks = None, None, None
        child.state = ProcessState.STOPPED
        log.info("stopped %s", child.spec.name)

    async def _terminate(self, child: _Child) -> None:
        pid, spec = child.pid, child.spec
        assert pid is not None
        if not _kill_group_if_ours(pid, child.start_ticks, spec.stop_signal):
            return
        timer = asyncio.create_task(_sleep_until(self.clock, self.clock.time() + spec.stop_timeout))
        try:
            while not timer.done():
                self._reap_if_exited(child)  # a zombie leader must not look like a live group
                if not _group_alive(pid):
                    return
                await asyncio.wait({timer}, timeout=self._poll_interval)
        finally:
            timer.cancel()
        log.warning(
            "%s did not stop within %.1fs of %s; killing its group",
            spec.name,
            spec.stop_timeout,
            spec.stop_signal,
        )
        _kill_group_if_ours(pid, child.start_ticks, signal.SIGKILL)
        deadline = time.monotonic() + _KILL_GRACE
        while time.monotonic() < deadline:
            self._reap_if_exited(child)
            if not _group_alive(pid):
                return
            await asyncio.sleep(self._poll_interval)
        log.error("process group %d of %s survived SIGKILL for %.0fs", pid, spec.name, _KILL_GRACE)

    def _reap_if_exited(self, child: _Child) -> None:
        if child.pid is not None and not _is_alive(child.pid, child.start_ticks):
            self._reap(child)


def stop_all_from_pidfiles(run_dir: Path, *, timeout: float | None = None) -> list[str]:
    """Stop every child recorded in `run_dir` without a daemon (`onebox down` after a crash).

    Blocking: signal every group with its stop signal, wait up to each stop_timeout (or `timeout`),
    SIGKILL what remains, remove the pid files. Returns the names that were running.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    running: list[tuple[Path, _PidRecord, float]] = []
    start = time.monotonic()
    for path in sorted(run_dir.glob("*.json")):
        record = _load_pidfile(path)
        if record is None:
            path.unlink(missing_ok=True)
            continue
        alive = _is_alive(record.pid, record.start_ticks) or _group_alive(record.pid)
        if alive and _kill_group_if_ours(record.pid, record.start_ticks, record.spec.stop_signal):
            wait = record.spec.stop_timeout if timeout is None else timeout
            running.append((path, record, start + wait))
        else:
            path.unlink(missing_ok=True)
    pending = list(running)
    while pending:
        pending = [p for p in pending if _group_alive(p[1].pid) and time.monotonic() < p[2]]
        if pending:
            time.sleep(0.05)
    for _path, record, _deadline in running:
        if _group_alive(record.pid):
            log.warning("%s did not stop in time; killing its group", record.spec.name)
            _kill_group_if_ours(record.pid, record.start_ticks, signal.SIGKILL)
    deadline = time.monotonic() + _KILL_GRACE
    while any(_group_alive(r.pid) for _p, r, _d in running) and time.monotonic() < deadline:
        time.sleep(0.05)
    for path, _record, _deadline in running:
        path.unlink(missing_ok=True)
    return [record.spec.name for _path, record, _deadline in running]


# -- /proc helpers -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Stat:
    state: str
    pgrp: int
    start_ticks: int


@dataclass(frozen=True)
class _PidRecord:
    pid: int
    start_ticks: int | None
    spec: ProcessSpec
    started_at: float | None
    restarts: int


def _load_pidfile(path: Path) -> _PidRecord | None:
    try:
        data = json.loads(path.read_text())
        return _PidRecord(
            pid=int(data["pid"]),
            start_ticks=None if data.get("start_ticks") is None else int(data["start_ticks"]),
            spec=ProcessSpec.from_json(data["spec"]),
            started_at=data.get("started_at"),
            restarts=int(data.get("restarts", 0)),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _read_stat(pid: int) -> _Stat | None:
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    # comm (field 2) may contain spaces and parentheses; everything after the last ')' is well-formed.
    rest = data[data.rindex(b")") + 2 :].split()
    # rest[0] is field 3 (state), rest[2] field 5 (pgrp), rest[19] field 22 (starttime, ticks since boot).
    return _Stat(state=rest[0].decode(), pgrp=int(rest[2]), start_ticks=int(rest[19]))


def _is_alive(pid: int, start_ticks: int | None) -> bool:
    """Whether `pid` is still the process we started (not a zombie, not a reused pid)."""
    stat = _read_stat(pid)
    if stat is None or stat.state in ("Z", "X", "x"):
        return False
    return start_ticks is None or stat.start_ticks == start_ticks


def _group_alive(pgid: int) -> bool:
    """Whether any non-zombie process is in group `pgid` (zombies wait for a parent that may never reap)."""
    with os.scandir("/proc") as entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            stat = _read_stat(int(entry.name))
            if stat is not None and stat.pgrp == pgid and stat.state not in ("Z", "X", "x"):
                return True
    return False


def _kill_group_if_ours(pid: int, start_ticks: int | None, sig: int) -> bool:
    """Signal group `pid` unless that pid now belongs to someone else. Returns whether it was signalled.

    The kernel keeps a pid number allocated while any process uses it as its group id, so if the number is
    free or still holds our leader (alive or zombie), every member of group `pid` is from our tree.
    """
    stat = _read_stat(pid)
    if stat is not None and start_ticks is not None and stat.start_ticks != start_ticks:
        return False  # reused by an unrelated process
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return False
    except PermissionError as exc:
        log.warning("cannot signal process group %d: %s", pid, exc)
        return False
    return True


async def _sleep_until(clock: Clock, deadline: float) -> None:
    # The deadline is fixed by the caller: a task starts later, and a test's clock may move before it does.
    await clock.sleep(max(deadline - clock.time(), 0.0))


async def _ready(check: ReadyCheck) -> bool:
    try:
        return bool(await asyncio.wait_for(check(), _READY_CHECK_TIMEOUT))
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a failing probe just means "not ready yet"
        log.debug("ready check failed: %s", exc)
        return False
