"""`onebox up | down | status | doctor`: the stable command-line interface."""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from onebox.config import DEFAULT_PORT, Config, default_state_dir, load_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="onebox", description="An AWS cloud that really runs, on one machine."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="start onebox (foreground unless --detach)")
    up.add_argument(
        "--detach", action="store_true", help="run in the background; return once the API answers"
    )
    up.add_argument("--port", type=int, default=None, help=f"API port on 127.0.0.1 (default {DEFAULT_PORT})")
    _state_dir_option(up)

    down = commands.add_parser("down", help="stop the daemon and every process it supervises")
    _state_dir_option(down)

    status = commands.add_parser("status", help="show the daemon, its services and supervised processes")
    _state_dir_option(status)

    mail = commands.add_parser("mail", help="show the emails SNS delivered to the local mailbox")
    _state_dir_option(mail)

    doctor = commands.add_parser("doctor", help="check this host and say how to fix what is missing")
    doctor.add_argument("--port", type=int, default=DEFAULT_PORT)

    args = parser.parse_args(argv)
    if args.command == "doctor":
        from onebox.doctor import run_doctor

        return run_doctor(args.port)
    config = load_config(_resolve_state_dir(args.state_dir), getattr(args, "port", None))
    if args.command == "up":
        return cmd_up(config, args.detach)
    if args.command == "down":
        return cmd_down(config)
    if args.command == "mail":
        return cmd_mail(config)
    return cmd_status(config)


def _state_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="where onebox keeps its state (default $ONEBOX_HOME or ~/.local/share/onebox)",
    )
    parser.set_defaults(state_dir=None)


def _resolve_state_dir(path: Path | None) -> Path:
    return (path or default_state_dir()).expanduser().resolve()


def cmd_up(config: Config, detach: bool) -> int:
    running = running_daemon_pid(config)
    if running is not None and health(config) is not None:
        print(f"onebox is already running (pid {running}) at {config.endpoint}")
        return 0
    if not detach:
        return _run_foreground(config)
    config.log_dir.mkdir(parents=True, exist_ok=True)
    log_path = config.log_dir / "daemon.log"
    started = time.monotonic()
    print("Starting onebox...", flush=True)
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "onebox.daemon",
                "--state-dir",
                str(config.state_dir),
                "--port",
                str(config.port),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    while True:
        state = health(config)
        if state is not None and state.get("pid") == process.pid:
            break
        if process.poll() is not None:
            print(
                f"onebox failed to start (exit {process.returncode}); last lines of {log_path}:",
                file=sys.stderr,
            )
            print(_tail(log_path), file=sys.stderr)
            return 1
        if time.monotonic() - started > 60:
            print(f"onebox did not answer within 60 s; see {log_path}", file=sys.stderr)
            return 1
        time.sleep(0.02)
    print(f"Ready in {time.monotonic() - started:.2f} s.")
    _print_banner(config, process.pid)
    return 0


def _run_foreground(config: Config) -> int:
    import logging

    from onebox.daemon import Daemon

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    daemon = Daemon(config, on_ready=lambda: _print_banner(config, os.getpid(), foreground=True))
    try:
        import uvloop

        uvloop.run(daemon.run())
    except KeyboardInterrupt:
        pass
    return 0


def _print_banner(config: Config, pid: int, foreground: bool = False) -> None:
    key = config.credentials[0]
    aws = "aws" if shutil.which("aws") else str(Path(sys.executable).parent / "aws")
    lines = [
        f"onebox is running (pid {pid})",
        f"  endpoint     {config.endpoint}",
        f"  credentials  access key {key.access_key}, secret {key.secret_key} (account {key.account_id})",
        f"  region       {config.region}",
        f"  state        {config.state_dir}",
        "",
        "Try:",
        f"  export AWS_ACCESS_KEY_ID={key.access_key} AWS_SECRET_ACCESS_KEY={key.secret_key} "
        f"AWS_DEFAULT_REGION={config.region}",
        f"  {aws} --endpoint-url {config.endpoint} sts get-caller-identity",
        f"  {aws} --endpoint-url {config.endpoint} ec2 describe-availability-zones",
        "",
        "Stop with Ctrl-C." if foreground else "Stop with: onebox down",
    ]
    print("\n".join(lines), flush=True)


def cmd_down(config: Config) -> int:
    from onebox.host.supervisor import stop_all_from_pidfiles

    pid = running_daemon_pid(config)
    if pid is not None:
        print(f"Stopping onebox (pid {pid})...", flush=True)
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            print("the daemon did not stop within 60 s; killing it", file=sys.stderr)
            os.kill(pid, signal.SIGKILL)
    # Children of a daemon that died without cleaning up are stopped from their pid files.
    stopped = stop_all_from_pidfiles(config.run_dir)
    if stopped:
        print(f"Stopped {len(stopped)} process(es) left by an earlier daemon: {', '.join(stopped)}")
    _clear_names(config)
    from onebox.host.teardown import release_host_resources  # what a crashed daemon left behind

    released = release_host_resources(config.state_dir)
    if released:
        print(f"Released host resources of: {', '.join(released)}")
    config.daemon_pid_file.unlink(missing_ok=True)
    print("onebox is stopped.")
    return 0


def cmd_status(config: Config) -> int:
    pid = running_daemon_pid(config)
    if pid is None:
        print(f"onebox is not running (state dir {config.state_dir})")
        return 3
    state = _get_json(config, "/_onebox/status")
    if state is None:
        print(f"onebox daemon (pid {pid}) is not answering at {config.endpoint}")
        return 1
    print(f"onebox is running (pid {pid}) at {config.endpoint}, up {state['uptime_seconds']:.0f} s")
    print(f"  state dir  {config.state_dir}")
    print(f"  services   {', '.join(state['services'])}")
    from onebox.host.instances.drivers import default_driver_name

    print(f"  instances  {default_driver_name()} driver")
    processes = state.get("processes", [])
    print(f"  processes  {len(processes)}")
    for process in processes:
        print(
            f"    {process['name']:<28} {process['state']:<9} pid {process['pid'] or '-':<8} "
            f"restarts {process['restarts']}  log {process['log_path']}"
        )
    return 0


def cmd_mail(config: Config) -> int:
    from onebox.services.sns.mailbox import format_message, mail_dir, read_all

    messages = read_all(config.state_dir)
    if not messages:
        print(f"No mail in {mail_dir(config.state_dir)}")
        return 0
    for number, message in enumerate(messages, 1):
        print(f"--- message {number} of {len(messages)} ---")
        print(format_message(message))
    return 0


def running_daemon_pid(config: Config) -> int | None:
    try:
        pid = int(config.daemon_pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if _alive(pid) else None


def health(config: Config) -> dict | None:
    return _get_json(config, "/_onebox/health")


def _get_json(config: Config, path: str) -> dict | None:
    connection = http.client.HTTPConnection(config.host, config.port, timeout=2)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return json.loads(response.read()) if response.status == 200 else None
    except (OSError, ValueError, http.client.HTTPException):
        return None
    finally:
        connection.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is not alive for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _clear_names(config: Config) -> None:
    from onebox.names import clear_names

    clear_names(config)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def entrypoint() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entrypoint()
