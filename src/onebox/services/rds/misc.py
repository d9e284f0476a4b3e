"""Engine versions, orderable options, events, tags, DB subnet groups and log files."""

from __future__ import annotations

from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.host.engines import logs
from onebox.services.rds import catalog, placement
from onebox.services.rds.common import (
    EVENT,
    INSTANCE,
    PARAMETER_GROUP,
    RDS_TAG_RULES,
    SNAPSHOT,
    SUBNET_GROUP,
    instance_dir,
    iso,
    rds_arn,
    require,
)
from onebox.services.rds.instances import get_instance
from onebox.store import Record
from onebox.store.ids import parse_arn
from onebox.store.tags import apply_tags, tags_from_list, tags_to_list

api = ServiceApi("rds")

EVENT_RETENTION = 14 * 24 * 3600


@api.operation("DescribeDBEngineVersions")
def describe_engine_versions(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    result = []
    for v in catalog.versions():
        if params.get("Engine") and params["Engine"] != v.engine:
            continue
        if params.get("EngineVersion"):
            try:
                if catalog.resolve(v.engine, params["EngineVersion"]) != v:
                    continue
            except AwsError:
                continue
        if params.get("DBParameterGroupFamily") and params["DBParameterGroupFamily"] != v.family:
            continue
        item: dict[str, Any] = {
            "Engine": v.engine,
            "EngineVersion": v.version,
            "DBParameterGroupFamily": v.family,
            "DBEngineDescription": v.description,
            "DBEngineVersionDescription": f"{v.description} {v.version}",
            "MajorEngineVersion": v.version.split(".")[0]
            if v.engine == "postgres"
            else ".".join(v.version.split(".")[:2]),
            "ValidUpgradeTarget": [],
            "ExportableLogTypes": ["postgresql"]
            if v.engine == "postgres"
            else ["error", "general", "slowquery"],
            "SupportsLogExportsToCloudwatchLogs": True,
            "SupportsReadReplica": False,
            "Status": "available",
            "SupportsParallelQuery": False,
            "SupportsGlobalDatabases": False,
        }
        result.append(item)  # one version per engine: it is also the default
    return {"DBEngineVersions": result}


@api.operation("DescribeOrderableDBInstanceOptions")
def describe_orderable(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    engine = params["Engine"]
    if engine not in catalog.ENGINES:
        return {"OrderableDBInstanceOptions": []}
    v = catalog.resolve(engine, None)
    if params.get("EngineVersion"):
        try:
            v = catalog.resolve(engine, params["EngineVersion"])
        except AwsError:
            return {"OrderableDBInstanceOptions": []}
    options = []
    for name in sorted(catalog.INSTANCE_CLASSES):
        if params.get("DBInstanceClass") and params["DBInstanceClass"] != name:
            continue
        for storage_type in ("gp2", "gp3"):
            low, high = catalog.STORAGE_BOUNDS[storage_type]
            options.append(
                {
                    "Engine": v.engine,
                    "EngineVersion": v.version,
                    "DBInstanceClass": name,
                    "LicenseModel": catalog.license_model(v.engine),
                    "AvailabilityZones": [{"Name": f"{ctx.region}{z}"} for z in "abc"],
                    "MultiAZCapable": False,
                    "ReadReplicaCapable": False,
                    "Vpc": True,
                    "SupportsStorageEncryption": False,
                    "StorageType": storage_type,
                    "SupportsIops": storage_type == "gp3",
                    "MinStorageSize": low,
                    "MaxStorageSize": high,
                    "SupportsIAMDatabaseAuthentication": False,
                    "SupportsPerformanceInsights": False,
                    "SupportedEngineModes": ["provisioned"],
                    "SupportedNetworkTypes": ["IPV4"],
                }
            )
    page, marker = ctx.runtime.store.paginator.paginate(
        options,
        params.get("MaxRecords", 100),
        params.get("Marker"),
        key=lambda o: (o["DBInstanceClass"], o["StorageType"]),
        scope=f"rds-orderable:{engine}",
    )
    result: dict[str, Any] = {"OrderableDBInstanceOptions": page}
    if marker:
        result["Marker"] = marker
    return result


@api.operation("DescribeEvents")
def describe_events(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    now = ctx.runtime.clock.time()
    end = params["EndTime"].timestamp() if params.get("EndTime") else now
    if params.get("StartTime"):
        start = params["StartTime"].timestamp()
    else:
        start = end - 60 * params.get("Duration", 60)
    store = ctx.runtime.store
    events = []
    for record in store.list(EVENT, ctx.account_id, ctx.region):
        spec = record.spec
        if spec["Date"] < now - EVENT_RETENTION:
            store.delete_by_id(EVENT, ctx.account_id, ctx.region, record.id)
            continue
        if not start <= spec["Date"] <= end:
            continue
        if params.get("SourceType") and spec["SourceType"] != params["SourceType"]:
            continue
        if params.get("SourceIdentifier") and spec["SourceIdentifier"] != params["SourceIdentifier"].lower():
            continue
        if params.get("EventCategories") and not set(params["EventCategories"]) & set(
            spec["EventCategories"]
        ):
            continue
        events.append(
            {
                "SourceIdentifier": spec["SourceIdentifier"],
                "SourceType": spec["SourceType"],
                "Message": spec["Message"],
                "EventCategories": spec["EventCategories"],
                "Date": iso(spec["Date"]),
                "SourceArn": spec["SourceArn"],
            }
        )
    return {"Events": events}


# -- tags ----------------------------------------------------------------------------------------------

_ARN_KINDS = {"db": INSTANCE, "snapshot": SNAPSHOT, "pg": PARAMETER_GROUP, "subgrp": SUBNET_GROUP}


def _resource(ctx: RequestContext, resource_arn: str) -> Record:
    try:
        parsed = parse_arn(resource_arn)
        kind_name, name = parsed.resource.split(":", 1)
    except (ValueError, AttributeError):
        raise AwsError("InvalidParameterValue", f"Invalid resource name: {resource_arn}") from None
    kind = _ARN_KINDS.get(kind_name)
    record = ctx.runtime.store.get(kind, ctx.account_id, ctx.region, name.lower()) if kind else None
    if record is None:
        if kind_name == "snapshot":
            raise AwsError("DBSnapshotNotFound", f"DBSnapshot {name} not found.", 404)
        if kind_name == "pg":
            raise AwsError("DBParameterGroupNotFound", f"DBParameterGroup not found: {name}", 404)
        if kind_name == "subgrp":
            raise AwsError("DBSubnetGroupNotFoundFault", f"DBSubnetGroup '{name}' not found.", 404)
        raise AwsError("DBInstanceNotFound", f"DBInstance {name} not found.", 404)
    return record


@api.operation("AddTagsToResource")
def add_tags(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    with store.transaction():
        record = _resource(ctx, params["ResourceName"])
        tags = apply_tags(record.tags, tags_from_list(params.get("Tags")), RDS_TAG_RULES)
        store.update(record, tags=tags)
    return {}


@api.operation("RemoveTagsFromResource")
def remove_tags(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    with store.transaction():
        record = _resource(ctx, params["ResourceName"])
        tags = {k: v for k, v in record.tags.items() if k not in set(params.get("TagKeys") or [])}
        store.update(record, tags=tags)
    return {}


@api.operation("ListTagsForResource")
def list_tags(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"TagList": tags_to_list(_resource(ctx, params["ResourceName"]).tags)}


# -- DB subnet groups (EC2 subnets of one VPC in two or more zones; placement.py places instances) ----


def _subnet_group_view(record: Record) -> dict[str, Any]:
    return {
        "DBSubnetGroupName": record.id,
        "DBSubnetGroupDescription": record.spec["Description"],
        "VpcId": record.spec.get("VpcId", ""),
        "SubnetGroupStatus": "Complete",
        "Subnets": [
            {
                "SubnetIdentifier": s,
                "SubnetStatus": "Active",
                "SubnetAvailabilityZone": {"Name": record.spec.get("Zones", {}).get(s, "")},
            }
            for s in record.spec["SubnetIds"]
        ],
        "DBSubnetGroupArn": record.arn,
        "SupportedNetworkTypes": ["IPV4"],
    }


@api.operation("CreateDBSubnetGroup")
def create_subnet_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["DBSubnetGroupName"]
    if name.lower() == "default" or not name or len(name) > 255:
        raise AwsError("InvalidParameterValue", f"Invalid DB subnet group name: {name}")
    subnets = list(params.get("SubnetIds") or [])
    if not subnets:
        raise AwsError(
            "InvalidParameterValue", "The parameter SubnetIds must be provided and must not be blank."
        )
    store = ctx.runtime.store
    if store.get(SUBNET_GROUP, ctx.account_id, ctx.region, name.lower()) is not None:
        raise AwsError("DBSubnetGroupAlreadyExists", f"The DB subnet group '{name}' already exists.")
    description = require(params, "DBSubnetGroupDescription")
    record = store.create(
        SUBNET_GROUP,
        ctx.account_id,
        ctx.region,
        name.lower(),
        arn=rds_arn(ctx.region, ctx.account_id, "subgrp", name.lower()),
        spec={"Description": description, **placement.subnet_group_spec(ctx, subnets)},
        tags=apply_tags({}, tags_from_list(params.get("Tags")), RDS_TAG_RULES),
    )
    return {"DBSubnetGroup": _subnet_group_view(record)}


@api.operation("DescribeDBSubnetGroups")
def describe_subnet_groups(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    if params.get("DBSubnetGroupName"):
        record = store.get(SUBNET_GROUP, ctx.account_id, ctx.region, params["DBSubnetGroupName"].lower())
        if record is None:
            raise AwsError(
                "DBSubnetGroupNotFoundFault", f"DBSubnetGroup '{params['DBSubnetGroupName']}' not found.", 404
            )
        records = [record]
    else:
        records = store.list(SUBNET_GROUP, ctx.account_id, ctx.region)
    return {"DBSubnetGroups": [_subnet_group_view(r) for r in records]}


@api.operation("ModifyDBSubnetGroup")
def modify_subnet_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    record = store.get(SUBNET_GROUP, ctx.account_id, ctx.region, params["DBSubnetGroupName"].lower())
    if record is None:
        raise AwsError(
            "DBSubnetGroupNotFoundFault", f"DBSubnetGroup '{params['DBSubnetGroupName']}' not found.", 404
        )
    spec = dict(record.spec)
    if params.get("SubnetIds"):
        spec.update(placement.subnet_group_spec(ctx, list(params["SubnetIds"])))
    if params.get("DBSubnetGroupDescription"):
        spec["Description"] = params["DBSubnetGroupDescription"]
    record = store.update(record, spec=spec)
    return {"DBSubnetGroup": _subnet_group_view(record)}


@api.operation("DeleteDBSubnetGroup")
def delete_subnet_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    with store.transaction():
        record = store.get(SUBNET_GROUP, ctx.account_id, ctx.region, params["DBSubnetGroupName"].lower())
        if record is None:
            raise AwsError(
                "DBSubnetGroupNotFoundFault", f"DBSubnetGroup '{params['DBSubnetGroupName']}' not found.", 404
            )
        if any(
            r.spec.get("DBSubnetGroupName") == record.id
            for r in store.list(INSTANCE, ctx.account_id, ctx.region)
        ):
            raise AwsError(
                "InvalidDBSubnetGroupStateFault",
                f"Cannot delete the subnet group '{record.id}' because at least one database instance: is still using it.",
            )
        store.delete(record)
    return {}


# -- log files -----------------------------------------------------------------------------------------


def _log_files(ctx: RequestContext, identifier: str) -> list[logs.LogFile]:
    instance = get_instance(ctx, identifier)
    root = instance_dir(ctx.runtime, instance.spec["DbiResourceId"])
    return logs.list_logs(root / "log", instance.spec["Driver"])


@api.operation("DescribeDBLogFiles")
def describe_log_files(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    files = _log_files(ctx, params["DBInstanceIdentifier"])
    if params.get("FilenameContains"):
        files = [f for f in files if params["FilenameContains"] in f.name]
    if params.get("FileLastWritten"):
        files = [f for f in files if f.mtime * 1000 >= params["FileLastWritten"]]
    if params.get("FileSize"):
        files = [f for f in files if f.size >= params["FileSize"]]
    return {
        "DescribeDBLogFiles": [
            {"LogFileName": f.name, "LastWritten": int(f.mtime * 1000), "Size": f.size} for f in files
        ]
    }


@api.operation("DownloadDBLogFilePortion")
def download_log_portion(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    files = {f.name: f for f in _log_files(ctx, params["DBInstanceIdentifier"])}
    log_file = files.get(params["LogFileName"])
    if log_file is None:
        raise AwsError(
            "DBLogFileNotFoundFault",
            f"DBLog File: {params['LogFileName']}, is not found on the DB instance",
            404,
        )
    marker_text = params.get("Marker") or "0"
    try:
        marker = int(marker_text.split(":")[-1])
    except ValueError:
        raise AwsError("InvalidParameterValue", f"Invalid marker: {marker_text}") from None
    text, end, more = logs.read_portion(log_file.path, marker, params.get("NumberOfLines"))
    return {"LogFileData": text, "Marker": f"0:{end}", "AdditionalDataPending": more}
