"""A DB instance's storage: an ext4 filesystem of exactly AllocatedStorage GiB in a sparse image file,
loop-mounted where the data directory lives. The database cannot grow beyond it (the kernel answers
ENOSPC), FreeStorageSpace is the filesystem's own free space, and the image costs only what is
written. Growing it is offline here (resize2fs online needs CAP_SYS_RESOURCE, which onebox's
container lacks): unmount, extend the file, resize2fs, mount.

Without root (or without loop devices) the data directory is a plain directory and the quota is not
enforced; `enforced()` says which."""

from __future__ import annotations

import functools
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

GIB = 1024**3
# mkfs options: no reserved blocks (all AllocatedStorage is the database's), inode tables initialised
# lazily (a 20 GiB filesystem is made in a few milliseconds and writes ~4 MiB into the image).
MKFS = ["mkfs.ext4", "-q", "-F", "-m", "0", "-E", "lazy_itable_init=1,lazy_journal_init=1"]


class VolumeError(Exception):
    pass


@dataclass(frozen=True)
class Space:
    total: int
    free: int


def _run(argv: list[str]) -> str:
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise VolumeError(f"{' '.join(argv[:4])} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout


@functools.cache
def enforced() -> bool:
    """True when storage can be a real filesystem of its own: root, and a loop device can be had
    (`losetup -f` finds or makes a free one; containers often have /dev/loop-control but no loops)."""
    if os.geteuid() != 0 or not Path("/dev/loop-control").exists():
        return False
    return subprocess.run(["losetup", "-f"], capture_output=True).returncode == 0


def mounted(mountpoint: Path) -> bool:
    return os.path.ismount(mountpoint)


def ensure(image: Path, mountpoint: Path, gib: int) -> None:
    """Mount the instance's filesystem at `mountpoint`, making it (sparse, `gib` GiB) if new and growing
    it first if it is smaller than `gib`. Idempotent; a plain directory when not `enforced()`."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    if not enforced() or mounted(mountpoint):
        return
    wanted = gib * GIB
    if not image.exists():
        with open(image, "wb") as f:
            f.truncate(wanted)
        os.chmod(image, 0o600)
        _run([*MKFS, str(image)])
    elif image.stat().st_size < wanted:
        _grow_unmounted(image, wanted)
    _run(["mount", "-o", "loop,noatime", str(image), str(mountpoint)])
    os.chmod(mountpoint, 0o700)


def size(image: Path) -> int:
    """The filesystem's size in bytes (the image's length), 0 if there is none."""
    return image.stat().st_size if image.exists() else 0


def grow(image: Path, mountpoint: Path, gib: int) -> None:
    """Make the filesystem `gib` GiB. The caller has stopped the database server."""
    release(mountpoint)
    _grow_unmounted(image, gib * GIB)
    ensure(image, mountpoint, gib)


def _grow_unmounted(image: Path, wanted: int) -> None:
    with open(image, "r+b") as f:
        f.truncate(wanted)
    _run(["e2fsck", "-f", "-p", str(image)])
    _run(["resize2fs", str(image)])


def release(mountpoint: Path) -> None:
    """Unmount (the loop device goes with it: mount -o loop sets autoclear). Lazy if still busy."""
    if mounted(mountpoint):
        if subprocess.run(["umount", str(mountpoint)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True)


def space(path: Path) -> Space:
    """Size and free space of the filesystem holding `path`."""
    stat = os.statvfs(path)
    return Space(stat.f_blocks * stat.f_frsize, stat.f_bavail * stat.f_frsize)


def release_all(root: Path) -> list[str]:
    """Unmount every instance filesystem under `root` (`onebox down`, after the servers stopped)."""
    released = []
    if root.is_dir():
        for mountpoint in sorted(root.glob("*/volume")):
            if mounted(mountpoint):
                release(mountpoint)
                released.append(mountpoint.parent.name)
    return released
