"""Manual DB snapshots (create, describe, copy, delete), restore from a snapshot, and point-in-time
restore from automated backups plus the continuous log archive."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.runtime import Runtime
from onebox.services.rds.common import (
    AUTOMATED_BACKUP,
    RDS_TAG_RULES,
    SNAPSHOT,
    add_event,
    check_identifier,
    iso,
    rds_arn,
    require,
)
from onebox.services.rds.instances import get_instance, instance_view, new_instance
from onebox.store import Record
from onebox.store.ids import parse_arn
from onebox.store.tags import apply_tags, tags_from_list, tags_to_list

api = ServiceApi("rds")

SNAPSHOT_FILTERS = ("db-instance-id", "db-snapshot-id", "dbi-resource-id", "snapshot-type", "engine")
MANUAL_SNAPSHOT_QUOTA = 100
_COPIED_FIELDS = (
    "DBInstanceIdentifier",
    "DbiResourceId",
    "Engine",
    "EngineVersion",
    "Family",
    "Driver",
    "AllocatedStorage",
    "StorageType",
    "MasterUsername",
    "MasterUserPassword",
    "DBName",
    "Port",
    "AvailabilityZone",
    "DBInstanceClass",
)


def record_snapshot(
    ctx: RequestContext, instance: Record, identifier: str, tags: list[dict[str, str]] | None
) -> Record:
    return new_snapshot_record(ctx.runtime, instance, identifier, tags)


def new_snapshot_record(
    runtime: Runtime, instance: Record, identifier: str, tags: list[dict[str, str]] | None
) -> Record:
    """Record a manual snapshot of `instance` in state `creating`; the instance controller takes it."""
    identifier = check_identifier(identifier, "DBSnapshotIdentifier")
    store = runtime.store
    account, region = instance.account, instance.region
    if store.get(SNAPSHOT, account, region, identifier) is not None:
        raise AwsError(
            "DBSnapshotAlreadyExists",
            f"Cannot create the snapshot because a snapshot with the identifier {identifier} already exists.",
        )
    manual = [r for r in store.list(SNAPSHOT, account, region) if r.spec["SnapshotType"] == "manual"]
    if len(manual) >= MANUAL_SNAPSHOT_QUOTA:
        raise AwsError("SnapshotQuotaExceeded", "Cannot create more than 100 manual snapshots")
    spec = {field: instance.spec.get(field) for field in _COPIED_FIELDS}
    spec["DBInstanceIdentifier"] = instance.id
    spec["SnapshotType"] = "manual"
    spec["InstanceCreateTime"] = instance.status.get("InstanceCreateTime")
    spec["Source"] = {"type": "instance", "id": instance.id}
    user_tags = apply_tags({}, tags_from_list(tags), RDS_TAG_RULES)
    if not user_tags and instance.spec.get("CopyTagsToSnapshot"):
        user_tags = dict(instance.tags)
    record = store.create(
        SNAPSHOT,
        account,
        region,
        identifier,
        arn=rds_arn(region, account, "snapshot", identifier),
        spec=spec,
        status={"Status": "creating", "PercentProgress": 0},
        tags=user_tags,
    )
    add_event(runtime, account, region, "db-snapshot", identifier, "Creating manual snapshot", "creation")
    return record


def snapshot_view(record: Record) -> dict[str, Any]:
    spec, status = record.spec, record.status
    view: dict[str, Any] = {
        "DBSnapshotIdentifier": record.id,
        "DBInstanceIdentifier": spec["DBInstanceIdentifier"],
        "Engine": spec["Engine"],
        "EngineVersion": spec["EngineVersion"],
        "AllocatedStorage": spec["AllocatedStorage"],
        "Status": status.get("Status", "creating"),
        "Port": spec["Port"],
        "AvailabilityZone": spec["AvailabilityZone"],
        "MasterUsername": spec["MasterUsername"],
        "SnapshotType": spec["SnapshotType"],
        "LicenseModel": "postgresql-license" if spec["Engine"] == "postgres" else "general-public-license",
        "PercentProgress": status.get("PercentProgress", 0),
        "StorageType": spec["StorageType"],
        "Encrypted": False,
        "DBSnapshotArn": record.arn,
        "IAMDatabaseAuthenticationEnabled": False,
        "DbiResourceId": spec["DbiResourceId"],
        "TagList": tags_to_list(record.tags),
        "SnapshotTarget": "region",
        "OriginalSnapshotCreateTime": record.created_at,
    }
    if status.get("SnapshotCreateTime"):
        view["SnapshotCreateTime"] = iso(status["SnapshotCreateTime"])
    if spec.get("InstanceCreateTime"):
        view["InstanceCreateTime"] = iso(spec["InstanceCreateTime"])
    if spec.get("SourceDBSnapshotIdentifier"):
        view["SourceDBSnapshotIdentifier"] = spec["SourceDBSnapshotIdentifier"]
        view["SourceRegion"] = spec.get("SourceRegion")
    return view


def get_snapshot(ctx: RequestContext, identifier: str) -> Record:
    name = identifier
    if identifier.startswith("arn:"):
        name = parse_arn(identifier).resource.split(":", 1)[-1]
    record = ctx.runtime.store.get(SNAPSHOT, ctx.account_id, ctx.region, name.lower())
    if record is None:
        raise AwsError("DBSnapshotNotFound", f"DBSnapshot {identifier} not found.", 404)
    return record


@api.operation("CreateDBSnapshot")
def create_db_snapshot(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.runtime.store.transaction():
        instance = get_instance(ctx, params["DBInstanceIdentifier"])
        if instance.status.get("DBInstanceStatus") not in ("available", "stopped"):
            raise AwsError(
                "InvalidDBInstanceState",
                f"Cannot create a snapshot because the database instance {instance.id} is not currently in the "
                "available state.",
            )
        record = record_snapshot(ctx, instance, params["DBSnapshotIdentifier"], params.get("Tags"))
    return {"DBSnapshot": snapshot_view(record)}


@api.operation("DescribeDBSnapshots")
def describe_db_snapshots(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    from onebox.store.filters import Filters

    store = ctx.runtime.store
    if params.get("DBSnapshotIdentifier"):
        records = [get_snapshot(ctx, params["DBSnapshotIdentifier"])]
    else:
        records = store.list(SNAPSHOT, ctx.account_id, ctx.region)
    if params.get("DBInstanceIdentifier"):
        records = [
            r for r in records if r.spec["DBInstanceIdentifier"] == params["DBInstanceIdentifier"].lower()
        ]
    if params.get("DbiResourceId"):
        records = [r for r in records if r.spec["DbiResourceId"] == params["DbiResourceId"]]
    if params.get("SnapshotType"):
        records = [r for r in records if r.spec["SnapshotType"] == params["SnapshotType"]]
    filters = Filters.parse(params.get("Filters"), SNAPSHOT_FILTERS)
    records = filters.select(
        records,
        lambda r: {
            "db-instance-id": r.spec["DBInstanceIdentifier"],
            "db-snapshot-id": r.id,
            "dbi-resource-id": r.spec["DbiResourceId"],
            "snapshot-type": r.spec["SnapshotType"],
            "engine": r.spec["Engine"],
        },
        lambda r: {},
    )
    page, marker = store.paginator.paginate(
        records,
        params.get("MaxRecords", 100),
        params.get("Marker"),
        key=lambda r: r.seq,
        scope="rds-snapshots",
    )
    result: dict[str, Any] = {"DBSnapshots": [snapshot_view(r) for r in page]}
    if marker:
        result["Marker"] = marker
    return result


@api.operation("DeleteDBSnapshot")
def delete_db_snapshot(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.runtime.store.transaction():
        record = get_snapshot(ctx, params["DBSnapshotIdentifier"])
        if record.status.get("Status") != "available":
            raise AwsError(
                "InvalidDBSnapshotState",
                f"Cannot delete the snapshot {record.id} because it is not available.",
            )
        ctx.runtime.store.delete(record)  # the snapshot controller removes its files
    view = snapshot_view(record)
    view["Status"] = "deleted"
    return {"DBSnapshot": view}


@api.operation("CopyDBSnapshot")
def copy_db_snapshot(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    with store.transaction():
        source = get_snapshot(ctx, params["SourceDBSnapshotIdentifier"])
        if source.status.get("Status") != "available":
            raise AwsError("InvalidDBSnapshotState", f"Snapshot {source.id} is not in available state.")
        target = check_identifier(params["TargetDBSnapshotIdentifier"], "TargetDBSnapshotIdentifier")
        if store.get(SNAPSHOT, ctx.account_id, ctx.region, target) is not None:
            raise AwsError(
                "DBSnapshotAlreadyExists",
                f"Cannot create the snapshot because a snapshot with the identifier {target} already exists.",
            )
        spec = dict(source.spec)
        spec["SnapshotType"] = "manual"
        spec["SourceDBSnapshotIdentifier"] = source.arn
        spec["SourceRegion"] = source.region
        spec["Source"] = {"type": "copy", "account": source.account, "region": source.region, "id": source.id}
        tags = apply_tags({}, tags_from_list(params.get("Tags")), RDS_TAG_RULES)
        if not tags and params.get("CopyTags"):
            tags = dict(source.tags)
        record = store.create(
            SNAPSHOT,
            ctx.account_id,
            ctx.region,
            target,
            arn=rds_arn(ctx.region, ctx.account_id, "snapshot", target),
            spec=spec,
            status={"Status": "creating", "PercentProgress": 0},
            tags=tags,
        )
    return {"DBSnapshot": snapshot_view(record)}


@api.operation("RestoreDBInstanceFromDBSnapshot")
def restore_from_snapshot(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    snapshot = get_snapshot(ctx, require(params, "DBSnapshotIdentifier"))
    if snapshot.status.get("Status") != "available":
        raise AwsError("InvalidDBSnapshotState", f"Snapshot {snapshot.id} is not in available state.")
    base = dict(snapshot.spec)
    source = {"type": "snapshot", "account": snapshot.account, "region": snapshot.region, "id": snapshot.id}
    record = new_instance(ctx, params, source=source, base=base)
    return {"DBInstance": instance_view(record)}


@api.operation("RestoreDBInstanceToPointInTime")
def restore_to_point_in_time(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    if params.get("SourceDBInstanceIdentifier"):
        instance = get_instance(ctx, params["SourceDBInstanceIdentifier"])
        resource_id = instance.spec["DbiResourceId"]
        if instance.spec["BackupRetentionPeriod"] == 0:
            raise AwsError(
                "PointInTimeRestoreNotEnabled",
                f"Point-in-time restore is not enabled for DB instance {instance.id}: its backup retention "
                "period is 0.",
            )
    elif params.get("SourceDbiResourceId"):
        resource_id = params["SourceDbiResourceId"]
    else:
        raise AwsError(
            "InvalidParameterCombination",
            "One of SourceDBInstanceIdentifier, SourceDbiResourceId or SourceDBInstanceAutomatedBackupsArn "
            "must be specified.",
        )
    backups = store.get(AUTOMATED_BACKUP, ctx.account_id, ctx.region, resource_id)
    if backups is None or not backups.status.get("Backups"):
        if params.get("SourceDbiResourceId"):
            raise AwsError(
                "DBInstanceAutomatedBackupNotFound", f"No automated backup found for {resource_id}.", 404
            )
        raise AwsError(
            "InvalidDBInstanceState", "The source DB instance has no restorable backup yet; try again later."
        )
    earliest = backups.status["Backups"][0]["Time"]
    latest = backups.status.get("LatestRestorableTime") or earliest
    use_latest = bool(params.get("UseLatestRestorableTime"))
    restore_time: datetime | None = params.get("RestoreTime")
    if use_latest and restore_time is not None:
        raise AwsError(
            "InvalidParameterCombination", "Cannot specify both RestoreTime and UseLatestRestorableTime."
        )
    if not use_latest and restore_time is None:
        raise AwsError(
            "InvalidParameterCombination", "Either RestoreTime or UseLatestRestorableTime must be specified."
        )
    if restore_time is not None:
        if restore_time.tzinfo is None:
            restore_time = restore_time.replace(tzinfo=UTC)
        target = restore_time.timestamp()
        if not earliest <= target <= latest:
            raise AwsError(
                "InvalidRestoreFault",
                f"Restore time {restore_time.strftime('%Y-%m-%dT%H:%M:%SZ')} is outside the restorable window "
                f"{iso(earliest).strftime('%Y-%m-%dT%H:%M:%SZ')} to "  # type: ignore[union-attr]
                f"{iso(latest).strftime('%Y-%m-%dT%H:%M:%SZ')}.",  # type: ignore[union-attr]
            )
    else:
        target = latest
    base = dict(backups.spec)
    merged = {**params, "DBInstanceIdentifier": require(params, "TargetDBInstanceIdentifier")}
    source = {
        "type": "pitr",
        "account": ctx.account_id,
        "region": ctx.region,
        "resource": resource_id,
        # Whole seconds, as RDS restores: the state at hh:mm:ss.000.
        "time": float(int(target)),
    }
    record = new_instance(ctx, merged, source=source, base=base)
    return {"DBInstance": instance_view(record)}
