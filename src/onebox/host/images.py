"""The image layer store: read-only directory layers stacked by overlayfs under each instance's root.

An image is an ordered list of layer ids (top first) over the base, which is the host's own root
filesystem mounted read-only: software installed on the host (PHP, nginx...) runs in instances.
CreateImage freezes an instance's writable (upper) directory as a new layer: only what the instance
changed is copied (`cp -a` keeps overlayfs whiteouts and opaque-directory xattrs), never the base.

Layout: STATE/images/layers/<layer-id>/ (complete layers only: a copy lands in `<id>.partial` and is
renamed, so a crash never leaves a half layer under a real id).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

# The lowest layer of every image: the host's root filesystem. overlayfs does not descend into
# other mounts, so /proc, /sys, /dev, /run and tmpfs mounts appear as their empty mount points.
HOST_ROOT = Path("/")


class LayerStore:
    def __init__(self, state_dir: Path) -> None:
        self.root = state_dir / "images" / "layers"

    def path(self, layer_id: str) -> Path:
        return self.root / layer_id

    def exists(self, layer_id: str) -> bool:
        return self.path(layer_id).is_dir()

    def freeze(self, upper_dir: Path, layer_id: str) -> Path:
        """Copy an instance's writable directory into a new read-only layer; idempotent per id."""
        target = self.path(layer_id)
        if target.is_dir():
            return target
        self.root.mkdir(parents=True, exist_ok=True)
        partial = self.root / f"{layer_id}.partial"
        if partial.exists():
            shutil.rmtree(partial)
        if upper_dir.is_dir():
            # -a keeps owners, modes, xattrs (trusted.overlay.opaque) and whiteout device nodes.
            subprocess.run(["cp", "-a", "--reflink=auto", str(upper_dir), str(partial)], check=True)
        else:
            partial.mkdir()
        partial.rename(target)
        return target

    def delete(self, layer_id: str) -> None:
        target = self.path(layer_id)
        if target.exists():
            doomed = self.root / f"{layer_id}.deleting"
            target.rename(doomed)
            shutil.rmtree(doomed, ignore_errors=True)

    def lower_dirs(self, layers: list[str]) -> list[Path]:
        """overlayfs lowerdir entries, top first, ending with the host root."""
        return [self.path(layer) for layer in layers] + [HOST_ROOT]

    def size_bytes(self, layers: list[str]) -> int:
        total = 0
        for layer in layers:
            for item in self.path(layer).rglob("*"):
                if item.is_file() and not item.is_symlink():
                    total += item.stat().st_size
        return total
