"""Running Terraform's AWS provider from the machine's filesystem mirror, for live tests.

Tests using it are skipped where the machine has no terraform or no mirror of hashicorp/aws
(ONEBOX_TF_MIRROR, default /opt/tf-plugins): Terraform cannot download providers here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

MIRROR = Path(os.environ.get("ONEBOX_TF_MIRROR", "/opt/tf-plugins"))
HAVE_TERRAFORM = (
    shutil.which("terraform") is not None and (MIRROR / "registry.terraform.io/hashicorp/aws").is_dir()
)
needs_terraform = pytest.mark.skipif(
    not HAVE_TERRAFORM, reason="terraform or its hashicorp/aws mirror is not on this machine"
)


def terraform(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`terraform ARGS` in `workdir`, installing providers only from the mirror."""
    cli_config = workdir / "terraformrc"
    cli_config.write_text(
        f'provider_installation {{\n  filesystem_mirror {{\n    path = "{MIRROR}"\n  }}\n}}\n'
    )
    env = {
        **os.environ,
        "TF_CLI_CONFIG_FILE": str(cli_config),
        "TF_IN_AUTOMATION": "1",
        "CHECKPOINT_DISABLE": "1",
    }
    return subprocess.run(
        ["terraform", *args], cwd=workdir, env=env, capture_output=True, text=True, timeout=600
    )
