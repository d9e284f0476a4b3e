"""RDS's pure rules: identifiers, passwords, windows, backup scheduling, engine versions, endpoints."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from onebox.aws.errors import AwsError
from onebox.services.rds import catalog
from onebox.services.rds.common import backup_due, check_identifier, check_window, endpoint_host, in_window
from onebox.services.rds.instances import address_block, check_password


@pytest.mark.parametrize("good", ["a", "db1", "My-Db-2", "a" * 63])
def test_identifiers_accepted_and_lowercased(good: str) -> None:
    assert check_identifier(good) == good.lower()


@pytest.mark.parametrize("bad", ["", "1db", "-db", "db-", "my--db", "db_1", "a" * 64, "dé"])
def test_identifiers_refused(bad: str) -> None:
    with pytest.raises(AwsError) as error:
        check_identifier(bad)
    assert error.value.code == "InvalidParameterValue"


def test_passwords() -> None:
    check_password("abcdefgh", "postgres")
    check_password("x" * 128, "postgres")
    for bad, engine in (
        ("short", "postgres"),
        ("x" * 42, "mysql"),
        ("with space1", "mysql"),
        ("a@bcdefgh", "postgres"),
    ):
        with pytest.raises(AwsError):
            check_password(bad, engine)


def test_windows() -> None:
    assert check_window("03:00-03:30", "w") == (180, 210)
    assert check_window("23:45-00:15", "w") == (1425, 15)  # across midnight
    for bad in ("03:00-03:29", "25:00-25:30", "3:00-3:30"):
        with pytest.raises(AwsError):
            check_window(bad, "w")
    inside = datetime(2026, 1, 1, 0, 5, 40, tzinfo=UTC)
    assert in_window(inside, "23:45-00:15") == datetime(2025, 12, 31, 23, 45, tzinfo=UTC)
    assert in_window(datetime(2026, 1, 1, 0, 15, tzinfo=UTC), "23:45-00:15") is None


def test_backup_due_once_per_window_occurrence() -> None:
    window = "03:00-03:30"
    at = datetime(2026, 1, 1, 3, 10, tzinfo=UTC)
    assert backup_due(at, window, None)
    assert backup_due(at, window, datetime(2025, 12, 31, 3, 5, tzinfo=UTC))  # yesterday's
    assert not backup_due(at, window, datetime(2026, 1, 1, 3, 1, tzinfo=UTC))  # already today
    assert not backup_due(datetime(2026, 1, 1, 4, 0, tzinfo=UTC), window, None)  # outside


def test_engine_versions_resolve_to_installed_majors() -> None:
    postgres = catalog.resolve("postgres", "15")
    assert postgres.driver == "postgres" and postgres.family == "postgres15"
    assert catalog.resolve("postgres", postgres.version) == postgres
    assert catalog.resolve("mysql", "8.0").driver == "mariadb"
    assert catalog.resolve("mariadb", None).family == "mariadb10.11"
    with pytest.raises(AwsError) as error:
        catalog.resolve("postgres", "16.2")
    assert error.value.code == "InvalidParameterCombination"
    with pytest.raises(AwsError) as error:
        catalog.resolve("sqlserver-ex", None)
    assert error.value.code == "InvalidParameterValue"


def test_endpoints_and_addresses() -> None:
    host = endpoint_host("mydb", "000000000000", "eu-west-1")
    assert host.startswith("mydb.c") and host.endswith(".eu-west-1.rds.localhost")
    assert host == endpoint_host("mydb", "000000000000", "eu-west-1")
    assert host != endpoint_host("mydb", "111111111111", "eu-west-1")
    block = address_block("/some/state")
    assert block.prefixlen == 16 and str(block).startswith("127.")
    assert 10 <= int(str(block).split(".")[1]) < 210


def test_maintenance_window() -> None:
    from onebox.services.rds.common import in_weekly_window

    sunday = datetime(2026, 3, 1, 5, 10, tzinfo=UTC)  # a Sunday
    assert in_weekly_window(sunday, "sun:05:00-sun:05:30")
    assert not in_weekly_window(sunday, "mon:05:00-mon:05:30")
    assert in_weekly_window(sunday, "sat:23:00-sun:06:00")
    assert in_weekly_window(datetime(2026, 3, 2, 0, 10, tzinfo=UTC), "sun:23:45-mon:00:15")  # across the week


def test_default_option_group_names() -> None:
    from onebox.services.rds.instances import option_group_name

    assert option_group_name("postgres", "postgres15") == "default:postgres-15"
    assert option_group_name("mysql", "mysql8.0") == "default:mysql-8-0"
    assert option_group_name("mariadb", "mariadb10.11") == "default:mariadb-10-11"
