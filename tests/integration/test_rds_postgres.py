"""RDS for PostgreSQL against a live daemon: real servers reached with psql through the endpoint."""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from tests.rds_support import next_second, wait_gone, wait_status

PASSWORD = "s3cret-pass"


def wait_snapshot(rds, identifier: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        snapshot = rds.describe_db_snapshots(DBSnapshotIdentifier=identifier)["DBSnapshots"][0]
        if snapshot["Status"] == "available":
            return snapshot
        assert time.monotonic() < deadline, f"snapshot {identifier} is {snapshot['Status']}"
        time.sleep(0.2)


def wait_restorable_after(rds, identifier: str, moment: datetime, timeout: float = 60) -> None:
    """LatestRestorableTime moves as the server's log is archived (every few seconds here)."""
    deadline = time.monotonic() + timeout
    while True:
        instance = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
        if instance.get("LatestRestorableTime") and instance["LatestRestorableTime"] > moment:
            return
        assert time.monotonic() < deadline, "LatestRestorableTime did not move past the writes"
        time.sleep(0.5)


def psql(endpoint: dict, sql: str, *, database: str = "app", user: str = "master", password: str = PASSWORD):
    return subprocess.run(
        ["psql", "-h", endpoint["Address"], "-p", str(endpoint["Port"]), "-U", user, "-d", database]
        + ["-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
        env={"PGPASSWORD": password, "PATH": "/usr/bin:/bin", "PGCONNECT_TIMEOUT": "5"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def sql(endpoint: dict, statement: str, **kwargs: str) -> str:
    result = psql(endpoint, statement, **kwargs)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture(scope="module")
def rds(onebox):
    return onebox.client("rds")


@pytest.fixture(scope="module")
def pg(rds):
    created = rds.create_db_instance(
        DBInstanceIdentifier="pg-main",
        Engine="postgres",
        EngineVersion="15",
        DBInstanceClass="db.t3.micro",
        AllocatedStorage=20,
        MasterUsername="master",
        MasterUserPassword=PASSWORD,
        DBName="app",
        BackupRetentionPeriod=7,
        Tags=[{"Key": "team", "Value": "data"}],
    )["DBInstance"]
    assert created["DBInstanceStatus"] == "creating"
    instance = wait_status(rds, "pg-main")
    yield instance
    rds.delete_db_instance(DBInstanceIdentifier="pg-main", SkipFinalSnapshot=True)
    wait_gone(rds, "pg-main")


def test_create_write_read_through_endpoint(rds, pg) -> None:
    endpoint = pg["Endpoint"]
    assert endpoint["Address"].startswith("pg-main.") and endpoint["Address"].endswith(
        ".us-east-1.rds.localhost"
    )
    assert endpoint["Port"] == 5432
    assert pg["Engine"] == "postgres" and pg["EngineVersion"].startswith("15.")
    assert pg["DBName"] == "app" and pg["MasterUsername"] == "master"
    assert pg["InstanceCreateTime"] and pg["LatestRestorableTime"]
    assert pg["DBParameterGroups"][0]["DBParameterGroupName"] == "default.postgres15"
    sql(endpoint, "CREATE TABLE notes (id serial PRIMARY KEY, body text)")
    sql(endpoint, "INSERT INTO notes (body) VALUES ('hello'), ('world')")
    assert sql(endpoint, "SELECT string_agg(body, ',' ORDER BY id) FROM notes") == "hello,world"
    assert sql(endpoint, "SELECT current_user") == "master"
    wrong = psql(endpoint, "SELECT 1", password="not-the-password")
    assert wrong.returncode != 0 and "password authentication failed" in wrong.stderr


def test_duplicate_and_describe(rds, pg) -> None:
    with pytest.raises(ClientError) as error:
        rds.create_db_instance(
            DBInstanceIdentifier="PG-Main",
            Engine="postgres",
            DBInstanceClass="db.t3.micro",
            AllocatedStorage=20,
            MasterUsername="master",
            MasterUserPassword=PASSWORD,
        )
    assert error.value.response["Error"]["Code"] == "DBInstanceAlreadyExists"
    by_engine = rds.describe_db_instances(Filters=[{"Name": "engine", "Values": ["postgres"]}])["DBInstances"]
    assert "pg-main" in [i["DBInstanceIdentifier"] for i in by_engine]
    none = rds.describe_db_instances(Filters=[{"Name": "db-instance-id", "Values": ["nope"]}])
    assert none["DBInstances"] == []
    with pytest.raises(ClientError) as error:
        rds.describe_db_instances(DBInstanceIdentifier="missing-db")
    assert error.value.response["Error"]["Code"] == "DBInstanceNotFound"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    tags = rds.list_tags_for_resource(ResourceName=pg["DBInstanceArn"])["TagList"]
    assert tags == [{"Key": "team", "Value": "data"}]
    rds.add_tags_to_resource(ResourceName=pg["DBInstanceArn"], Tags=[{"Key": "env", "Value": "test"}])
    rds.remove_tags_from_resource(ResourceName=pg["DBInstanceArn"], TagKeys=["team"])
    assert rds.list_tags_for_resource(ResourceName=pg["DBInstanceArn"])["TagList"] == [
        {"Key": "env", "Value": "test"}
    ]
    events = rds.describe_events(SourceType="db-instance", SourceIdentifier="pg-main")["Events"]
    messages = [e["Message"] for e in events]
    assert messages[0] == "DB instance created"
    assert {"Finished DB instance backup", "DB instance is available"} <= set(messages)


def test_parameter_group_applied_to_server(rds, pg) -> None:
    endpoint = pg["Endpoint"]
    rds.create_db_parameter_group(
        DBParameterGroupName="pg-tuned", DBParameterGroupFamily="postgres15", Description="tuned"
    )
    rds.modify_db_parameter_group(
        DBParameterGroupName="pg-tuned",
        Parameters=[
            {"ParameterName": "work_mem", "ParameterValue": "12MB", "ApplyMethod": "immediate"},
            {"ParameterName": "max_connections", "ParameterValue": "60", "ApplyMethod": "pending-reboot"},
        ],
    )
    with pytest.raises(ClientError) as error:
        rds.modify_db_parameter_group(
            DBParameterGroupName="pg-tuned",
            Parameters=[
                {"ParameterName": "max_connections", "ParameterValue": "70", "ApplyMethod": "immediate"}
            ],
        )
    assert error.value.response["Error"]["Code"] == "InvalidParameterCombination"
    rds.modify_db_instance(
        DBInstanceIdentifier="pg-main", DBParameterGroupName="pg-tuned", ApplyImmediately=True
    )
    deadline = time.monotonic() + 30
    while sql(endpoint, "SHOW work_mem") != "12MB":
        assert time.monotonic() < deadline, "work_mem was not applied"
        time.sleep(0.2)
    assert sql(endpoint, "SHOW max_connections") == "100"  # static: waits for the reboot
    deadline = time.monotonic() + 30
    while True:
        group = wait_status(rds, "pg-main")["DBParameterGroups"][0]
        if group["ParameterApplyStatus"] == "pending-reboot":
            break
        assert time.monotonic() < deadline, group
        time.sleep(0.2)
    assert group["DBParameterGroupName"] == "pg-tuned"
    pending = rds.modify_db_instance(DBInstanceIdentifier="pg-main", DBInstanceClass="db.t3.small")[
        "DBInstance"
    ]
    assert pending["PendingModifiedValues"] == {"DBInstanceClass": "db.t3.small"}
    assert pending["DBInstanceClass"] == "db.t3.micro"
    rds.reboot_db_instance(DBInstanceIdentifier="pg-main")
    instance = wait_status(rds, "pg-main")
    assert instance["DBInstanceClass"] == "db.t3.small" and instance["PendingModifiedValues"] == {}
    assert sql(endpoint, "SHOW max_connections") == "60"
    assert instance["DBParameterGroups"][0]["ParameterApplyStatus"] == "in-sync"
    params = rds.describe_db_parameters(DBParameterGroupName="pg-tuned", Source="user")["Parameters"]
    assert {p["ParameterName"]: p["ParameterValue"] for p in params} == {
        "max_connections": "60",
        "work_mem": "12MB",
    }
    rds.reset_db_parameter_group(DBParameterGroupName="pg-tuned", ResetAllParameters=True)
    deadline = time.monotonic() + 30
    while sql(endpoint, "SHOW work_mem") != "4MB":
        assert time.monotonic() < deadline, "the reset work_mem was not applied"
        time.sleep(0.2)


def test_snapshot_restore_and_point_in_time(rds, pg) -> None:
    endpoint = pg["Endpoint"]
    sql(endpoint, "CREATE TABLE events (n int, at timestamptz DEFAULT clock_timestamp())")
    sql(endpoint, "INSERT INTO events (n) VALUES (1)")
    rds.create_db_snapshot(DBInstanceIdentifier="pg-main", DBSnapshotIdentifier="pg-main-snap")
    snapshot = wait_snapshot(rds, "pg-main-snap")
    assert snapshot["SnapshotType"] == "manual" and snapshot["Engine"] == "postgres"
    sql(endpoint, "INSERT INTO events (n) VALUES (2)")
    next_second()
    restore_time = next_second()  # a whole second with no write in it: between row 2 and row 3
    next_second()
    sql(endpoint, "INSERT INTO events (n) VALUES (3)")
    wait_restorable_after(rds, "pg-main", datetime.now(UTC))

    rds.restore_db_instance_from_db_snapshot(
        DBInstanceIdentifier="pg-from-snap", DBSnapshotIdentifier="pg-main-snap"
    )
    rds.restore_db_instance_to_point_in_time(
        SourceDBInstanceIdentifier="pg-main", TargetDBInstanceIdentifier="pg-pitr", RestoreTime=restore_time
    )
    rds.restore_db_instance_to_point_in_time(
        SourceDBInstanceIdentifier="pg-main",
        TargetDBInstanceIdentifier="pg-latest",
        UseLatestRestorableTime=True,
    )
    try:
        from_snapshot = wait_status(rds, "pg-from-snap")
        assert sql(from_snapshot["Endpoint"], "SELECT string_agg(n::text, ',' ORDER BY n) FROM events") == "1"
        pitr = wait_status(rds, "pg-pitr")
        assert sql(pitr["Endpoint"], "SELECT string_agg(n::text, ',' ORDER BY n) FROM events") == "1,2"
        assert sql(pitr["Endpoint"], "SELECT string_agg(body, ',' ORDER BY id) FROM notes") == "hello,world"
        latest = wait_status(rds, "pg-latest")
        assert sql(latest["Endpoint"], "SELECT string_agg(n::text, ',' ORDER BY n) FROM events") == "1,2,3"
        # The restored server is a full one: it takes writes.
        sql(pitr["Endpoint"], "INSERT INTO events (n) VALUES (9)")
    finally:
        for identifier in ("pg-from-snap", "pg-pitr", "pg-latest"):
            rds.delete_db_instance(DBInstanceIdentifier=identifier, SkipFinalSnapshot=True)
    with pytest.raises(ClientError) as error:
        rds.restore_db_instance_to_point_in_time(
            SourceDBInstanceIdentifier="pg-main",
            TargetDBInstanceIdentifier="pg-too-late",
            RestoreTime=datetime.now(UTC) + timedelta(hours=1),
        )
    assert error.value.response["Error"]["Code"] == "InvalidRestoreFault"
    with pytest.raises(ClientError) as error:
        rds.restore_db_instance_to_point_in_time(
            SourceDBInstanceIdentifier="pg-main",
            TargetDBInstanceIdentifier="pg-too-early",
            RestoreTime=datetime.now(UTC) - timedelta(days=3),
        )
    assert error.value.response["Error"]["Code"] == "InvalidRestoreFault"
    for identifier in ("pg-from-snap", "pg-pitr", "pg-latest"):
        wait_gone(rds, identifier)


def test_metrics_published_from_the_server(onebox, pg) -> None:
    cloudwatch = onebox.client("cloudwatch")
    dimensions = [{"Name": "DBInstanceIdentifier", "Value": "pg-main"}]
    deadline = time.monotonic() + 60
    while True:
        metrics = cloudwatch.list_metrics(Namespace="AWS/RDS", Dimensions=dimensions)["Metrics"]
        names = {m["MetricName"] for m in metrics}
        if {"FreeStorageSpace", "DatabaseConnections", "FreeableMemory"} <= names:
            break
        assert time.monotonic() < deadline, names
        time.sleep(1)
    stats = cloudwatch.get_metric_statistics(
        Namespace="AWS/RDS",
        MetricName="FreeStorageSpace",
        Dimensions=dimensions,
        StartTime=datetime.now(UTC) - timedelta(hours=1),
        EndTime=datetime.now(UTC) + timedelta(minutes=1),
        Period=60,
        Statistics=["Minimum"],
    )["Datapoints"]
    free = min(point["Minimum"] for point in stats)
    assert 19 * 1024**3 < free < 20 * 1024**3  # 20 GiB allocated, a few dozen MB used


def test_logs_stop_start(rds, pg) -> None:
    files = rds.describe_db_log_files(DBInstanceIdentifier="pg-main")["DescribeDBLogFiles"]
    assert files and all(f["LogFileName"].startswith("error/postgresql.log.") for f in files)
    portion = rds.download_db_log_file_portion(
        DBInstanceIdentifier="pg-main", LogFileName=files[-1]["LogFileName"]
    )
    assert "database system is ready to accept connections" in portion["LogFileData"]
    rds.stop_db_instance(DBInstanceIdentifier="pg-main")
    wait_status(rds, "pg-main", "stopped")
    assert psql(pg["Endpoint"], "SELECT 1").returncode != 0
    with pytest.raises(ClientError) as error:
        rds.reboot_db_instance(DBInstanceIdentifier="pg-main")
    assert error.value.response["Error"]["Code"] == "InvalidDBInstanceState"
    rds.start_db_instance(DBInstanceIdentifier="pg-main")
    wait_status(rds, "pg-main")
    assert sql(pg["Endpoint"], "SELECT count(*) FROM notes") == "2"


def test_final_snapshot_outlives_instance_and_restores(rds) -> None:
    rds.create_db_instance(
        DBInstanceIdentifier="pg-doomed",
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        AllocatedStorage=20,
        MasterUsername="owner",
        MasterUserPassword=PASSWORD,
        DBName="app",
        DeletionProtection=True,
    )
    doomed = wait_status(rds, "pg-doomed")
    sql(doomed["Endpoint"], "CREATE TABLE kept AS SELECT 42 AS answer", user="owner")
    with pytest.raises(ClientError) as error:
        rds.delete_db_instance(DBInstanceIdentifier="pg-doomed", SkipFinalSnapshot=True)
    assert error.value.response["Error"]["Code"] == "InvalidParameterCombination"
    with pytest.raises(ClientError) as error:
        rds.modify_db_instance(DBInstanceIdentifier="pg-doomed", MasterUserPassword="short")
    assert error.value.response["Error"]["Code"] == "InvalidParameterValue"
    modified = rds.modify_db_instance(
        DBInstanceIdentifier="pg-doomed", DeletionProtection=False, ApplyImmediately=True
    )["DBInstance"]
    assert modified["DBInstanceStatus"] == "modifying" and modified["DeletionProtection"] is False
    wait_status(rds, "pg-doomed")
    with pytest.raises(ClientError) as error:
        rds.delete_db_instance(DBInstanceIdentifier="pg-doomed")
    assert error.value.response["Error"]["Code"] == "InvalidParameterCombination"
    rds.delete_db_instance(
        DBInstanceIdentifier="pg-doomed",
        FinalDBSnapshotIdentifier="pg-doomed-final",
        DeleteAutomatedBackups=False,
    )
    wait_gone(rds, "pg-doomed")
    final = wait_snapshot(rds, "pg-doomed-final")
    assert final["DBInstanceIdentifier"] == "pg-doomed"
    retained = rds.describe_db_instance_automated_backups(DBInstanceIdentifier="pg-doomed")
    assert [b["Status"] for b in retained["DBInstanceAutomatedBackups"]] == ["retained"]
    rds.copy_db_snapshot(
        SourceDBSnapshotIdentifier="pg-doomed-final", TargetDBSnapshotIdentifier="pg-doomed-copy"
    )
    wait_snapshot(rds, "pg-doomed-copy")
    rds.restore_db_instance_from_db_snapshot(
        DBInstanceIdentifier="pg-reborn", DBSnapshotIdentifier="pg-doomed-copy"
    )
    try:
        reborn = wait_status(rds, "pg-reborn")
        assert reborn["MasterUsername"] == "owner"
        assert sql(reborn["Endpoint"], "SELECT answer FROM kept", user="owner") == "42"
    finally:
        rds.delete_db_instance(DBInstanceIdentifier="pg-reborn", SkipFinalSnapshot=True)
    for snapshot in ("pg-doomed-final", "pg-doomed-copy"):
        rds.delete_db_snapshot(DBSnapshotIdentifier=snapshot)
    with pytest.raises(ClientError) as error:
        rds.describe_db_snapshots(DBSnapshotIdentifier="pg-doomed-final")
    assert error.value.response["Error"]["Code"] == "DBSnapshotNotFound"
    wait_gone(rds, "pg-reborn")
