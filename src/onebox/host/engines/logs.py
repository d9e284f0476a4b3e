"""The database servers' own log files, as DescribeDBLogFiles / DownloadDBLogFilePortion show them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LogFile:
    name: str  # as RDS names it, e.g. "error/postgresql.log.2024-01-01-10" or "error/mysql-error.log"
    path: Path
    size: int
    mtime: float


_MARIADB_NAMES = {
    "mysql-error.log": "error/mysql-error.log",
    "mysql-slowquery.log": "slowquery/mysql-slowquery.log",
    "mysql-general.log": "general/mysql-general.log",
}


def list_logs(log_dir: Path, driver: str) -> list[LogFile]:
    files = []
    if not log_dir.is_dir():
        return files
    for path in sorted(log_dir.iterdir()):
        if not path.is_file():
            continue
        name = f"error/{path.name}" if driver == "postgres" else _MARIADB_NAMES.get(path.name)
        if name is None:
            continue
        stat = path.stat()
        files.append(LogFile(name, path, stat.st_size, stat.st_mtime))
    return files


def read_portion(path: Path, marker: int, lines: int | None) -> tuple[str, int, bool]:
    """From byte offset `marker`, up to `lines` lines (or up to 1 MB, RDS's cap): (text, next marker,
    whether more remains)."""
    limit = 1024 * 1024
    with open(path, "rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(min(marker, size))
        data = f.read(limit)
    if lines is not None:
        parts = data.split(b"\n")
        if len(parts) > lines:
            data = b"\n".join(parts[:lines]) + b"\n"
    end = min(marker, size) + len(data)
    return data.decode(errors="replace"), end, end < size
