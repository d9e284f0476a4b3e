"""RDS for MySQL (served by MariaDB) and MariaDB against a live daemon, through the mysql client."""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError

from tests import rds_support
from tests.rds_support import next_second, wait_gone

PASSWORD = "s3cret-pass"


def wait_status(rds, identifier: str, want: str = "available", timeout: float = 90) -> dict:
    """MariaDB takes longer to initialise than PostgreSQL: a longer bound."""
    return rds_support.wait_status(rds, identifier, want, timeout)


def mysql(endpoint: dict, statement: str, *, user: str = "admin", password: str = PASSWORD):
    return subprocess.run(
        ["mysql", "-h", endpoint["Address"], "-P", str(endpoint["Port"]), "-u", user, "-N", "-B"]
        + ["--connect-timeout=5", "app", "-e", statement],
        env={"MYSQL_PWD": password, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def sql(endpoint: dict, statement: str) -> str:
    result = mysql(endpoint, statement)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture(scope="module")
def rds(onebox):
    return onebox.client("rds")


@pytest.mark.parametrize("engine", ["mysql", "mariadb"])
def test_write_read_snapshot_and_point_in_time(rds, engine: str) -> None:
    main = f"{engine}-main"
    rds.create_db_instance(
        DBInstanceIdentifier=main,
        Engine=engine,
        DBInstanceClass="db.t3.micro",
        AllocatedStorage=20,
        MasterUsername="admin",
        MasterUserPassword=PASSWORD,
        DBName="app",
        BackupRetentionPeriod=1,
    )
    restored = [f"{engine}-snap-r", f"{engine}-pitr"]
    try:
        instance = wait_status(rds, main)
        endpoint = instance["Endpoint"]
        assert endpoint["Port"] == 3306 and endpoint["Address"].startswith(f"{main}.")
        assert instance["EngineVersion"] == ("8.0.39" if engine == "mysql" else instance["EngineVersion"])
        assert "MariaDB" in sql(endpoint, "SELECT VERSION()")
        assert sql(endpoint, "SELECT CURRENT_USER()") == "admin@%"
        denied = mysql(endpoint, "SELECT 1", user="root", password="")
        assert denied.returncode != 0 and "Access denied" in denied.stderr

        sql(endpoint, "CREATE TABLE items (n INT, at DATETIME(6) DEFAULT NOW(6))")
        sql(endpoint, "INSERT INTO items (n) VALUES (1)")
        server_started = sql(
            endpoint,
            "SELECT UNIX_TIMESTAMP() - VARIABLE_VALUE FROM "
            "information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'UPTIME'",
        )
        rds.create_db_snapshot(DBInstanceIdentifier=main, DBSnapshotIdentifier=f"{main}-snap")
        deadline = time.monotonic() + 60
        while (
            rds.describe_db_snapshots(DBSnapshotIdentifier=f"{main}-snap")["DBSnapshots"][0]["Status"]
            != "available"
        ):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        wait_status(rds, main)
        # Online (mariadb-backup): the server was not restarted for the snapshot.
        started_now = sql(
            endpoint,
            "SELECT UNIX_TIMESTAMP() - VARIABLE_VALUE FROM "
            "information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'UPTIME'",
        )
        assert abs(float(started_now) - float(server_started)) <= 1
        sql(endpoint, "INSERT INTO items (n) VALUES (2)")
        next_second()
        restore_time = next_second()
        next_second()
        sql(endpoint, "INSERT INTO items (n) VALUES (3)")
        moment = datetime.now(UTC)
        deadline = time.monotonic() + 60
        while True:
            current = rds.describe_db_instances(DBInstanceIdentifier=main)["DBInstances"][0]
            if current.get("LatestRestorableTime") and current["LatestRestorableTime"] > moment:
                break
            assert time.monotonic() < deadline, "LatestRestorableTime did not move"
            time.sleep(0.5)

        rds.restore_db_instance_from_db_snapshot(
            DBInstanceIdentifier=restored[0], DBSnapshotIdentifier=f"{main}-snap"
        )
        rds.restore_db_instance_to_point_in_time(
            SourceDBInstanceIdentifier=main, TargetDBInstanceIdentifier=restored[1], RestoreTime=restore_time
        )
        from_snapshot = wait_status(rds, restored[0])
        assert sql(from_snapshot["Endpoint"], "SELECT GROUP_CONCAT(n ORDER BY n) FROM items") == "1"
        pitr = wait_status(rds, restored[1])
        assert sql(pitr["Endpoint"], "SELECT GROUP_CONCAT(n ORDER BY n) FROM items") == "1,2"
        sql(pitr["Endpoint"], "INSERT INTO items (n) VALUES (9)")
        logs = rds.describe_db_log_files(DBInstanceIdentifier=main)["DescribeDBLogFiles"]
        assert "error/mysql-error.log" in [f["LogFileName"] for f in logs]
        portion = rds.download_db_log_file_portion(
            DBInstanceIdentifier=main, LogFileName="error/mysql-error.log"
        )
        assert "ready for connections" in portion["LogFileData"]
    finally:
        for identifier in [main, *restored]:
            try:
                rds.delete_db_instance(DBInstanceIdentifier=identifier, SkipFinalSnapshot=True)
            except ClientError:
                pass
        rds.delete_db_snapshot(DBSnapshotIdentifier=f"{main}-snap")
    for identifier in [main, *restored]:
        wait_gone(rds, identifier)


def test_parameter_group_set_global_and_static(rds) -> None:
    rds.create_db_parameter_group(
        DBParameterGroupName="my-tuned", DBParameterGroupFamily="mysql8.0", Description="t"
    )
    rds.modify_db_parameter_group(
        DBParameterGroupName="my-tuned",
        Parameters=[
            {"ParameterName": "max_connections", "ParameterValue": "77", "ApplyMethod": "immediate"},
            {
                "ParameterName": "innodb_read_io_threads",
                "ParameterValue": "2",
                "ApplyMethod": "pending-reboot",
            },
        ],
    )
    rds.create_db_instance(
        DBInstanceIdentifier="my-params",
        Engine="mysql",
        DBInstanceClass="db.t3.micro",
        AllocatedStorage=20,
        MasterUsername="admin",
        MasterUserPassword=PASSWORD,
        DBName="app",
        BackupRetentionPeriod=0,
        DBParameterGroupName="my-tuned",
    )
    try:
        endpoint = wait_status(rds, "my-params")["Endpoint"]
        assert sql(endpoint, "SELECT @@max_connections, @@innodb_read_io_threads") == "77\t2"
        rds.modify_db_parameter_group(
            DBParameterGroupName="my-tuned",
            Parameters=[
                {"ParameterName": "max_connections", "ParameterValue": "88", "ApplyMethod": "immediate"},
                {
                    "ParameterName": "innodb_read_io_threads",
                    "ParameterValue": "3",
                    "ApplyMethod": "pending-reboot",
                },
            ],
        )
        deadline = time.monotonic() + 30
        while sql(endpoint, "SELECT @@max_connections") != "88":
            assert time.monotonic() < deadline, "max_connections was not applied"
            time.sleep(0.2)
        assert sql(endpoint, "SELECT @@innodb_read_io_threads") == "2"
        rds.reboot_db_instance(DBInstanceIdentifier="my-params")
        wait_status(rds, "my-params")
        assert sql(endpoint, "SELECT @@innodb_read_io_threads") == "3"
        with pytest.raises(ClientError) as error:
            rds.restore_db_instance_to_point_in_time(
                SourceDBInstanceIdentifier="my-params",
                TargetDBInstanceIdentifier="nope",
                UseLatestRestorableTime=True,
            )
        assert error.value.response["Error"]["Code"] == "PointInTimeRestoreNotEnabled"
        with pytest.raises(ClientError) as error:
            rds.delete_db_parameter_group(DBParameterGroupName="my-tuned")
        assert error.value.response["Error"]["Code"] == "InvalidDBParameterGroupState"
    finally:
        rds.delete_db_instance(DBInstanceIdentifier="my-params", SkipFinalSnapshot=True)
    wait_gone(rds, "my-params")
    rds.delete_db_parameter_group(DBParameterGroupName="my-tuned")
