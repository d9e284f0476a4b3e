"""The init of an instance: PID 1 of its PID namespace (namespace driver) or the leader of its process
group (process driver).

At every start it: mounts the root (overlayfs: the image's read-only layers over the host root, plus
the instance's own writable directory), /proc, /sys, a small /dev, tmpfs /run and /tmp; sets the
hostname; brings up loopback with 169.254.169.254 on it and serves the instance metadata there; makes
the overlay the root (pivot_root); writes the key pair's public key to /root/.ssh/authorized_keys;
then runs, in order:

1. cloud-config `bootcmd` (every boot),
2. `/etc/rc.local` if it exists and is executable (every boot): the convention for an image's own
   services, the way SysV-style systems start local services (an image made from an instance whose
   user data wrote /etc/rc.local starts those services without user data),
3. user data, once per instance id (like cloud-init: the marker lives under
   /var/lib/cloud/instances/<instance-id>/sem/, so an instance launched from an image made of another
   instance runs its own user data again).

Everything they print goes to the console log, which GetConsoleOutput returns. Then it reaps orphans
until SIGTERM (a stop, terminate or reboot: EC2's ACPI shutdown), when it halts the way an OS does: it
asks every process of the instance to stop (SIGTERM, then SIGCONT for stopped ones), waits up to 5 s for
them, kills the rest and exits.

Signals: as PID 1 of its namespace the init gets only the signals it has a handler for (or blocks), so
the launcher starts it with SIGTERM/SIGINT blocked; it unblocks them once its handler is in place (a
stop requested during start-up is then acted on at once). Its helper threads (metadata, syslog) keep
them blocked, so the kernel always delivers them to the main thread, whose blocking calls they
interrupt; the idle loop waits for them with sigwaitinfo, which cannot miss one.

`python -m onebox.host.instances.init CONFIG`
"""

from __future__ import annotations

import base64
import ctypes
import grp
import os
import pwd
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

try:  # imported before pivot_root: afterwards the interpreter's own files may not be in the image
    import yaml  # noqa: F401 - used by userdata.parse for #cloud-config
except ImportError:
    pass

from onebox.host import imds
from onebox.host.instances import syslog, userdata
from onebox.host.instances.boot import BootConfig

SYS_PIVOT_ROOT = 155  # x86_64
MNT_DETACH = 2
PR_SET_CHILD_SUBREAPER = 36
STOP_GRACE_SECONDS = 5.0
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


SHUTDOWN_SIGNALS = {signal.SIGTERM, signal.SIGINT}
WAKE_SIGNALS = SHUTDOWN_SIGNALS | {signal.SIGCHLD}


class Shutdown(BaseException):
    """The instance is asked to halt (a BaseException: no `except Exception` on the way swallows it)."""


@contextmanager
def _signals_blocked() -> Iterator[None]:
    """Threads started inside inherit a mask without the wake-up signals, so those always reach the
    main thread; a signal arriving meanwhile is handled when the block ends."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, WAKE_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class Console:
    def __init__(self, path: Path) -> None:
        self.file: BinaryIO = open(path, "ab", buffering=0)  # noqa: SIM115 - lives as long as init

    def log(self, message: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
        self.file.write(f"[{stamp}] {message}\n".encode())


def _run(argv: list[str]) -> None:
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _mount(source: str, target: str, fstype: str, options: str = "") -> None:
    argv = ["mount", "-t", fstype]
    if options:
        argv += ["-o", options]
    _run([*argv, source, target])


def _make_dev(dev: Path) -> None:
    _mount("tmpfs", str(dev), "tmpfs", "mode=755,size=65536k,nosuid")
    for name, major, minor in (
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ):
        os.mknod(dev / name, 0o666 | 0o020000, os.makedev(major, minor))
        os.chmod(dev / name, 0o666)
    for name, target in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ):
        os.symlink(target, dev / name)
    (dev / "pts").mkdir()
    _mount("devpts", str(dev / "pts"), "devpts", "newinstance,ptmxmode=0666,mode=620")
    (dev / "shm").mkdir()
    _mount("tmpfs", str(dev / "shm"), "tmpfs", "mode=1777,nosuid,nodev")


def _mask_proc(proc: Path, null: Path) -> None:
    """What a root process inside must not reach on the host kernel (as container runtimes do):
    /proc/sys read-only, and the host's sysrq, kcore, keys and timer list covered."""
    _run(["mount", "--bind", str(proc / "sys"), str(proc / "sys")])
    _run(["mount", "-o", "remount,bind,ro", str(proc / "sys")])
    for name in ("sysrq-trigger", "kcore", "keys", "timer_list"):
        if (proc / name).exists():
            _run(["mount", "--bind", str(null), str(proc / name)])


# Capabilities no instance process gets (bounding set): loading modules, raw I/O, mounts and other
# admin operations, rebooting the host, setting its clock, creating device nodes, kernel logs, BPF.
DROPPED_CAPABILITIES = (16, 17, 21, 22, 25, 27, 30, 32, 33, 34, 35, 36, 37, 38, 39, 40)
PR_CAPBSET_DROP = 24


def _drop_capabilities() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in DROPPED_CAPABILITIES:
        libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0)  # unknown to an older kernel: EINVAL, ignored


def _pivot_root(new_root: Path) -> None:
    """Make `new_root` the root of this mount namespace and drop the host's tree (runc's trick:
    pivot_root(".", ".") stacks the old root on the new one, then a lazy unmount removes it)."""
    libc = ctypes.CDLL(None, use_errno=True)
    os.chdir(new_root)
    if libc.syscall(SYS_PIVOT_ROOT, b".", b".") != 0:
        raise OSError(ctypes.get_errno(), "pivot_root failed")
    if libc.umount2(b".", MNT_DETACH) != 0:
        raise OSError(ctypes.get_errno(), "unmounting the host root failed")
    os.chdir("/")


def setup_namespace_root(config: BootConfig, console: Console) -> None:
    instance_dir = Path(config.instance_dir)
    upper, work, merged = instance_dir / "upper", instance_dir / "work", instance_dir / "merged"
    for directory in (upper, work, merged):
        directory.mkdir(exist_ok=True)
    lowers = list(config.lower_dirs)
    if len(lowers) > 1:
        # overlayfs refuses a lower layer inside another lower layer ("overlapping lowerdir path"), and
        # image layers live under the host root. So the host root first becomes a read-only overlay of
        # its own (other dentries; its second lower is an empty tmpfs, outside /), and the image layers
        # stack on that: two overlay levels, which the kernel allows.
        empty, base = instance_dir / "empty", instance_dir / "base"
        empty.mkdir(exist_ok=True)
        base.mkdir(exist_ok=True)
        _mount("tmpfs", str(empty), "tmpfs", "ro,size=4k,mode=755")
        _mount("overlay", str(base), "overlay", f"lowerdir={empty}:{lowers[-1]}")
        lowers[-1] = str(base)
    lower = ":".join(lowers)
    _mount("overlay", str(merged), "overlay", f"lowerdir={lower},upperdir={upper},workdir={work}")
    _mount("proc", str(merged / "proc"), "proc", "nosuid,nodev,noexec")
    _mount("sysfs", str(merged / "sys"), "sysfs", "ro,nosuid,nodev,noexec")
    _make_dev(merged / "dev")
    _mask_proc(merged / "proc", merged / "dev" / "null")
    _mount("tmpfs", str(merged / "run"), "tmpfs", "mode=755,nosuid,nodev")
    _mount("tmpfs", str(merged / "tmp"), "tmpfs", "mode=1777,nosuid,nodev")
    for hidden in config.hide:
        target = merged / hidden.lstrip("/")
        if target.is_dir():
            _mount("tmpfs", str(target), "tmpfs", "ro,mode=755,size=4k")
    socket.sethostname(config.hostname)
    _run(["ip", "link", "set", "lo", "up"])
    _run(["ip", "addr", "replace", f"{config.imds_address}/32", "dev", "lo"])
    # The IMDS cannot listen on port 80 itself: a listener on 169.254.169.254:80 would stop the
    # instance's own servers from binding 0.0.0.0:80. It listens on a port outside the ephemeral range
    # and this instance-local rule sends 169.254.169.254:80 there.
    rules = (
        "table ip onebox_imds {\n chain output {\n  type nat hook output priority -100;\n"
        f"  ip daddr {config.imds_address} tcp dport 80 dnat to {config.imds_address}:{config.imds_port}\n"
        " }\n}\n"
    )
    subprocess.run(["nft", "-f", "-"], input=rules.encode(), check=True, capture_output=True)
    _pivot_root(merged)
    console.log(
        f"onebox-init: root is overlayfs over {len(config.lower_dirs)} layer(s); hostname {config.hostname}"
    )


def _write_public_keys(keys: list[str], root: Path) -> None:
    if not keys:
        return
    ssh = root / "root" / ".ssh"
    ssh.mkdir(parents=True, exist_ok=True)
    os.chmod(ssh, 0o700)
    target = ssh / "authorized_keys"
    existing = target.read_text().splitlines() if target.exists() else []
    lines = existing + [key.strip() for key in keys if key.strip() not in existing]
    target.write_text("\n".join(lines) + "\n")
    os.chmod(target, 0o600)


def _run_script(path: Path, console: Console, env: dict[str, str], cwd: Path) -> None:
    console.log(f"onebox-init: running {path}")
    result = subprocess.run(
        [str(path)], stdin=subprocess.DEVNULL, stdout=console.file, stderr=console.file, env=env, cwd=cwd
    )
    console.log(f"onebox-init: {path} exited with status {result.returncode}")


def _chown(path: Path, owner: str) -> None:
    user, _, group = owner.partition(":")
    try:
        uid = pwd.getpwnam(user).pw_uid if user else -1
        gid = grp.getgrnam(group).gr_gid if group else -1
        os.chown(path, uid, gid)
    except (KeyError, PermissionError):
        pass


def run_boot_scripts(config: BootConfig, console: Console, root: Path, env: dict[str, str]) -> None:
    data = userdata.parse(base64.b64decode(config.user_data_b64))
    state = root / "var" / "lib" / "cloud" / "instances" / config.instance_id
    scripts = state / "scripts"
    scripts.mkdir(parents=True, exist_ok=True)
    if data.bootcmd:
        bootcmd = scripts / "bootcmd"
        bootcmd.write_text(data.bootcmd)
        bootcmd.chmod(0o700)
        _run_script(bootcmd, console, env, root)
    rc_local = root / "etc" / "rc.local"
    if rc_local.is_file() and os.access(rc_local, os.X_OK):
        _run_script(rc_local, console, env, root)
    marker = state / "sem" / "config_scripts_user"
    if marker.exists():
        console.log("onebox-init: user data already ran for this instance")
        return
    marker.parent.mkdir(parents=True, exist_ok=True)
    if data.kind == "none":
        console.log("onebox-init: no user data")
    elif data.kind == "script":
        part = scripts / "part-001"
        part.write_bytes(data.script)
        part.chmod(0o700)
        _run_script(part, console, env, root)
    elif data.kind == "cloud-config":
        for item in data.write_files:
            target = root / item.path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "ab" if item.append else "wb") as handle:
                handle.write(item.content)
            target.chmod(item.permissions)
            _chown(target, item.owner)
            console.log(f"onebox-init: write_files wrote {item.path}")
        for key in data.ignored:
            console.log(f"onebox-init: cloud-config key '{key}' is not supported, skipped")
        if data.runcmd:
            runcmd = scripts / "runcmd"
            runcmd.write_text(data.runcmd)
            runcmd.chmod(0o700)
            _run_script(runcmd, console, env, root)
    else:
        console.log("onebox-init: user data is neither a #! script nor #cloud-config, not run")
    marker.write_text(str(time.time()))


def _reap_children() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _reap_until_shutdown() -> None:
    """Reap orphans until SIGTERM/SIGINT. The signals are blocked and taken with sigwaitinfo: one that
    arrives between two waits stays pending, where pause() after a check could sleep through it."""
    signal.pthread_sigmask(signal.SIG_BLOCK, WAKE_SIGNALS)
    while True:
        _reap_children()
        if signal.sigwaitinfo(WAKE_SIGNALS).si_signo in SHUTDOWN_SIGNALS:
            raise Shutdown


def _stop_everything(config: BootConfig, console: Console) -> None:
    console.log("onebox-init: stopping all processes")
    if config.driver == "namespace":
        signal_all = lambda sig: os.kill(-1, sig)  # noqa: E731 - every process of this PID namespace
    else:
        signal_all = lambda sig: os.killpg(0, sig)  # noqa: E731 - our process group
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        signal_all(signal.SIGTERM)
        signal_all(signal.SIGCONT)  # a stopped process acts on SIGTERM once continued (as systemd does)
    except ProcessLookupError:
        console.log("onebox-init: halted")
        return
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            time.sleep(0.05)
    if config.driver == "namespace":
        try:
            signal_all(signal.SIGKILL)
        except ProcessLookupError:
            pass
    console.log("onebox-init: halted")


def main(argv: list[str]) -> None:
    config_path = Path(argv[1])
    config = BootConfig.read(config_path)
    instance_dir = Path(config.instance_dir)
    console = Console(instance_dir / "console.log")
    # Opened before pivot_root: afterwards the host's paths are gone.
    run_dir = os.open(instance_dir, os.O_RDONLY | os.O_DIRECTORY)

    def on_term(signum: int, frame: object) -> None:
        for sig in SHUTDOWN_SIGNALS:  # one halt: a second request must not interrupt the first
            signal.signal(sig, signal.SIG_IGN)
        raise Shutdown

    console.log(f"onebox-init: booting {config.instance_id} ({config.driver} driver)")
    server = None
    try:
        signal.signal(signal.SIGTERM, on_term)
        signal.signal(signal.SIGINT, on_term)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        # Blocked by the launcher until now (see the module doc): a stop requested meanwhile runs here.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, WAKE_SIGNALS)
        if config.driver == "namespace":
            setup_namespace_root(config, console)
            root = Path("/")
        else:
            root = instance_dir / "root"
            root.mkdir(exist_ok=True)
            ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        with _signals_blocked():
            server = imds.serve(imds.Imds(config.metadata), config.imds_address, config.imds_port)
            if config.driver == "namespace":
                syslog.serve(config.hostname)  # /dev/log -> /var/log/messages (host/instances/syslog.py)
        if config.driver == "namespace":
            _drop_capabilities()
        console.log(f"onebox-init: instance metadata on http://{config.imds_address}:{config.imds_port}/")
        _write_public_keys(config.public_keys, root)
        booted = os.open("booted", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644, dir_fd=run_dir)
        os.write(booted, str(os.getpid()).encode())
        os.close(booted)
        env = {"PATH": BASE_PATH, "HOME": "/root", "LANG": "C.UTF-8", "TERM": "linux"}
        if config.driver == "process":
            env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = f"http://{config.imds_address}:{config.imds_port}/"
            env["ONEBOX_INSTANCE_ROOT"] = str(root)
        run_boot_scripts(config, console, root, env)
        console.log(f"onebox-init: {config.instance_id} finished booting")
        _reap_until_shutdown()
    except Shutdown:
        if server is not None:
            server.shutdown()
        _stop_everything(config, console)
    except Exception as error:  # the console is where a failed boot is explained
        console.log(f"onebox-init: boot failed: {error!r}")
        raise
    sys.exit(0)


if __name__ == "__main__":
    main(sys.argv)
