"""The onebox daemon: one asyncio process wiring the gateway, store, services, supervisor and controllers.

Run as `python -m onebox.daemon --state-dir DIR --port N` (what `onebox up` starts). SIGTERM or
SIGINT stop it cleanly with every child it supervises; a SIGKILL leaves the children serving,
and the next daemon adopts them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import uvicorn

from onebox.aws.credentials import Credential, CredentialStore
from onebox.clock import Clock
from onebox.config import Config, load_config
from onebox.controllers import ControllerManager
from onebox.gateway import Gateway
from onebox.host.supervisor import ProcessSpec, Supervisor
from onebox.host.teardown import release_host_resources
from onebox.names import GATEWAY_NAMES, NameRegistry, clear_names
from onebox.runtime import Runtime
from onebox.services.registry import ServiceRegistry
from onebox.store import Store

log = logging.getLogger("onebox.daemon")


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside our own loop: the daemon, not uvicorn, owns the signals and the shutdown."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Daemon:
    def __init__(
        self, config: Config, clock: Clock | None = None, on_ready: Callable[[], None] | None = None
    ) -> None:
        self.config = config
        self.clock = clock or Clock()
        self.on_ready = on_ready
        self._stop = asyncio.Event()
        self.runtime: Runtime | None = None

    def request_stop(self) -> None:
        self._stop.set()

    async def _start_controllers(self, runtime: Runtime, controllers: ControllerManager) -> None:
        """Load every model and service module after the API answers, then start their controllers."""
        try:
            await asyncio.to_thread(runtime.services.warm)
            for controller, changes in runtime.services.controllers(runtime):
                controllers.add(controller, changes)
            await controllers.start()
        except Exception:
            log.exception("starting controllers failed")

    async def run(self) -> None:
        config = self.config
        for directory in (config.state_dir, config.run_dir, config.log_dir):
            directory.mkdir(parents=True, exist_ok=True)
        lock = _lock_state_dir(config)
        store = Store.open(config.db_path, self.clock)
        credentials = CredentialStore(
            [Credential(k.access_key, k.secret_key, k.account_id) for k in config.credentials]
        )
        supervisor = Supervisor(config.run_dir, config.log_dir, self.clock)
        await supervisor.start()  # adopts what a killed daemon left running
        names = NameRegistry(config)
        for name in GATEWAY_NAMES:
            names.set(name, config.host)
        await supervisor.ensure(dns_process_spec(config, names))
        runtime = Runtime(config=config, clock=self.clock, store=store, credentials=credentials)
        runtime.supervisor = supervisor
        runtime.names = names
        runtime.services = ServiceRegistry()
        self.runtime = runtime
        runtime.started_at = self.clock.time()

        server = _EmbeddedServer(
            uvicorn.Config(
                Gateway(runtime),
                host=config.host,
                port=config.port,
                loop="none",
                http="httptools",
                lifespan="off",
                access_log=False,
                log_level="warning",
                server_header=False,
                date_header=True,
            )
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        serve_task = asyncio.create_task(server.serve())
        while not server.started:
            if serve_task.done():
                serve_task.result()  # re-raise why the server could not start (port in use...)
                raise RuntimeError("the API server stopped during start-up")
            await asyncio.sleep(0.005)
        _write_atomically(config.daemon_port_file, str(config.port))
        _write_atomically(config.daemon_pid_file, str(os.getpid()))
        controllers = ControllerManager()
        background = asyncio.create_task(self._start_controllers(runtime, controllers))
        log.info("onebox listening on %s", config.endpoint)
        if self.on_ready is not None:
            self.on_ready()
        try:
            await self._stop.wait()
        finally:
            server.should_exit = True
            background.cancel()
            await controllers.stop()
            await serve_task
            await supervisor.stop_all()
            supervisor.close()
            # Whatever the controllers did not get to (e.g. stopped before warm-up finished).
            await asyncio.to_thread(release_host_resources, config.state_dir)
            clear_names(config)
            store.close()
            config.daemon_pid_file.unlink(missing_ok=True)
            config.daemon_port_file.unlink(missing_ok=True)
            lock.close()


def dns_process_spec(config: Config, names: NameRegistry) -> ProcessSpec:
    return ProcessSpec(
        name="dns",
        argv=[
            sys.executable,
            "-m",
            "onebox.host.dns_server",
            "--zone",
            str(names.zone_path),
            "--listen",
            f"{config.host}:{config.dns_port}",
        ],
    )


def _lock_state_dir(config: Config) -> IO[str]:
    """One daemon per state dir: a second would adopt and fight over the same children."""
    lock = open(config.run_dir / "daemon.lock", "w")  # noqa: SIM115 - held for the daemon's lifetime
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise SystemExit(f"another onebox daemon is already using {config.state_dir}") from None
    return lock


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text)
    temporary.replace(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="onebox-daemon")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    config = load_config(args.state_dir, args.port)
    config.log_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a pinned dependency
        runner = asyncio.run
    runner(Daemon(config).run())


if __name__ == "__main__":
    main()
