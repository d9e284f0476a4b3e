"""What every engine driver shares: the unprivileged OS user, the per-instance directory layout,
running a command, and copying data directories."""

from __future__ import annotations

import asyncio
import hashlib
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

# The OS user database servers run as. PostgreSQL refuses to run as root, and a database server has no
# business being root anyway.
OS_USER = "onebox-rds"


class EngineError(Exception):
    """A database engine command failed; the message carries its output."""


@dataclass(frozen=True)
class Layout:
    """Where one DB instance keeps its files. `archive` (WAL or binary logs) and backups live outside
    the instance directory, so they outlive the instance."""

    root: Path  # the instance's own directory
    archive: Path  # continuous log archive (WAL segments / binary logs)

    @property
    def volume(self) -> Path:
        """Where the instance's storage (a filesystem of AllocatedStorage GiB, see volume.py) is mounted."""
        return self.root / "volume"

    @property
    def image(self) -> Path:
        return self.root / "volume.img"

    @property
    def data(self) -> Path:
        return self.volume / "data"

    @property
    def sockets(self) -> Path:
        """Unix sockets cannot have paths over 107 bytes, and state directories can be long: a short
        private directory under /tmp, named after the instance directory."""
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:20]
        return Path(tempfile.gettempdir()) / f"onebox-rds-{digest}"

    def remove(self) -> None:
        from onebox.host.engines import volume

        volume.release(self.volume)
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.sockets, ignore_errors=True)

    @property
    def logs(self) -> Path:
        return self.root / "log"

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    def make(self) -> None:
        for path in (self.root, self.sockets, self.logs, self.archive, self.secrets):
            path.mkdir(parents=True, exist_ok=True)
            os.chmod(path, 0o700)


def ensure_os_user() -> tuple[int, int]:
    """The (uid, gid) of the database OS user, created (a system user without a home) if missing."""
    try:
        entry = pwd.getpwnam(OS_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", OS_USER],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(OS_USER)
    return entry.pw_uid, entry.pw_gid


def as_db_user(argv: list[str]) -> list[str]:
    """Run `argv` as the database OS user inside a user namespace mapping only that user onto the
    daemon's own uid (root). The server sees itself as `onebox-rds` (so PostgreSQL accepts to run), yet
    owns the root-owned state directory it lives in: no chown of the state dir, no world-readable
    parents, and the files it writes stay owned by onebox outside the namespace. It keeps no capability
    outside its namespace."""
    if os.geteuid() != 0:
        return argv  # an unprivileged daemon already runs servers as a non-root user
    uid, gid = ensure_os_user()
    return ["unshare", "--user", f"--map-user={uid}", f"--map-group={gid}", "--", *argv]


ENV = {"TZ": "UTC", "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}


async def run(
    argv: list[str], *, stdin: bytes | None = None, env: dict[str, str] | None = None, timeout: float = 600
) -> str:
    """Run a command to completion; EngineError with its output if it fails."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, **ENV, **(env or {})},
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(stdin), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise EngineError(f"{argv[0]} timed out after {timeout}s") from None
    text = output.decode(errors="replace")
    if process.returncode != 0:
        raise EngineError(f"{' '.join(argv[:6])} failed ({process.returncode}): {text[-2000:]}")
    return text


def copy_tree(source: Path, target: Path) -> None:
    """Copy a data directory (reflinks where the filesystem has them, so a copy costs little)."""
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", "--reflink=auto", str(source), str(target)], check=True, capture_output=True)


def tree_size(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


def write_secret(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
