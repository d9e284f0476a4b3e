"""The instance log agent's host side: configuration sources (user data, image layers, defaults),
tailing with positions, rotation, truncation, partial lines, batching and timestamps."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

from onebox.host.instances import log_agent, syslog
from onebox.host.instances.log_agent import (
    Instance,
    LogFile,
    Position,
    TimestampParser,
    configured_files,
    host_path,
    read_new,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC).timestamp()


def instance(tmp_path: Path, layers: int = 1) -> Instance:
    (tmp_path / "i" / "upper").mkdir(parents=True)
    image = tuple(tmp_path / f"layer{n}" for n in range(layers))
    for layer in image:
        layer.mkdir()
    return Instance("i-0123456789abcdef0", tmp_path / "i", image, "ip-10-0-0-5", "10.0.0.5")


def write(base: Path, path: str, text: str) -> None:
    target = base / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


AWSLOGS = """[general]
state_file = /var/lib/awslogs/agent-state

[/var/log/app.log]
file = /var/log/app.log
log_group_name = app-{hostname}
log_stream_name = {instance_id}-{ip_address}
datetime_format = %b %d %H:%M:%S
initial_position = end_of_file
buffer_duration = 2500

[no-group]
file = /var/log/other.log
"""


def test_configuration_defaults_image_and_user_data(tmp_path: Path) -> None:
    box = instance(tmp_path, layers=2)
    files, source = configured_files(box)
    assert source == "defaults"
    assert [(f.path, f.group, f.stream) for f in files] == [
        ("/var/log/messages", "/var/log/messages", box.instance_id),
        ("/var/log/cloud-init-output.log", "/var/log/cloud-init-output.log", box.instance_id),
    ]
    # In the image (a lower layer): used, placeholders expanded, sections without a group skipped.
    write(box.image_layers[1], log_agent.AWSLOGS_CONF, AWSLOGS)
    files, source = configured_files(box)
    assert source == log_agent.AWSLOGS_CONF
    assert files == [
        LogFile(
            "/var/log/app.log",
            "app-ip-10-0-0-5",
            "i-0123456789abcdef0-10.0.0.5",
            "%b %d %H:%M:%S",
            initial_position="end_of_file",
            buffer_ms=2500,
        )
    ]
    # A whiteout in a layer above (the file deleted there) hides it; user data's own file wins.
    (box.image_layers[0] / "etc" / "awslogs").mkdir(parents=True)
    os.mknod(box.image_layers[0] / "etc" / "awslogs" / "awslogs.conf", 0o600 | 0o020000, 0)
    assert configured_files(box)[1] == "defaults"
    write(
        box.upper,
        log_agent.CLOUDWATCH_AGENT_JSON,
        json.dumps(
            {
                "logs": {
                    "force_flush_interval": 2,
                    "logs_collected": {
                        "files": {
                            "collect_list": [{"file_path": "/var/log/web.log", "log_group_name": "web"}]
                        }
                    },
                }
            }
        ),
    )
    files, source = configured_files(box)
    assert source == log_agent.CLOUDWATCH_AGENT_JSON
    assert files == [LogFile("/var/log/web.log", "web", box.instance_id, buffer_ms=2000)]


def test_user_data_output_is_the_console_unless_the_instance_has_the_file(tmp_path: Path) -> None:
    box = instance(tmp_path)
    assert host_path(box, "/var/log/cloud-init-output.log") == box.console
    write(box.upper, "/var/log/cloud-init-output.log", "own\n")
    assert host_path(box, "/var/log/cloud-init-output.log") == box.upper / "var/log/cloud-init-output.log"
    assert host_path(box, "/var/log/messages") == box.upper / "var/log/messages"


def ship(log: LogFile, path: Path, position: Position | None) -> tuple[list[str], Position | None]:
    """One agent pass: the messages read and the position recorded after it."""
    chunks = read_new(log, path, position, NOW)
    messages = [message for chunk in chunks for _, message in chunk.events]
    return messages, chunks[-1].position if chunks else position


def test_tailing_partial_lines_rotation_and_truncation(tmp_path: Path) -> None:
    log = LogFile("/var/log/messages", "g", "s")
    path = tmp_path / "messages"
    path.write_text("one\ntwo\nthr")
    messages, position = ship(log, path, None)
    assert messages == ["one", "two"]  # the line being written waits for its newline
    with path.open("a") as handle:
        handle.write("ee\n\nfour\n")
    messages, position = ship(log, path, position)
    assert messages == ["three", "four"]  # blank lines are skipped
    assert ship(log, path, position) == ([], position)
    # Rotation: the rest of the renamed file first, then the new file from its start.
    with path.open("a") as handle:
        handle.write("five\nsix")
    path.rename(tmp_path / "messages.1")
    path.write_text("seven\n")
    messages, position = ship(log, path, position)
    assert messages == ["five", "six", "seven"]
    assert position is not None and (position.inode, position.offset) == (path.stat().st_ino, 6)
    # Truncation (copytruncate): from the start again.
    path.write_text("")
    path.write_text("8\n")
    messages, position = ship(log, path, position)
    assert messages == ["8"]
    # Rotated and deleted: the new file is read from its start.
    path.unlink()
    path.write_text("nine\n")
    assert ship(log, path, position)[0] == ["nine"]


def test_end_of_file_start_and_batches(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("old\n" * 3)
    messages, position = ship(LogFile("/x", "g", "s", initial_position="end_of_file"), path, None)
    assert messages == [] and position is not None
    assert (position.inode, position.offset) == (path.stat().st_ino, 12)
    path.write_text("x" * 300_000 + "\n" + "y\n" * 10_001)
    chunks = read_new(LogFile("/x", "g", "s"), path, None, NOW)
    assert [len(chunk.events) for chunk in chunks] == [10_000, 2]
    assert len(chunks[0].events[0][1].encode()) == log_agent.MAX_EVENT_BYTES  # long lines are cut
    assert chunks[-1].position.offset == path.stat().st_size
    assert sum(len(m.encode()) + 26 for _, m in chunks[0].events) <= log_agent.MAX_BATCH_BYTES


def test_timestamps_from_datetime_format() -> None:
    syslog = TimestampParser("%b %d %H:%M:%S", "UTC")
    assert syslog("Nov 27 11:58:01 host app[1]: hi", NOW) == int(
        datetime(2026, 11, 27, 11, 58, 1, tzinfo=UTC).timestamp() * 1000
    )
    assert syslog("Dec 31 23:59:59 last year", NOW) == int(
        datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp() * 1000
    )
    iso = TimestampParser("%Y-%m-%dT%H:%M:%S.%f%z", "LOCAL")
    assert iso("[2026-01-02T03:04:05.250+0100] x", NOW) == int(
        datetime(2026, 1, 2, 2, 4, 5, 250000, tzinfo=UTC).timestamp() * 1000
    )
    assert syslog("no time here", NOW) is None


def test_instance_syslog_writes_var_log_messages(tmp_path: Path) -> None:
    (tmp_path / "dev").mkdir()
    assert syslog.serve("ip-10-0-0-5", root=tmp_path) is not None
    for argv in (["-t", "myapp", "hello world"], ["--rfc5424", "-t", "app5", "-i", "five"]):
        subprocess.run(["logger", "-u", str(tmp_path / "dev" / "log"), *argv], check=True)
    messages = tmp_path / "var" / "log" / "messages"
    deadline = time.monotonic() + 10
    while (
        time.monotonic() < deadline
        and len(messages.read_text().splitlines() if messages.exists() else []) < 2
    ):
        time.sleep(0.05)
    lines = messages.read_text().splitlines()
    assert re.fullmatch(r"[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d ip-10-0-0-5 myapp: hello world", lines[0])
    assert re.fullmatch(r"[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d ip-10-0-0-5 app5\[\d+\]: five", lines[1])
    assert oct(messages.stat().st_mode & 0o777) == "0o600"
    assert syslog.format_line(b"<13>plain text", "h", NOW).endswith(" h plain text")
    assert syslog.format_line(b"<13>plain", "h", datetime(2026, 11, 5, 4, 5, 6).timestamp()).startswith(
        "Nov  5 04:05:06 h"
    )
