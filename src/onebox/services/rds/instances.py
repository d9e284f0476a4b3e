"""DB instances: create, describe, modify, reboot, stop, start, delete. Handlers record intent; the
instance controller (controller.py) runs the real server."""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.services.rds import catalog, placement
from onebox.services.rds.common import (
    AUTOMATED_BACKUP,
    INSTANCE,
    PARAMETER_GROUP,
    RDS_TAG_RULES,
    SNAPSHOT,
    SUBNET_GROUP,
    add_event,
    check_identifier,
    check_window,
    endpoint_host,
    iso,
    new_resource_id,
    rds_arn,
    require,
)
from onebox.store import AlreadyExists, Record
from onebox.store.filters import Filters
from onebox.store.tags import apply_tags, tags_from_list, tags_to_list

api = ServiceApi("rds")

DEFAULT_BACKUP_WINDOW = "03:00-03:30"
DEFAULT_MAINTENANCE_WINDOW = "sun:05:00-sun:05:30"
INSTANCE_FILTERS = ("db-instance-id", "dbi-resource-id", "engine", "db-cluster-id", "domain")
_BAD_PASSWORD_CHARS = set('/@" ')


def check_password(password: str, engine: str) -> None:
    limit = 128 if engine == "postgres" else 41
    if len(password) < 8:
        raise AwsError(
            "InvalidParameterValue",
            "The parameter MasterUserPassword is not a valid password because it is shorter than 8 characters.",
        )
    if len(password) > limit:
        raise AwsError(
            "InvalidParameterValue",
            f"The parameter MasterUserPassword is not a valid password because it is longer than {limit} "
            "characters.",
        )
    if any(c in _BAD_PASSWORD_CHARS or not (32 < ord(c) < 127) for c in password):
        raise AwsError(
            "InvalidParameterValue",
            "The parameter MasterUserPassword is not a valid password. Only printable ASCII characters "
            "besides '/', '@', '\"', ' ' may be used.",
        )


def check_master_username(name: str, engine: str) -> None:
    limit = 63 if engine == "postgres" else 16
    if not (
        name[:1].isalpha() and name.replace("_", "a").isalnum() and len(name) <= limit and name.isascii()
    ):
        raise AwsError(
            "InvalidParameterValue",
            f"The parameter MasterUsername is not a valid identifier. MasterUsername must be 1 to {limit} "
            "letters, digits or underscores, beginning with a letter.",
        )
    if name.lower() in ("rdsadmin", "root", "mysql.sys", "mariadb.sys") or (
        engine == "postgres" and name.lower() in ("postgres", "rds_superuser")
    ):
        raise AwsError(
            "InvalidParameterValue",
            f"MasterUsername {name} cannot be used as it is a reserved word used by the engine",
        )


def check_retention(value: int) -> int:
    if not 0 <= value <= 35:
        raise AwsError(
            "InvalidParameterValue", "The parameter BackupRetentionPeriod must be between 0 and 35 days."
        )
    return value


def address_block(state_dir: object) -> ipaddress.IPv4Network:
    """127.N.0.0/16 with N in 10..209 chosen by the state directory, so daemons with different state
    directories on one host do not hand out the same addresses."""
    n = 10 + int(hashlib.sha256(str(state_dir).encode()).hexdigest(), 16) % 200
    return ipaddress.ip_network(f"127.{n}.0.0/16")


def allocate_address(ctx: RequestContext) -> str:
    used = {r.spec.get("Address") for r in ctx.runtime.store.list_all(INSTANCE)}
    for host in address_block(ctx.runtime.config.state_dir).hosts():
        if str(host) not in used and int(host) & 0xFF not in (0, 255):
            return str(host)
    raise AwsError("InstanceQuotaExceeded", "No more DB instance addresses are available on this host.")


def get_instance(ctx: RequestContext, identifier: str) -> Record:
    record = ctx.runtime.store.get(INSTANCE, ctx.account_id, ctx.region, identifier.lower())
    if record is None:
        raise AwsError("DBInstanceNotFound", f"DBInstance {identifier} not found.", 404)
    return record


def parameter_group_for(ctx: RequestContext, name: str | None, family: str) -> str:
    if not name:
        return f"default.{family}"
    if name.startswith("default."):
        if name != f"default.{family}":
            raise AwsError("DBParameterGroupNotFound", f"DBParameterGroup not found: {name}", 404)
        return name
    group = ctx.runtime.store.get(PARAMETER_GROUP, ctx.account_id, ctx.region, name.lower())
    if group is None:
        raise AwsError("DBParameterGroupNotFound", f"DBParameterGroup not found: {name}", 404)
    if group.spec["DBParameterGroupFamily"] != family:
        raise AwsError(
            "InvalidParameterCombination",
            f"The parameter group {name} with DBParameterGroupFamily {group.spec['DBParameterGroupFamily']} "
            f"cannot be used for this instance. Please use a Parameter Group with DBParameterGroupFamily {family}",
        )
    return group.id


def subnet_group_for(ctx: RequestContext, name: str | None) -> str | None:
    if not name:
        return None
    if name.lower() == "default":
        return "default"
    group = ctx.runtime.store.get(SUBNET_GROUP, ctx.account_id, ctx.region, name.lower())
    if group is None:
        raise AwsError("DBSubnetGroupNotFoundFault", f"DBSubnetGroup '{name}' not found.", 404)
    return group.id


def _subnet_group_record(ctx: RequestContext, name: str | None) -> Record | None:
    """The DB subnet group to place the instance in; None: the default VPC's subnets ("default")."""
    if name is None or name == "default":
        return None
    return ctx.runtime.store.get(SUBNET_GROUP, ctx.account_id, ctx.region, name)


def new_instance(
    ctx: RequestContext, params: dict[str, Any], *, source: dict[str, Any], base: dict[str, Any] | None = None
) -> Record:
    """Validate everything, then record one instance in state `creating` (nothing else changes on error)."""
    base = base or {}
    identifier = check_identifier(require(params, "DBInstanceIdentifier"))
    engine_name = params.get("Engine") or base.get("Engine")
    if not engine_name:
        raise AwsError(
            "InvalidParameterValue", "The parameter Engine must be provided and must not be blank."
        )
    engine = catalog.resolve(engine_name, params.get("EngineVersion") or base.get("EngineVersion"))
    instance_class = params.get("DBInstanceClass") or base.get("DBInstanceClass")
    if not instance_class:
        raise AwsError(
            "InvalidParameterValue", "The parameter DBInstanceClass must be provided and must not be blank."
        )
    catalog.check_class(engine, instance_class)
    storage_type = params.get("StorageType") or base.get("StorageType") or "gp2"
    storage = params.get("AllocatedStorage") or base.get("AllocatedStorage")
    if storage is None:
        raise AwsError(
            "InvalidParameterValue", "The parameter AllocatedStorage must be provided and must not be blank."
        )
    catalog.check_storage(engine.engine, storage_type, int(storage))
    if source["type"] == "new":
        master = require(params, "MasterUsername")
        check_master_username(master, engine.engine)
        password = require(params, "MasterUserPassword")
        check_password(password, engine.engine)
    else:
        master, password = base["MasterUsername"], base["MasterUserPassword"]
    retention = check_retention(
        int(params.get("BackupRetentionPeriod", base.get("BackupRetentionPeriod", 1)))
    )
    backup_window = (
        params.get("PreferredBackupWindow") or base.get("PreferredBackupWindow") or DEFAULT_BACKUP_WINDOW
    )
    check_window(backup_window, "PreferredBackupWindow")
    db_name = params.get("DBName") or base.get("DBName")
    port = int(params.get("Port") or engine.port)
    if not 1150 <= port <= 65535:
        raise AwsError("InvalidParameterValue", "Invalid port: the port must be between 1150 and 65535.")
    store = ctx.runtime.store
    with store.transaction():
        if store.get(INSTANCE, ctx.account_id, ctx.region, identifier) is not None:
            raise AwsError("DBInstanceAlreadyExists", "DB instance already exists")
        param_group = parameter_group_for(ctx, params.get("DBParameterGroupName"), engine.family)
        subnet_group = subnet_group_for(ctx, params.get("DBSubnetGroupName"))
        address = allocate_address(ctx)
        vpc = placement.place(
            ctx,
            identifier,
            _subnet_group_record(ctx, subnet_group),
            list(params.get("VpcSecurityGroupIds") or []),
            params.get("AvailabilityZone"),
        )
        spec = {
            "Engine": engine.engine,
            "EngineVersion": engine.version,
            "Family": engine.family,
            "Driver": engine.driver,
            "DBInstanceClass": instance_class,
            "AllocatedStorage": int(storage),
            "StorageType": storage_type,
            "MasterUsername": master,
            "MasterUserPassword": password,
            "DBName": db_name,
            "Port": port,
            "Address": address,
            "Host": endpoint_host(identifier, ctx.account_id, ctx.region),
            "DBSubnetGroupName": subnet_group,
            "VpcSecurityGroupIds": vpc["GroupIds"] if vpc else list(params.get("VpcSecurityGroupIds") or []),
            "Vpc": vpc,
            "AvailabilityZone": (vpc or {}).get("AvailabilityZone")
            or params.get("AvailabilityZone")
            or f"{ctx.region}a",
            "BackupRetentionPeriod": retention,
            "PreferredBackupWindow": backup_window,
            "PreferredMaintenanceWindow": (
                params.get("PreferredMaintenanceWindow") or DEFAULT_MAINTENANCE_WINDOW
            ).lower(),
            "DBParameterGroupName": param_group,
            "DeletionProtection": bool(params.get("DeletionProtection", False)),
            "CopyTagsToSnapshot": bool(params.get("CopyTagsToSnapshot", False)),
            "PubliclyAccessible": bool(params.get("PubliclyAccessible", False)),
            "DbiResourceId": new_resource_id(),
            "Source": source,
            "Desired": "available",
            "RebootSeq": 0,
            "PendingModifiedValues": {},
        }
        try:
            record = store.create(
                INSTANCE,
                ctx.account_id,
                ctx.region,
                identifier,
                arn=rds_arn(ctx.region, ctx.account_id, "db", identifier),
                spec=spec,
                status={"DBInstanceStatus": "creating", "Phase": "new"},
                tags=apply_tags({}, tags_from_list(params.get("Tags")), RDS_TAG_RULES),
            )
        except AlreadyExists as error:
            raise AwsError("DBInstanceAlreadyExists", "DB instance already exists") from error
        add_event(
            ctx.runtime,
            ctx.account_id,
            ctx.region,
            "db-instance",
            identifier,
            "DB instance created",
            "creation",
        )
    return record


def option_group_name(engine: str, family: str) -> str:
    """AWS's default option group: default:postgres-15, default:mysql-8-0, default:mariadb-10-11."""
    version = (
        family[len(engine) :] if family.startswith(engine) else family.lstrip("abcdefghijklmnopqrstuvwxyz")
    )
    return f"default:{engine}-{version.replace('.', '-')}"


def instance_view(record: Record) -> dict[str, Any]:
    spec, status = record.spec, record.status
    state = status.get("DBInstanceStatus", "creating")
    view: dict[str, Any] = {
        "DBInstanceIdentifier": record.id,
        "DBInstanceClass": spec["DBInstanceClass"],
        "Engine": spec["Engine"],
        "EngineVersion": spec["EngineVersion"],
        "DBInstanceStatus": state,
        "MasterUsername": spec["MasterUsername"],
        "AllocatedStorage": spec["AllocatedStorage"],
        "StorageType": spec["StorageType"],
        "PreferredBackupWindow": spec["PreferredBackupWindow"],
        "PreferredMaintenanceWindow": spec["PreferredMaintenanceWindow"],
        "BackupRetentionPeriod": spec["BackupRetentionPeriod"],
        "DBSecurityGroups": [],
        "VpcSecurityGroups": [
            {"VpcSecurityGroupId": group, "Status": "active"} for group in spec.get("VpcSecurityGroupIds", [])
        ],
        "DBParameterGroups": [
            {
                "DBParameterGroupName": spec["DBParameterGroupName"],
                "ParameterApplyStatus": status.get("ParameterApplyStatus", "in-sync"),
            }
        ],
        "AvailabilityZone": spec["AvailabilityZone"],
        "PendingModifiedValues": spec.get("PendingModifiedValues", {}),
        "MultiAZ": False,
        "AutoMinorVersionUpgrade": True,
        "ReadReplicaDBInstanceIdentifiers": [],
        "LicenseModel": catalog.license_model(spec["Engine"]),
        "OptionGroupMemberships": [
            {
                "OptionGroupName": option_group_name(spec["Engine"], spec["Family"]),
                "Status": "in-sync",
            }
        ],
        "PubliclyAccessible": spec.get("PubliclyAccessible", False),
        "StorageEncrypted": False,
        "DbiResourceId": spec["DbiResourceId"],
        "CACertificateIdentifier": "rds-ca-rsa2048-g1",
        "CopyTagsToSnapshot": spec.get("CopyTagsToSnapshot", False),
        "MonitoringInterval": 0,
        "DBInstanceArn": record.arn,
        "IAMDatabaseAuthenticationEnabled": False,
        "PerformanceInsightsEnabled": False,
        "DeletionProtection": spec.get("DeletionProtection", False),
        "TagList": tags_to_list(record.tags),
        "DbInstancePort": 0,
        "BackupTarget": "region",
        "NetworkType": "IPV4",
    }
    if spec.get("DBName"):
        view["DBName"] = spec["DBName"]
    if state not in ("creating",) or status.get("Phase") not in ("new", "files"):
        view["Endpoint"] = {"Address": spec["Host"], "Port": spec["Port"], "HostedZoneId": "Z2R2ITUGPM61AM"}
    if status.get("InstanceCreateTime"):
        view["InstanceCreateTime"] = iso(status["InstanceCreateTime"])
    if status.get("LatestRestorableTime") and spec["BackupRetentionPeriod"] > 0:
        view["LatestRestorableTime"] = iso(status["LatestRestorableTime"])
    vpc = spec.get("Vpc")
    if spec.get("DBSubnetGroupName") or vpc:
        view["DBSubnetGroup"] = {
            "DBSubnetGroupName": spec.get("DBSubnetGroupName") or "default",
            "DBSubnetGroupDescription": spec.get("DBSubnetGroupName") or "default",
            "SubnetGroupStatus": "Complete",
            "Subnets": [],
        }
        if vpc:
            view["DBSubnetGroup"]["VpcId"] = vpc["VpcId"]
            view["DBSubnetGroup"]["Subnets"] = [
                {
                    "SubnetIdentifier": vpc["SubnetId"],
                    "SubnetAvailabilityZone": {"Name": vpc["AvailabilityZone"]},
                    "SubnetStatus": "Active",
                }
            ]
    return view


@api.operation("CreateDBInstance")
def create_db_instance(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    record = new_instance(ctx, params, source={"type": "new"})
    return {"DBInstance": instance_view(record)}


@api.operation("DescribeDBInstances")
def describe_db_instances(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    if params.get("DBInstanceIdentifier"):
        records = [get_instance(ctx, params["DBInstanceIdentifier"])]
    else:
        records = store.list(INSTANCE, ctx.account_id, ctx.region)
    filters = Filters.parse(params.get("Filters"), INSTANCE_FILTERS)
    records = filters.select(
        records,
        lambda r: {
            "db-instance-id": [r.id, r.arn],
            "dbi-resource-id": r.spec["DbiResourceId"],
            "engine": r.spec["Engine"],
            "db-cluster-id": [],
            "domain": [],
        },
        lambda r: {},
    )
    max_records = _max_records(params)
    page, marker = store.paginator.paginate(
        records,
        max_records,
        params.get("Marker"),
        key=lambda r: r.seq,
        scope="rds-instances",
        code="InvalidParameterValue",
        message="The marker is not valid.",
    )
    result: dict[str, Any] = {"DBInstances": [instance_view(r) for r in page]}
    if marker:
        result["Marker"] = marker
    return result


def _max_records(params: dict[str, Any]) -> int:
    value = params.get("MaxRecords", 100)
    if not 20 <= value <= 100:
        raise AwsError(
            "InvalidParameterValue", f"Invalid value {value} for MaxRecords. Must be between 20 and 100"
        )
    return value


def _change(
    ctx: RequestContext, record: Record, spec: dict[str, Any], status: dict[str, Any] | None = None
) -> Record:
    return ctx.runtime.store.update(record, spec=spec, status=status)


@api.operation("DeleteDBInstance")
def delete_db_instance(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    with store.transaction():
        record = get_instance(ctx, params["DBInstanceIdentifier"])
        spec, status = record.spec, dict(record.status)
        if spec.get("DeletionProtection"):
            raise AwsError(
                "InvalidParameterCombination",
                "Cannot delete protected DB Instance, please disable deletion protection and try again.",
            )
        if spec["Desired"] == "deleted":
            raise AwsError("InvalidDBInstanceState", f"Instance {record.id} is already being deleted.")
        skip = bool(params.get("SkipFinalSnapshot", False))
        final = params.get("FinalDBSnapshotIdentifier")
        if not skip and not final:
            raise AwsError(
                "InvalidParameterCombination",
                "FinalDBSnapshotIdentifier is required unless SkipFinalSnapshot is specified.",
            )
        if skip and final:
            raise AwsError(
                "InvalidParameterCombination",
                "Cannot specify both SkipFinalSnapshot and FinalDBSnapshotIdentifier",
            )
        if final:
            final = check_identifier(final, "FinalDBSnapshotIdentifier")
            if store.get(SNAPSHOT, ctx.account_id, ctx.region, final) is not None:
                raise AwsError(
                    "DBSnapshotAlreadyExists",
                    f"Cannot create the snapshot because a snapshot with the identifier {final} already exists.",
                )
            if status.get("DBInstanceStatus") not in ("available", "stopped", "storage-full"):
                raise AwsError(
                    "InvalidDBInstanceState",
                    f"Instance {record.id} is not in available state, cannot take a final snapshot.",
                )
        spec["Desired"] = "deleted"
        spec["Delete"] = {
            "FinalDBSnapshotIdentifier": final,
            "DeleteAutomatedBackups": bool(params.get("DeleteAutomatedBackups", True)),
        }
        status["DBInstanceStatus"] = "deleting"
        record = _change(ctx, record, spec, status)
    return {"DBInstance": instance_view(record)}


@api.operation("RebootDBInstance")
def reboot_db_instance(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.runtime.store.transaction():
        record = get_instance(ctx, params["DBInstanceIdentifier"])
        _require_state(record, "available", "reboot")
        spec, status = record.spec, dict(record.status)
        spec["RebootSeq"] = spec.get("RebootSeq", 0) + 1
        status["DBInstanceStatus"] = "rebooting"
        record = _change(ctx, record, spec, status)
    return {"DBInstance": instance_view(record)}


@api.operation("StopDBInstance")
def stop_db_instance(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.runtime.store.transaction():
        record = get_instance(ctx, params["DBInstanceIdentifier"])
        _require_state(record, "available", "stop")
        spec, status = record.spec, dict(record.status)
        spec["Desired"] = "stopped"
        status["DBInstanceStatus"] = "stopping"
        record = _change(ctx, record, spec, status)
        if params.get("DBSnapshotIdentifier"):
            from onebox.services.rds.snapshots import record_snapshot

            record_snapshot(ctx, record, params["DBSnapshotIdentifier"], [])
    return {"DBInstance": instance_view(record)}


@api.operation("StartDBInstance")
def start_db_instance(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.runtime.store.transaction():
        record = get_instance(ctx, params["DBInstanceIdentifier"])
        _require_state(record, "stopped", "start")
        spec, status = record.spec, dict(record.status)
        spec["Desired"] = "available"
        status["DBInstanceStatus"] = "starting"
        record = _change(ctx, record, spec, status)
    return {"DBInstance": instance_view(record)}


def _require_state(record: Record, state: str, action: str) -> None:
    current = record.status.get("DBInstanceStatus")
    if current != state:
        raise AwsError(
            "InvalidDBInstanceState",
            f"Instance {record.id} is not in {state} state."
            if action != "start"
            else f"Instance {record.id} is not stopped, cannot be started.",
        )


@api.operation("ModifyDBInstance")
def modify_db_instance(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    with store.transaction():
        record = get_instance(ctx, params["DBInstanceIdentifier"])
        spec, status = record.spec, dict(record.status)
        if status.get("DBInstanceStatus") not in ("available", "stopped", "storage-full"):
            raise AwsError("InvalidDBInstanceState", "Database instance is not in available state.")
        immediate = bool(params.get("ApplyImmediately", False))
        pending = dict(spec.get("PendingModifiedValues") or {})
        engine = catalog.resolve(spec["Engine"], spec["EngineVersion"])
        if "DBInstanceClass" in params:
            catalog.check_class(engine, params["DBInstanceClass"])
            if immediate:
                spec["DBInstanceClass"] = params["DBInstanceClass"]
            else:
                pending["DBInstanceClass"] = params["DBInstanceClass"]
        if "AllocatedStorage" in params:
            size = int(params["AllocatedStorage"])
            catalog.check_storage(spec["Engine"], spec["StorageType"], size)
            if size < spec["AllocatedStorage"]:
                raise AwsError(
                    "InvalidParameterValue",
                    "Invalid storage size for engine name "
                    f"{spec['Engine']} and storage type {spec['StorageType']}: {size}. "
                    "Allocated storage cannot be decreased.",
                )
            if immediate:
                spec["AllocatedStorage"] = size
            else:
                pending["AllocatedStorage"] = size
        if "MasterUserPassword" in params:
            check_password(params["MasterUserPassword"], spec["Engine"])
            spec["MasterUserPassword"] = params["MasterUserPassword"]  # always applied at once, as AWS
        if "BackupRetentionPeriod" in params:
            spec["BackupRetentionPeriod"] = check_retention(int(params["BackupRetentionPeriod"]))
        if params.get("PreferredBackupWindow"):
            check_window(params["PreferredBackupWindow"], "PreferredBackupWindow")
            spec["PreferredBackupWindow"] = params["PreferredBackupWindow"]
        if params.get("PreferredMaintenanceWindow"):
            spec["PreferredMaintenanceWindow"] = params["PreferredMaintenanceWindow"].lower()
        if "DeletionProtection" in params:
            spec["DeletionProtection"] = bool(params["DeletionProtection"])
        if "CopyTagsToSnapshot" in params:
            spec["CopyTagsToSnapshot"] = bool(params["CopyTagsToSnapshot"])
        if params.get("DBParameterGroupName"):
            spec["DBParameterGroupName"] = parameter_group_for(
                ctx, params["DBParameterGroupName"], spec["Family"]
            )
        if "VpcSecurityGroupIds" in params:
            groups = list(params["VpcSecurityGroupIds"] or [])
            if spec.get("Vpc"):
                groups = placement.set_groups(ctx, spec["Vpc"], groups)
                spec["Vpc"] = {**spec["Vpc"], "GroupIds": groups}
            spec["VpcSecurityGroupIds"] = groups
        if params.get("DBSubnetGroupName"):
            spec["DBSubnetGroupName"] = subnet_group_for(ctx, params["DBSubnetGroupName"])
        spec["PendingModifiedValues"] = pending
        if immediate and status.get("DBInstanceStatus") in ("available", "storage-full"):
            status["DBInstanceStatus"] = "modifying"
        record = _change(ctx, record, spec, status)
    return {"DBInstance": instance_view(record)}


@api.operation("DescribeDBInstanceAutomatedBackups")
def describe_automated_backups(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    records = ctx.runtime.store.list(AUTOMATED_BACKUP, ctx.account_id, ctx.region)
    if params.get("DbiResourceId"):
        records = [r for r in records if r.id == params["DbiResourceId"]]
    if params.get("DBInstanceIdentifier"):
        records = [
            r for r in records if r.spec["DBInstanceIdentifier"] == params["DBInstanceIdentifier"].lower()
        ]
    out = []
    for r in records:
        backups = r.status.get("Backups", [])
        item: dict[str, Any] = {
            "DBInstanceArn": r.spec["DBInstanceArn"],
            "DbiResourceId": r.id,
            "Region": r.region,
            "DBInstanceIdentifier": r.spec["DBInstanceIdentifier"],
            "Status": r.status.get("Status", "active"),
            "Engine": r.spec["Engine"],
            "EngineVersion": r.spec["EngineVersion"],
            "AllocatedStorage": r.spec["AllocatedStorage"],
            "Port": r.spec["Port"],
            "MasterUsername": r.spec["MasterUsername"],
            "BackupRetentionPeriod": r.spec["BackupRetentionPeriod"],
            "DBInstanceAutomatedBackupsArn": r.arn,
            "StorageType": r.spec["StorageType"],
            "BackupTarget": "region",
        }
        if backups:
            item["RestoreWindow"] = {
                "EarliestTime": iso(backups[0]["Time"]),
                "LatestTime": iso(r.status.get("LatestRestorableTime") or backups[-1]["Time"]),
            }
            item["InstanceCreateTime"] = iso(r.status.get("InstanceCreateTime") or backups[0]["Time"])
        out.append(item)
    return {"DBInstanceAutomatedBackups": out}
