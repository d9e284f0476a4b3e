"""User data as the instance's init understands it: a `#!` script, or a cloud-config subset.

Supported cloud-config keys: `write_files` (path, content, encoding b64/base64/gzip/gz+b64, permissions,
append, owner as user[:group] names that exist in the image) and `runcmd` (strings run by /bin/sh, or
argv lists), plus `bootcmd` (run at every boot, before anything else). Other keys are reported on the
console as ignored, the way cloud-init reports modules it does not run. gzip-compressed user data is
unpacked first, as cloud-init does.
"""

from __future__ import annotations

import base64
import gzip
import shlex
from dataclasses import dataclass, field
from typing import Any


@dataclass
class WriteFile:
    path: str
    content: bytes
    permissions: int = 0o644
    append: bool = False
    owner: str = "root:root"


@dataclass
class UserData:
    kind: str  # "script", "cloud-config", "none" or "unknown"
    script: bytes = b""
    write_files: list[WriteFile] = field(default_factory=list)
    runcmd: str = ""  # a /bin/sh script made of the runcmd entries
    bootcmd: str = ""
    ignored: list[str] = field(default_factory=list)


def _command_line(entry: Any) -> str:
    if isinstance(entry, list):
        return " ".join(shlex.quote(str(part)) for part in entry)
    return str(entry)


def _decode_content(item: dict[str, Any]) -> bytes:
    content = item.get("content", "")
    raw = content.encode() if isinstance(content, str) else bytes(content)
    encoding = str(item.get("encoding", "")).lower()
    if encoding in ("b64", "base64"):
        return base64.b64decode(raw)
    if encoding in ("gzip", "gz"):
        return gzip.decompress(raw)
    if encoding in ("gz+b64", "gzip+base64", "gz+base64", "gzip+b64"):
        return gzip.decompress(base64.b64decode(raw))
    return raw


def parse(data: bytes) -> UserData:
    if not data:
        return UserData("none")
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if data.startswith(b"#!"):
        return UserData("script", script=data)
    if data.startswith(b"#cloud-config"):
        import yaml  # PyYAML: only cloud-config needs it

        loaded = yaml.safe_load(data) or {}
        if not isinstance(loaded, dict):
            return UserData("unknown")
        files = []
        for item in loaded.get("write_files") or []:
            files.append(
                WriteFile(
                    path=str(item["path"]),
                    content=_decode_content(item),
                    permissions=int(str(item.get("permissions", "0644")), 8),
                    append=bool(item.get("append", False)),
                    owner=str(item.get("owner", "root:root")),
                )
            )
        runcmd = "".join(_command_line(entry) + "\n" for entry in loaded.get("runcmd") or [])
        bootcmd = "".join(_command_line(entry) + "\n" for entry in loaded.get("bootcmd") or [])
        ignored = sorted(set(loaded) - {"write_files", "runcmd", "bootcmd"})
        return UserData(
            "cloud-config",
            write_files=files,
            runcmd="#!/bin/sh\n" + runcmd if runcmd else "",
            bootcmd="#!/bin/sh\n" + bootcmd if bootcmd else "",
            ignored=ignored,
        )
    return UserData("unknown")
