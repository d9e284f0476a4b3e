"""Running one HAProxy from a rendered configuration: check it, install it, start it under the
supervisor or reload it hitlessly, and keep health across reloads with a server-state file.

A configuration is first written beside the live one and checked with `haproxy -c`; only a valid one
replaces it. The master (our supervised child, started with -W) re-executes itself on SIGUSR2; its new
worker takes the listening sockets over from the old one (expose-fd listeners), and the old worker
finishes its requests in flight. Before each reload the runtime API's `show servers state` is saved
where the new worker loads it (server-state-file), so targets keep their health.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import shutil
import signal
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from onebox.host.loadbalancer import runtime_api
from onebox.host.loadbalancer.paths import BalancerPaths
from onebox.host.supervisor import ProcessSpec, ProcessState, Supervisor

log = logging.getLogger(__name__)

HAPROXY = os.environ.get("ONEBOX_HAPROXY", "haproxy")
CHECK_TIMEOUT_S = 30.0
READY_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 5.0

_locks: dict[str, asyncio.Lock] = {}


class LoadBalancerError(Exception):
    """The data plane could not do what was asked; the running balancer (if any) is untouched."""


class ConfigRejected(LoadBalancerError):
    """The rendered configuration did not pass `haproxy -c` (or could not be rendered)."""


def haproxy_binary() -> str:
    found = shutil.which(HAPROXY)
    if found is None:
        raise LoadBalancerError(f"{HAPROXY} is not installed (Debian's haproxy package)")
    return found


def fingerprint(text: str, files: Iterable[str]) -> str:
    digest = hashlib.sha256(text.encode())
    for name in files:
        digest.update(b"\0" + name.encode() + b"\0")
        try:
            digest.update(Path(name).read_bytes())
        except OSError:
            digest.update(b"<missing>")
    return digest.hexdigest()


async def check_config(path: Path) -> None:
    """`haproxy -c -f path`; raises ConfigRejected with HAProxy's own alerts."""
    proc = await asyncio.create_subprocess_exec(
        haproxy_binary(),
        "-c",
        "-f",
        str(path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), CHECK_TIMEOUT_S)
    except TimeoutError as exc:
        proc.kill()
        await proc.wait()
        raise ConfigRejected(f"haproxy -c on {path} timed out") from exc
    if proc.returncode != 0:
        alerts = [line for line in out.decode(errors="replace").splitlines() if "ALERT" in line]
        raise ConfigRejected("HAProxy rejected the configuration: " + " | ".join(alerts or [out.decode()]))


def process_spec(name: str, paths: BalancerPaths) -> ProcessSpec:
    return ProcessSpec(
        name=name,
        argv=[haproxy_binary(), "-W", "-f", str(paths.config), "-S", f"{paths.master_socket},mode,600"],
        cwd=str(paths.root),
        stop_signal=signal.SIGTERM,
        stop_timeout=STOP_TIMEOUT_S,
    )


def running_pid(supervisor: Supervisor, name: str) -> int | None:
    status = supervisor.get(name)
    if status is None or status.pid is None:
        return None
    if status.state not in (ProcessState.RUNNING, ProcessState.STARTING):
        return None
    return status.pid


@dataclass(frozen=True)
class CheckedServer:
    """A health-checked server; one HAProxy has not seen yet starts down, waiting for its checks."""

    backend: str
    server: str
    address: str
    port: int
    settle_s: int = 0  # interval x unhealthy threshold: how long a new failing target stays `initial`


async def install(
    supervisor: Supervisor | None,
    name: str,
    paths: BalancerPaths,
    text: str,
    files: Iterable[str] = (),
    checked: Sequence[CheckedServer] = (),
    before_reload: Callable[[], Awaitable[None]] | None = None,
) -> bool:
    """Make the HAProxy `name` run `text`. Returns whether anything changed (False: already so).
    `before_reload` runs just before a running HAProxy is reloaded (its counters end with its worker)."""
    if supervisor is None:
        raise LoadBalancerError("the load balancer data plane needs the daemon's supervisor")
    lock = _locks.setdefault(str(paths.root), asyncio.Lock())
    async with lock:
        return await _install_locked(supervisor, name, paths, text, list(files), checked, before_reload)


async def _install_locked(
    supervisor: Supervisor,
    name: str,
    paths: BalancerPaths,
    text: str,
    files: list[str],
    checked: Sequence[CheckedServer],
    before_reload: Callable[[], Awaitable[None]] | None = None,
) -> bool:
    paths.make()
    wanted = fingerprint(text, files)
    pid = running_pid(supervisor, name)
    installed = paths.applied.read_text().strip() if paths.applied.exists() else None
    if pid is not None and installed == wanted and await _answers(paths):
        return False
    if not paths.server_state.exists():
        paths.server_state.write_text(_STATE_HEADER)
    paths.candidate.write_text(text)
    try:
        await check_config(paths.candidate)
    except ConfigRejected:
        paths.candidate.unlink(missing_ok=True)
        raise
    previous = paths.config.read_text() if paths.config.exists() else None
    if pid is not None:
        if before_reload is not None:
            await before_reload()
        await _save_server_state(paths)
    _add_new_servers(paths, checked)
    os.replace(paths.candidate, paths.config)
    try:
        if pid is None:
            await _start(supervisor, name, paths)
        else:
            await _reload(supervisor, name, paths, pid)
    except LoadBalancerError:
        if previous is not None:
            paths.config.write_text(previous)  # what still runs, for the next (re)start
        paths.applied.unlink(missing_ok=True)
        raise
    paths.applied.write_text(wanted + "\n")
    return True


async def _answers(paths: BalancerPaths) -> bool:
    try:
        await runtime_api.worker_pid(paths.stats_socket)
    except runtime_api.RuntimeApiError:
        return False
    return True


async def _save_server_state(paths: BalancerPaths) -> None:
    try:
        state = await runtime_api.command(paths.stats_socket, "show servers state")
    except runtime_api.RuntimeApiError as exc:
        log.warning("cannot save server state of %s before reload: %s", paths.root.name, exc)
        return
    if state.startswith("1\n"):
        tmp = paths.server_state.with_suffix(".tmp")
        tmp.write_text(state)
        os.replace(tmp, paths.server_state)


_STATE_HEADER = (
    "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight"
    " srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state"
    " srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl"
    " srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n"
)


def pending_path(paths: BalancerPaths) -> Path:
    """Servers that started down and have not been seen up or failing yet (AWS's `initial`)."""
    return paths.root / "new-targets.json"


def _add_new_servers(paths: BalancerPaths, checked: Sequence[CheckedServer]) -> None:
    """Servers the state file does not know start stopped with no check done (HAProxy would start them
    up): like ALB, a new target gets traffic once it passes its healthy threshold, or when no target
    is healthy (fail-open)."""
    text = paths.server_state.read_text() if paths.server_state.exists() else ""
    if not text.startswith("1\n"):
        text = _STATE_HEADER
    known = set()
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 3 and not line.startswith("#"):
            known.add((fields[1], fields[3]))
    added = []
    for s in checked:
        if (s.backend, s.server) in known:
            continue
        # op_state 0 (stopped), admin 0, weights 1, check status 1 (INI), result 0, health 0,
        # check state 6 (configured + enabled).
        added.append(
            f"0 {s.backend} 0 {s.server} {s.address} 0 0 1 1 0 1 0 0 6 0 0 0 - {s.port} - 0 0 - - 0\n"
        )
    if not text.endswith("\n"):
        text += "\n"
    tmp = paths.server_state.with_suffix(".tmp")
    tmp.write_text(text + "".join(added))
    os.replace(tmp, paths.server_state)
    pending = read_pending(paths)
    for s in checked:
        if (s.backend, s.server) not in known:
            pending[f"{s.backend}/{s.server}"] = s.settle_s
    still = {f"{s.backend}/{s.server}" for s in checked}
    write_pending(paths, {name: settle for name, settle in pending.items() if name in still})


def read_pending(paths: BalancerPaths) -> dict[str, int]:
    try:
        data = json.loads(pending_path(paths).read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): int(v) for k, v in data.items()} if isinstance(data, dict) else {}


def write_pending(paths: BalancerPaths, pending: dict[str, int]) -> None:
    tmp = pending_path(paths).with_suffix(".tmp")
    tmp.write_text(json.dumps(pending, sort_keys=True))
    os.replace(tmp, pending_path(paths))


async def _start(supervisor: Supervisor, name: str, paths: BalancerPaths) -> None:
    spec = process_spec(name, paths)
    await supervisor.ensure(spec)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if await _answers(paths):
            return
        status = supervisor.get(name)
        if status is not None and status.state not in (ProcessState.RUNNING, ProcessState.STARTING):
            break
        await asyncio.sleep(0.05)
    tail = _log_tail(supervisor, name)
    await supervisor.stop(name)  # no restart loop: the next apply tries again
    raise LoadBalancerError(f"HAProxy {name} did not start: {tail}")


async def _reload(supervisor: Supervisor, name: str, paths: BalancerPaths, master_pid: int) -> None:
    try:
        old_worker = await runtime_api.worker_pid(paths.stats_socket)
    except runtime_api.RuntimeApiError:
        old_worker = None
    os.kill(master_pid, signal.SIGUSR2)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        try:
            worker = await runtime_api.worker_pid(
                paths.stats_socket,
            )
        except runtime_api.RuntimeApiError:
            continue
        if worker != old_worker:
            return
    raise LoadBalancerError(f"HAProxy {name} did not reload: {_log_tail(supervisor, name)}")


def _log_tail(supervisor: Supervisor, name: str, lines: int = 10) -> str:
    status = supervisor.get(name)
    if status is None:
        return "no process"
    try:
        tail = status.log_path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        tail = []
    return " | ".join(tail) or f"state {status.state}"


async def uninstall(supervisor: Supervisor | None, name: str, paths: BalancerPaths) -> None:
    lock = _locks.setdefault(str(paths.root), asyncio.Lock())
    async with lock:
        if supervisor is not None:
            await supervisor.stop(name)
        paths.remove()
