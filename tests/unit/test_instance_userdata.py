"""User data parsing: #! scripts, the cloud-config subset, gzip, and what is ignored."""

from __future__ import annotations

import base64
import gzip

from onebox.host.instances import userdata


def test_script_and_empty_and_unknown() -> None:
    assert userdata.parse(b"").kind == "none"
    script = userdata.parse(b"#!/bin/bash\necho hi\n")
    assert script.kind == "script" and script.script.startswith(b"#!/bin/bash")
    assert userdata.parse(b"echo no shebang").kind == "unknown"


def test_gzip_user_data_is_unpacked() -> None:
    assert userdata.parse(gzip.compress(b"#!/bin/sh\ntrue\n")).kind == "script"


def test_cloud_config_write_files_runcmd_bootcmd() -> None:
    text = (
        b"""#cloud-config
write_files:
  - path: /etc/app.conf
    content: hello
    permissions: '0600'
  - path: /etc/blob
    encoding: b64
    content: """
        + base64.b64encode(b"\x00binary")
        + b"""
    append: true
runcmd:
  - echo one
  - [sh, -c, "echo two words"]
bootcmd:
  - echo boot
packages: [nginx]
"""
    )
    parsed = userdata.parse(text)
    assert parsed.kind == "cloud-config"
    assert [(f.path, f.content, f.permissions, f.append) for f in parsed.write_files] == [
        ("/etc/app.conf", b"hello", 0o600, False),
        ("/etc/blob", b"\x00binary", 0o644, True),
    ]
    assert parsed.runcmd == "#!/bin/sh\necho one\nsh -c 'echo two words'\n"
    assert parsed.bootcmd == "#!/bin/sh\necho boot\n"
    assert parsed.ignored == ["packages"]
