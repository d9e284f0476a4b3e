"""Base image ids and the layer store."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from onebox.host.images import HOST_ROOT, LayerStore
from onebox.services.ec2.images import AMI_ID, BASE_IMAGES, base_image_id


def test_base_image_ids_are_stable_valid_and_per_region() -> None:
    first = base_image_id("us-east-1", BASE_IMAGES[0].name)
    assert first == base_image_id("us-east-1", BASE_IMAGES[0].name)
    assert AMI_ID.match(first)
    assert first != base_image_id("eu-west-1", BASE_IMAGES[0].name)
    assert len({base_image_id("us-east-1", b.name) for b in BASE_IMAGES}) == len(BASE_IMAGES)


def test_freeze_copies_an_upper_dir_into_a_layer(tmp_path: Path) -> None:
    store = LayerStore(tmp_path)
    upper = tmp_path / "upper"
    (upper / "var" / "www").mkdir(parents=True)
    (upper / "var" / "www" / "index.php").write_text("<?php echo 1;")
    os.symlink("index.php", upper / "var" / "www" / "link.php")
    layer = store.freeze(upper, "layer-1")
    assert (layer / "var" / "www" / "index.php").read_text() == "<?php echo 1;"
    assert os.readlink(layer / "var" / "www" / "link.php") == "index.php"
    (upper / "var" / "www" / "index.php").write_text("changed")
    assert (layer / "var" / "www" / "index.php").read_text() == "<?php echo 1;"  # a copy, not a link
    assert store.freeze(upper, "layer-1") == layer  # idempotent
    assert store.lower_dirs(["layer-1"]) == [layer, HOST_ROOT]
    store.delete("layer-1")
    assert not store.exists("layer-1")


@pytest.mark.skipif(os.geteuid() != 0, reason="whiteouts are device nodes: root only")
def test_freeze_keeps_overlay_whiteouts(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    os.mknod(upper / "etc" / "deleted.conf", 0o600 | 0o020000, os.makedev(0, 0))
    layer = LayerStore(tmp_path).freeze(upper, "layer-w")
    info = os.stat(layer / "etc" / "deleted.conf", follow_symlinks=False)
    assert os.major(info.st_rdev) == 0 and os.minor(info.st_rdev) == 0
    assert subprocess.run(["test", "-c", str(layer / "etc" / "deleted.conf")]).returncode == 0
