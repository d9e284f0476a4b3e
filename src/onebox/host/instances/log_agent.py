"""The instance log agent's host side: which files an instance ships (its awslogs or CloudWatch agent
configuration, else the defaults) and reading new lines from them, following rotation.

Instances are namespaces whose disk is an overlay; everything an instance writes lands in its upper
directory on the host (`STATE/instances/<id>/upper`), so the agent reads files there and needs nothing
installed or running inside the instance. Configuration is looked up in the instance's own view of
`/etc` (its upper directory, then its image's layers, never the host root below them), so it comes
from user data or from the image, as with the awslogs agent baked into an AMI.

Nothing here talks to onebox's services: `services/logs/agent.py` drives it and stores each batch of
events together with the file position it reached (one transaction), which is what makes shipping
exactly-once across daemon restarts and kills.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import re
import stat
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

AWSLOGS_CONF = "/etc/awslogs/awslogs.conf"
CLOUDWATCH_AGENT_JSON = "/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json"
USER_DATA_OUTPUT = "/var/log/cloud-init-output.log"
DEFAULT_FILES = ("/var/log/messages", USER_DATA_OUTPUT)
DEFAULT_BUFFER_MS = 5000

MAX_EVENT_BYTES = 256 * 1024 - 26  # AWS's event size limit, counted with its 26 bytes of overhead
MAX_BATCH_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
READ_LIMIT = 4 * 1024 * 1024  # per file and pass; the rest waits for the next pass


@dataclass(frozen=True)
class LogFile:
    """One configured file: where it goes and how its lines are read."""

    path: str  # inside the instance
    group: str
    stream: str
    datetime_format: str | None = None
    time_zone: str = "LOCAL"  # awslogs: LOCAL or UTC, for timestamps without an offset
    initial_position: str = "start_of_file"  # or end_of_file
    encoding: str = "utf-8"
    buffer_ms: int = DEFAULT_BUFFER_MS


@dataclass(frozen=True)
class Instance:
    """What the agent knows of an instance: its id, where its disk is on the host, placeholders."""

    instance_id: str
    instance_dir: Path
    image_layers: tuple[Path, ...]  # top first, without the host root
    hostname: str = ""
    ip_address: str = ""
    own_root: bool = True  # False for the process driver: its files are the host's, only the console ships

    @property
    def upper(self) -> Path:
        return self.instance_dir / "upper"

    @property
    def console(self) -> Path:
        return self.instance_dir / "console.log"

    def expand(self, text: str) -> str:
        return (
            text.replace("{instance_id}", self.instance_id)
            .replace("{hostname}", self.hostname)
            .replace("{ip_address}", self.ip_address)
        )


def load_instance(instance_dir: Path, ip_address: str = "") -> Instance | None:
    """The instance of a driver directory (its boot.json), or None before its first boot."""
    try:
        boot = json.loads((instance_dir / "boot.json").read_text())
    except (OSError, ValueError):
        return None
    lowers = [Path(p) for p in boot.get("lower_dirs") or []]
    return Instance(
        instance_id=boot["instance_id"],
        instance_dir=instance_dir,
        image_layers=tuple(p for p in lowers if p != Path("/")),
        hostname=boot.get("hostname", ""),
        ip_address=ip_address,
        own_root=boot.get("driver") == "namespace",
    )


# -- the instance's filesystem as the instance sees it (for configuration) ------------------------------


def _whiteout(path: Path) -> bool:
    try:
        info = path.lstat()
    except OSError:
        return False
    return stat.S_ISCHR(info.st_mode) and info.st_rdev == 0


def read_config_file(instance: Instance, path: str) -> str | None:
    """A file of the instance's disk above the host root: its upper directory, then its image layers
    (an overlayfs whiteout hides the layers below). None if absent."""
    if not instance.own_root:
        return None
    relative = path.lstrip("/")
    for base in (instance.upper, *instance.image_layers):
        candidate = base / relative
        if _whiteout(candidate):
            return None
        if candidate.is_file():
            try:
                return candidate.read_text(errors="replace")
            except OSError:
                return None
    return None


def host_path(instance: Instance, path: str) -> Path | None:
    """Where the host reads an instance's log file. The user-data output is the console log (the
    init writes script output there, as cloud-init does to /var/log/cloud-init-output.log) unless
    the instance has a file of that name of its own."""
    if instance.own_root:
        own = instance.upper / path.lstrip("/")
        if path != USER_DATA_OUTPUT or own.exists():
            return own
    return instance.console if path == USER_DATA_OUTPUT else None


# -- configuration -----------------------------------------------------------------------------------


def configured_files(instance: Instance) -> tuple[list[LogFile], str]:
    """The files to ship and where the configuration came from (a path, or "defaults")."""
    text = read_config_file(instance, AWSLOGS_CONF)
    if text is not None:
        return parse_awslogs(text, instance), AWSLOGS_CONF
    text = read_config_file(instance, CLOUDWATCH_AGENT_JSON)
    if text is not None:
        return parse_cloudwatch_agent(text, instance), CLOUDWATCH_AGENT_JSON
    return [LogFile(path, path, instance.instance_id) for path in DEFAULT_FILES], "defaults"


def parse_awslogs(text: str, instance: Instance) -> list[LogFile]:
    """The awslogs agent's INI: a section per file (`file`, `log_group_name`, `log_stream_name`,
    `datetime_format`, `time_zone`, `initial_position`, `encoding`, `buffer_duration`); [general] is
    read for nothing we need. Sections without `file` or `log_group_name` are skipped, as awslogs does."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(text)
    except configparser.Error:
        return []
    files = []
    for name in parser.sections():
        if name == "general":
            continue
        section = parser[name]
        path, group = section.get("file"), section.get("log_group_name")
        if not path or not group:
            continue
        files.append(
            LogFile(
                path=instance.expand(path.strip()),
                group=instance.expand(group.strip()),
                stream=instance.expand(section.get("log_stream_name", "{instance_id}").strip()),
                datetime_format=section.get("datetime_format") or None,
                time_zone=section.get("time_zone", "LOCAL").strip().upper(),
                initial_position=section.get("initial_position", "start_of_file").strip(),
                encoding=section.get("encoding", "utf-8").strip() or "utf-8",
                buffer_ms=_int(section.get("buffer_duration"), DEFAULT_BUFFER_MS),
            )
        )
    return files


def parse_cloudwatch_agent(text: str, instance: Instance) -> list[LogFile]:
    """The CloudWatch agent's JSON: logs.logs_collected.files.collect_list[] (`file_path`,
    `log_group_name`, `log_stream_name`, `timestamp_format`, `timezone`), logs.force_flush_interval (s)."""
    try:
        config = json.loads(text)
        logs = config.get("logs") or {}
        collect = ((logs.get("logs_collected") or {}).get("files") or {}).get("collect_list") or []
    except (ValueError, AttributeError):
        return []
    try:
        flush_ms = max(100, int(float(logs.get("force_flush_interval", DEFAULT_BUFFER_MS / 1000)) * 1000))
    except (TypeError, ValueError):
        flush_ms = DEFAULT_BUFFER_MS
    files = []
    for entry in collect:
        if not isinstance(entry, dict) or not entry.get("file_path"):
            continue
        path = str(entry["file_path"])
        files.append(
            LogFile(
                path=instance.expand(path),
                group=instance.expand(str(entry.get("log_group_name") or path)),
                stream=instance.expand(str(entry.get("log_stream_name") or "{instance_id}")),
                datetime_format=entry.get("timestamp_format") or None,
                time_zone="UTC" if str(entry.get("timezone", "")).upper() == "UTC" else "LOCAL",
                buffer_ms=flush_ms,
            )
        )
    return files


def _int(value: Any, default: int) -> int:
    try:
        return max(100, int(value)) if value is not None else default
    except (TypeError, ValueError):
        return default


# -- timestamps ----------------------------------------------------------------------------------------

_DIRECTIVES = {
    "Y": r"\d{4}", "y": r"\d{2}", "m": r"\d{1,2}", "d": r"\d{1,2}", "e": r"\s?\d{1,2}", "H": r"\d{1,2}",
    "I": r"\d{1,2}", "M": r"\d{1,2}", "S": r"\d{1,2}", "f": r"\d{1,6}", "j": r"\d{1,3}", "p": r"[AaPp][Mm]",
    "b": r"[A-Za-z]{3}", "B": r"[A-Za-z]+", "a": r"[A-Za-z]{3}", "A": r"[A-Za-z]+", "z": r"[+-]\d{2}:?\d{2}|Z",
    "Z": r"[A-Z]{1,5}", "%": "%",
}  # fmt: skip


class TimestampParser:
    """awslogs' `datetime_format` (strftime directives) found in a line; None where the line has none."""

    def __init__(self, datetime_format: str, time_zone: str) -> None:
        pattern, strptime_format, index = "", "", 0
        while index < len(datetime_format):
            char = datetime_format[index]
            if char == "%" and index + 1 < len(datetime_format):
                directive = datetime_format[index + 1]
                pattern += f"(?:{_DIRECTIVES.get(directive, '.+?')})"
                strptime_format += "%d" if directive == "e" else f"%{directive}"
                index += 2
                continue
            pattern += r"\s+" if char.isspace() else re.escape(char)
            strptime_format += char
            index += 1
        self.regex = re.compile(pattern)
        self.format = strptime_format
        self.has_year = "%Y" in strptime_format or "%y" in strptime_format
        self.utc = time_zone == "UTC"

    def __call__(self, line: str, now: float) -> int | None:
        found = self.regex.search(line)
        if found is None:
            return None
        text = found.group(0)
        try:
            when = datetime.strptime(" ".join(text.split()) if " " in self.format else text, self.format)
        except ValueError:
            return None
        if not self.has_year:  # syslog lines carry no year: the current one (last year in early January)
            year = datetime.fromtimestamp(now, UTC).year
            when = when.replace(year=year)
            if when.timestamp() > now + 86400 * 2:
                when = when.replace(year=year - 1)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC) if self.utc else when.astimezone()
        return int(when.timestamp() * 1000)


# -- reading files ---------------------------------------------------------------------------------------


HEAD_BYTES = 256  # a file's fingerprint: its first bytes (inode numbers are reused after a delete)


@dataclass
class Position:
    """Where the agent is in a file: its inode and fingerprint (to notice rotation) and the byte
    offset shipped. The fingerprint is a digest of the file's first min(offset, 256) bytes, which were
    shipped already and so cannot change while the file is the same one."""

    inode: int | None = None
    offset: int = 0
    head: str | None = None

    def dumps(self) -> str:
        return json.dumps({"inode": self.inode, "offset": self.offset, "head": self.head})

    @classmethod
    def loads(cls, text: str | None) -> Position | None:
        if not text:
            return None
        data = json.loads(text)
        return cls(data.get("inode"), int(data.get("offset", 0)), data.get("head"))


def _head(path: Path, length: int) -> str | None:
    try:
        with open(path, "rb") as handle:
            data = handle.read(min(length, HEAD_BYTES))
    except OSError:
        return None
    return hashlib.sha256(data).hexdigest()[:16] if len(data) == min(length, HEAD_BYTES) else None


def _same_file(path: Path, inode: int, known: Position) -> bool:
    return known.inode == inode and (known.offset == 0 or _head(path, known.offset) == known.head)


@dataclass
class Chunk:
    """Events read from a file, and the position to record once they are stored."""

    events: list[tuple[int, str]] = field(default_factory=list)
    position: Position = field(default_factory=Position)


def read_new(log: LogFile, path: Path, known: Position | None, now: float | None = None) -> list[Chunk]:
    """The lines added to `path` since `known`, as chunks that each fit one PutLogEvents batch.

    Rotation: when the file at `path` is another inode than the one recorded, the rest of the old file
    is read first if it is still in the same directory (`messages` renamed to `messages.1`), then the
    new file from its start. A file shorter than the recorded offset was truncated: read from 0.
    Only complete lines are read from the current file (a line being written waits for its newline).
    An empty list means nothing new (the position may still need recording: see `first_position`).
    """
    now = time.time() if now is None else now
    try:
        info = path.stat()
    except OSError:
        return []
    parse = TimestampParser(log.datetime_format, log.time_zone) if log.datetime_format else None
    chunks: list[Chunk] = []
    if known is None:
        start = info.st_size if log.initial_position == "end_of_file" else 0
        known = Position(info.st_ino, start, _head(path, start) if start else None)
        if start:
            chunks.append(Chunk([], known))
    if not _same_file(path, info.st_ino, known):
        old = _find_file(path.parent, known)
        if old is not None:
            chunks += _read(old, known, log, parse, now, whole=True)
        known = Position(info.st_ino, 0)
    if info.st_size < known.offset:
        known = Position(info.st_ino, 0)  # truncated
    if info.st_size > known.offset:
        chunks += _read(path, known, log, parse, now, whole=False)
    if (not chunks or chunks[-1].position.inode != info.st_ino) and known.offset == 0:
        chunks.append(Chunk([], known))  # on to a new file, nothing in it yet
    return chunks


def _find_file(directory: Path, known: Position) -> Path | None:
    """The file `known` describes, renamed within its directory (rotation), if it is still there."""
    if known.inode is None:
        return None
    try:
        for entry in os.scandir(directory):
            if entry.is_file(follow_symlinks=False) and entry.inode() == known.inode:
                found = Path(entry.path)
                return found if _same_file(found, known.inode, known) else None
    except OSError:
        pass
    return None


def _read(
    path: Path, known: Position, log: LogFile, parse: TimestampParser | None, now: float, whole: bool
) -> list[Chunk]:
    inode, offset = known.inode or 0, known.offset
    try:
        with open(path, "rb") as handle:
            if offset < HEAD_BYTES:  # one read covers the fingerprint and the new bytes
                blob = handle.read(offset + READ_LIMIT)
                first, data = blob[:HEAD_BYTES], blob[offset:]
            else:
                handle.seek(offset)
                first, data = b"", handle.read(READ_LIMIT)
    except OSError:
        return []

    def at(position: int) -> Position:
        if offset >= HEAD_BYTES:
            return Position(inode, position, known.head)
        return Position(inode, position, hashlib.sha256(first[:position]).hexdigest()[:16])

    end = len(data) if whole and len(data) < READ_LIMIT else data.rfind(b"\n") + 1
    chunks: list[Chunk] = []
    current = Chunk([], known)
    size = 0
    fallback = int(now * 1000)
    position = offset
    for raw in data[:end].splitlines(keepends=True):
        position += len(raw)
        line = raw.rstrip(b"\r\n")
        if not line.strip():
            current.position = at(position)
            continue
        message = line.decode(log.encoding, errors="replace")
        encoded = len(message.encode("utf-8"))
        if encoded > MAX_EVENT_BYTES:
            message = message.encode("utf-8")[:MAX_EVENT_BYTES].decode("utf-8", errors="ignore")
            encoded = len(message.encode("utf-8"))
        stamp = (parse(message, now) if parse else None) or fallback
        if current.events and (
            len(current.events) >= MAX_BATCH_EVENTS or size + encoded + 26 > MAX_BATCH_BYTES
        ):
            chunks.append(current)
            current = Chunk([], current.position)
            size = 0
        current.events.append((stamp, message))
        current.position = at(position)
        size += encoded + 26
    if current.events or current.position.offset != offset:
        chunks.append(current)
    return chunks
