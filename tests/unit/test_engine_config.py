"""Engine drivers' catalogs and rendered configuration (no server started)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from onebox.host.engines import mariadb, postgres
from onebox.host.engines.base import Layout, as_db_user


@pytest.fixture
def where(tmp_path: Path) -> Iterator[Layout]:
    result = Layout(tmp_path / "instance", tmp_path / "archive")
    result.make()
    result.data.mkdir(parents=True)
    yield result
    result.remove()  # its socket directory lives in /tmp


def test_postgres_catalog_from_the_installed_server() -> None:
    params = postgres.catalog()
    assert params["shared_buffers"].apply_type == "static"
    assert params["work_mem"].apply_type == "dynamic"
    assert params["max_connections"].data_type == "integer"
    assert not postgres.RESERVED & set(params)


def test_postgres_config_keeps_onebox_settings_first(where: Layout) -> None:
    postgres.PostgresDriver().render_config(where, "127.50.0.3", 5433, {"work_mem": "8MB", "port": "1"})
    own = (where.data / "onebox.conf").read_text()
    assert "listen_addresses = '127.50.0.3'" in own and "port = 5433" in own
    assert f"cp %p {where.archive}/%f" in own and "archive_mode = on" in own
    params = (where.data / "onebox-params.conf").read_text()
    assert params == "work_mem = '8MB'\n"  # onebox-owned settings cannot be overridden
    assert len(str(where.sockets / ".s.PGSQL.5433")) < 108


def test_mariadb_config_and_binlog_order(where: Layout, tmp_path: Path) -> None:
    mariadb.MariaDbDriver().render_config(
        where, "127.50.0.4", 3306, {"max_connections": "50", "datadir": "/x"}
    )
    text = (where.root / "my.cnf").read_text()
    assert f"log-bin = {where.archive}/mysql-bin" in text and "bind-address = 127.50.0.4" in text
    assert "max_connections = 50" in text and "datadir = /x" not in text
    for name in ("mysql-bin.000002", "mysql-bin.000001", "mysql-bin.index", "mysql-bin.000010"):
        (where.archive / name).write_text("")
    driver = mariadb.MariaDbDriver()
    assert [p.name for p in driver.binlogs(where.archive)] == [
        "mysql-bin.000001",
        "mysql-bin.000002",
        "mysql-bin.000010",
    ]
    backup = tmp_path / "backup"
    backup.mkdir()
    (backup / "onebox-binlog-position").write_text("mysql-bin.000002")
    logs, start = driver.binlogs_after(backup, where.archive)  # an offline copy: the later logs, whole
    assert [p.name for p in logs] == ["mysql-bin.000010"] and start is None
    (backup / "onebox-binlog-position").write_text("mysql-bin.000002 4567")
    logs, start = driver.binlogs_after(backup, where.archive)  # an online backup: from its position
    assert [p.name for p in logs] == ["mysql-bin.000002", "mysql-bin.000010"] and start == 4567
    assert mariadb.catalog()["innodb_read_io_threads"].apply_type == "static"


def test_servers_run_as_the_database_user() -> None:
    argv = as_db_user(["postgres", "-D", "/data"])
    assert argv[-3:] == ["postgres", "-D", "/data"]
    assert argv[0] == "unshare" and any(a.startswith("--map-user=") for a in argv)


def test_wal_segment_names_cross_log_ids(tmp_path: Path) -> None:
    mib = 1024**2
    assert postgres.wal_segments("000000010000000000000FFE", "000000010000000100000001", mib) == [
        "000000010000000000000FFE",
        "000000010000000000000FFF",
        "000000010000000100000000",
        "000000010000000100000001",
    ]
    segment = tmp_path / "000000010000000100000001"
    address = (0x1000 + 1) * mib  # log id 1 has 4096 one-MiB segments before it
    segment.write_bytes(b"\0" * 8 + address.to_bytes(8, "little") + b"\0" * 16)
    assert postgres.segment_matches(segment, segment.name, mib)
    assert not postgres.segment_matches(segment, "000000010000000100000002", mib)
