"""HAProxy's runtime API over its unix stats socket: one command per connection, text back."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path

TIMEOUT_S = 5.0


class RuntimeApiError(Exception):
    """The balancer's HAProxy did not answer on its runtime socket."""


async def command(socket_path: Path, line: str, *, timeout: float = TIMEOUT_S) -> str:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(socket_path)), timeout)
    except (OSError, TimeoutError) as exc:
        raise RuntimeApiError(f"cannot reach {socket_path}: {exc}") from exc
    try:
        writer.write(line.encode() + b"\n")
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), timeout)
    except (OSError, TimeoutError) as exc:
        raise RuntimeApiError(f"{line!r} on {socket_path} failed: {exc}") from exc
    finally:
        writer.close()
    return data.decode(errors="replace")


async def show_stat(socket_path: Path) -> list[dict[str, str]]:
    """`show stat` as one dict per proxy/server row, keyed by HAProxy's column names."""
    text = await command(socket_path, "show stat")
    if not text.startswith("# "):
        raise RuntimeApiError(f"unexpected `show stat` answer: {text[:200]!r}")
    rows = csv.DictReader(io.StringIO(text[2:]))
    return [dict(row) for row in rows if row.get("pxname")]


async def worker_pid(socket_path: Path) -> int:
    """The pid of the worker that answers (changes when a reload completes)."""
    text = await command(socket_path, "show info")
    for line in text.splitlines():
        if line.startswith("Pid:"):
            return int(line.split(":", 1)[1])
    raise RuntimeApiError(f"no Pid in `show info`: {text[:200]!r}")
