"""RDS's bad-input answers and catalog operations (nothing here starts a server)."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

VALID = {
    "DBInstanceIdentifier": "valid-db",
    "Engine": "postgres",
    "DBInstanceClass": "db.t3.micro",
    "AllocatedStorage": 20,
    "MasterUsername": "master",
    "MasterUserPassword": "good-password",
}


@pytest.fixture(scope="module")
def rds(onebox):
    return onebox.client("rds")


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        ({"Engine": "oracle-se9"}, "InvalidParameterValue", "Invalid DB engine: oracle-se9"),
        ({"EngineVersion": "16.1"}, "InvalidParameterCombination", "Cannot find version 16.1 for postgres"),
        (
            {"Engine": "mysql", "EngineVersion": "5.6.10"},
            "InvalidParameterCombination",
            "Cannot find version",
        ),
        ({"DBInstanceIdentifier": "1db"}, "InvalidParameterValue", "is not a valid identifier"),
        ({"DBInstanceIdentifier": "my--db"}, "InvalidParameterValue", "two consecutive hyphens"),
        ({"DBInstanceIdentifier": "db-"}, "InvalidParameterValue", "must not end with a hyphen"),
        ({"DBInstanceIdentifier": "a" * 64}, "InvalidParameterValue", "is not a valid identifier"),
        (
            {"AllocatedStorage": 5},
            "InvalidParameterCombination",
            "Invalid storage size for engine name postgres",
        ),
        ({"AllocatedStorage": 70000}, "InvalidParameterCombination", "Invalid storage size"),
        ({"MasterUserPassword": "short"}, "InvalidParameterValue", "shorter than 8 characters"),
        ({"MasterUserPassword": "has/slash-inside"}, "InvalidParameterValue", "Only printable ASCII"),
        ({"MasterUserPassword": "x" * 129}, "InvalidParameterValue", "longer than 128"),
        ({"Engine": "mysql", "MasterUserPassword": "x" * 42}, "InvalidParameterValue", "longer than 41"),
        ({"MasterUsername": "postgres"}, "InvalidParameterValue", "reserved word"),
        ({"MasterUsername": "9lives"}, "InvalidParameterValue", "MasterUsername"),
        ({"DBInstanceClass": "db.z9.huge"}, "InvalidParameterCombination", "DBInstanceClass=db.z9.huge"),
        ({"BackupRetentionPeriod": 36}, "InvalidParameterValue", "BackupRetentionPeriod"),
        ({"PreferredBackupWindow": "03:00-03:10"}, "InvalidParameterValue", "at least 30 minutes"),
        ({"PreferredBackupWindow": "3am"}, "InvalidParameterValue", "hh24:mi-hh24:mi"),
        ({"DBParameterGroupName": "nope"}, "DBParameterGroupNotFound", "DBParameterGroup not found"),
        ({"DBSubnetGroupName": "nope"}, "DBSubnetGroupNotFoundFault", "DBSubnetGroup 'nope' not found"),
        ({"Port": 80}, "InvalidParameterValue", "port"),
    ],
)
def test_create_refuses_bad_input_and_creates_nothing(rds, change: dict, code: str, message: str) -> None:
    with pytest.raises(ClientError) as error:
        rds.create_db_instance(**{**VALID, **change})
    assert error.value.response["Error"]["Code"] == code
    assert message in error.value.response["Error"]["Message"]
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 404)
    identifiers = [i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"]]
    assert VALID["DBInstanceIdentifier"] not in identifiers


def test_missing_master_credentials(rds) -> None:
    params = {k: v for k, v in VALID.items() if k != "MasterUserPassword"}
    with pytest.raises(ClientError) as error:
        rds.create_db_instance(**params)
    assert error.value.response["Error"]["Message"] == (
        "The parameter MasterUserPassword must be provided and must not be blank."
    )


def test_engine_versions_map_to_installed_servers(rds, onebox) -> None:
    versions = rds.describe_db_engine_versions()["DBEngineVersions"]
    by_engine = {v["Engine"]: v for v in versions}
    assert set(by_engine) == {"postgres", "mysql", "mariadb"}
    assert by_engine["postgres"]["DBParameterGroupFamily"] == "postgres15"
    assert by_engine["postgres"]["EngineVersion"].startswith("15.")
    assert by_engine["mariadb"]["EngineVersion"].startswith("10.11.")
    assert by_engine["mysql"]["DBParameterGroupFamily"] == "mysql8.0"
    assert rds.describe_db_engine_versions(Engine="postgres", EngineVersion="14.9")["DBEngineVersions"] == []
    cli = json.loads(onebox.aws("rds", "describe-db-engine-versions", "--engine", "mariadb").stdout)
    assert [v["Engine"] for v in cli["DBEngineVersions"]] == ["mariadb"]


def test_orderable_options(rds) -> None:
    options = rds.describe_orderable_db_instance_options(Engine="postgres", DBInstanceClass="db.t3.micro")
    items = options["OrderableDBInstanceOptions"]
    assert {o["StorageType"] for o in items} == {"gp2", "gp3"}
    assert all(o["MinStorageSize"] == 20 and o["MaxStorageSize"] == 65536 for o in items)
    page = rds.describe_orderable_db_instance_options(Engine="mysql", MaxRecords=20)
    assert len(page["OrderableDBInstanceOptions"]) == 20 and page["Marker"]
    rest = rds.describe_orderable_db_instance_options(Engine="mysql", MaxRecords=100, Marker=page["Marker"])
    assert not {(o["DBInstanceClass"], o["StorageType"]) for o in rest["OrderableDBInstanceOptions"]} & {
        (o["DBInstanceClass"], o["StorageType"]) for o in page["OrderableDBInstanceOptions"]
    }


def test_parameter_groups_api(rds) -> None:
    defaults = rds.describe_db_parameters(DBParameterGroupName="default.postgres15", MaxRecords=100)
    names = [p["ParameterName"] for p in defaults["Parameters"]]
    assert names == sorted(names) and defaults["Marker"]
    everything = []
    marker = None
    while True:
        kwargs = {"Marker": marker} if marker else {}
        page = rds.describe_db_parameters(DBParameterGroupName="default.postgres15", **kwargs)
        everything += page["Parameters"]
        marker = page.get("Marker")
        if not marker:
            break
    by_name = {p["ParameterName"]: p for p in everything}
    assert by_name["shared_buffers"]["ApplyType"] == "static"
    assert by_name["work_mem"]["ApplyType"] == "dynamic"
    assert "port" not in by_name  # onebox owns the endpoint
    with pytest.raises(ClientError) as error:
        rds.modify_db_parameter_group(
            DBParameterGroupName="default.postgres15",
            Parameters=[{"ParameterName": "work_mem", "ParameterValue": "8MB", "ApplyMethod": "immediate"}],
        )
    assert error.value.response["Error"]["Code"] == "InvalidParameterValue"
    rds.create_db_parameter_group(
        DBParameterGroupName="api-pg", DBParameterGroupFamily="postgres15", Description="d"
    )
    with pytest.raises(ClientError) as error:
        rds.create_db_parameter_group(
            DBParameterGroupName="API-PG", DBParameterGroupFamily="postgres15", Description="d"
        )
    assert error.value.response["Error"]["Code"] == "DBParameterGroupAlreadyExists"
    with pytest.raises(ClientError) as error:
        rds.modify_db_parameter_group(
            DBParameterGroupName="api-pg", Parameters=[{"ParameterName": "no_such", "ParameterValue": "1"}]
        )
    assert error.value.response["Error"]["Message"] == "Could not find parameter with name: no_such"
    with pytest.raises(ClientError) as error:
        rds.create_db_instance(**{**VALID, "Engine": "mysql", "DBParameterGroupName": "api-pg"})
    assert error.value.response["Error"]["Code"] == "InvalidParameterCombination"
    groups = [g["DBParameterGroupName"] for g in rds.describe_db_parameter_groups()["DBParameterGroups"]]
    assert {"default.postgres15", "default.mysql8.0", "default.mariadb10.11", "api-pg"} <= set(groups)
    rds.delete_db_parameter_group(DBParameterGroupName="api-pg")
    with pytest.raises(ClientError) as error:
        rds.describe_db_parameter_groups(DBParameterGroupName="api-pg")
    assert error.value.response["Error"]["Code"] == "DBParameterGroupNotFound"


def test_subnet_groups_are_recorded(onebox, rds) -> None:
    ec2 = onebox.client("ec2")
    defaults = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    by_zone = {s["AvailabilityZone"]: s["SubnetId"] for s in defaults}
    two = [by_zone["us-east-1a"], by_zone["us-east-1b"]]
    for subnets, code in (
        (["subnet-0123456789abcdef0", two[0]], "InvalidSubnet"),
        (two[:1], "DBSubnetGroupDoesNotCoverEnoughAZs"),
    ):
        with pytest.raises(ClientError) as error:
            rds.create_db_subnet_group(
                DBSubnetGroupName="db-subnets", DBSubnetGroupDescription="bad", SubnetIds=subnets
            )
        assert error.value.response["Error"]["Code"] == code
    group = rds.create_db_subnet_group(
        DBSubnetGroupName="db-subnets", DBSubnetGroupDescription="two", SubnetIds=two
    )["DBSubnetGroup"]
    assert [s["SubnetIdentifier"] for s in group["Subnets"]] == two
    assert [s["SubnetAvailabilityZone"]["Name"] for s in group["Subnets"]] == ["us-east-1a", "us-east-1b"]
    assert group["VpcId"] == defaults[0]["VpcId"]
    with pytest.raises(ClientError) as error:
        rds.create_db_subnet_group(
            DBSubnetGroupName="db-subnets", DBSubnetGroupDescription="x", SubnetIds=two
        )
    assert error.value.response["Error"]["Code"] == "DBSubnetGroupAlreadyExists"
    listed = rds.describe_db_subnet_groups(DBSubnetGroupName="db-subnets")["DBSubnetGroups"]
    assert listed[0]["DBSubnetGroupDescription"] == "two"
    rds.delete_db_subnet_group(DBSubnetGroupName="db-subnets")
    with pytest.raises(ClientError) as error:
        rds.describe_db_subnet_groups(DBSubnetGroupName="db-subnets")
    assert error.value.response["Error"]["Code"] == "DBSubnetGroupNotFoundFault"


def test_not_found_answers(rds) -> None:
    for call, code in (
        (
            lambda: rds.delete_db_instance(DBInstanceIdentifier="ghost", SkipFinalSnapshot=True),
            "DBInstanceNotFound",
        ),
        (lambda: rds.reboot_db_instance(DBInstanceIdentifier="ghost"), "DBInstanceNotFound"),
        (lambda: rds.describe_db_snapshots(DBSnapshotIdentifier="ghost"), "DBSnapshotNotFound"),
        (lambda: rds.delete_db_snapshot(DBSnapshotIdentifier="ghost"), "DBSnapshotNotFound"),
        (
            lambda: rds.restore_db_instance_from_db_snapshot(
                DBInstanceIdentifier="x", DBSnapshotIdentifier="ghost"
            ),
            "DBSnapshotNotFound",
        ),
        (
            lambda: rds.restore_db_instance_to_point_in_time(
                SourceDBInstanceIdentifier="ghost",
                TargetDBInstanceIdentifier="x",
                UseLatestRestorableTime=True,
            ),
            "DBInstanceNotFound",
        ),
        (lambda: rds.describe_db_log_files(DBInstanceIdentifier="ghost"), "DBInstanceNotFound"),
    ):
        with pytest.raises(ClientError) as error:
            call()
        assert error.value.response["Error"]["Code"] == code


def test_unknown_security_group_creates_nothing(onebox, rds) -> None:
    ec2 = onebox.client("ec2")

    def interfaces() -> int:
        return len(ec2.describe_network_interfaces()["NetworkInterfaces"])

    before = interfaces()
    with pytest.raises(ClientError) as error:
        rds.create_db_instance(
            DBInstanceIdentifier="no-such-group",
            Engine="postgres",
            DBInstanceClass="db.t3.micro",
            AllocatedStorage=20,
            MasterUsername="master",
            MasterUserPassword="s3cret-pass",
            VpcSecurityGroupIds=["sg-0123456789abcdef0"],
        )
    assert error.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert "sg-0123456789abcdef0" in error.value.response["Error"]["Message"]
    assert interfaces() == before
    assert not rds.describe_db_instances(Filters=[{"Name": "db-instance-id", "Values": ["no-such-group"]}])[
        "DBInstances"
    ]
