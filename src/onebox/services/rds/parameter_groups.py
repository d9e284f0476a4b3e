"""DB parameter groups: create, describe, modify, reset, delete, and their parameters. The instance
controller applies a group's values to the real servers that use it."""

from __future__ import annotations

from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.host.engines import mariadb, postgres
from onebox.services.rds import catalog
from onebox.services.rds.common import INSTANCE, PARAMETER_GROUP, RDS_TAG_RULES, rds_arn, require
from onebox.store import Record
from onebox.store.tags import apply_tags, tags_from_list

api = ServiceApi("rds")


def parameters_of(family: str) -> dict[str, postgres.Parameter]:
    engine = catalog.by_family(family)
    if engine is None:
        return {}
    return postgres.catalog() if engine.driver == "postgres" else mariadb.catalog()


def _family(value: str) -> str:
    if catalog.by_family(value) is None:
        raise AwsError(
            "InvalidParameterValue", f"The parameter DBParameterGroupFamily {value} is not a valid family."
        )
    return value


def get_group(ctx: RequestContext, name: str) -> Record | dict[str, Any]:
    """A stored group, or a default group (`default.<family>`, read-only, all defaults)."""
    if name.startswith("default."):
        family = name[len("default.") :]
        if catalog.by_family(family) is not None:
            return {"name": name, "family": family}
    record = ctx.runtime.store.get(PARAMETER_GROUP, ctx.account_id, ctx.region, name.lower())
    if record is None:
        raise AwsError("DBParameterGroupNotFound", f"DBParameterGroup not found: {name}", 404)
    return record


def group_view(ctx: RequestContext, group: Record | dict[str, Any]) -> dict[str, Any]:
    if isinstance(group, dict):
        return {
            "DBParameterGroupName": group["name"],
            "DBParameterGroupFamily": group["family"],
            "Description": f"Default parameter group for {group['family']}",
            "DBParameterGroupArn": rds_arn(ctx.region, ctx.account_id, "pg", group["name"]),
        }
    return {
        "DBParameterGroupName": group.id,
        "DBParameterGroupFamily": group.spec["DBParameterGroupFamily"],
        "Description": group.spec["Description"],
        "DBParameterGroupArn": group.arn,
    }


@api.operation("CreateDBParameterGroup")
def create_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["DBParameterGroupName"]
    if name.lower().startswith("default") or not name[:1].isalpha() or "--" in name or name.endswith("-"):
        raise AwsError(
            "InvalidParameterValue",
            "The parameter DBParameterGroupName is not a valid identifier. Identifiers must begin with a "
            "letter; must contain only ASCII letters, digits, and hyphens; and must not end with a hyphen or "
            "contain two consecutive hyphens.",
        )
    family = _family(params["DBParameterGroupFamily"])
    store = ctx.runtime.store
    if store.get(PARAMETER_GROUP, ctx.account_id, ctx.region, name.lower()) is not None:
        raise AwsError("DBParameterGroupAlreadyExists", f"Parameter group {name.lower()} already exists")
    record = store.create(
        PARAMETER_GROUP,
        ctx.account_id,
        ctx.region,
        name.lower(),
        arn=rds_arn(ctx.region, ctx.account_id, "pg", name.lower()),
        spec={
            "DBParameterGroupFamily": family,
            "Description": require(params, "Description"),
            "Parameters": {},
        },
        tags=apply_tags({}, tags_from_list(params.get("Tags")), RDS_TAG_RULES),
    )
    return {"DBParameterGroup": group_view(ctx, record)}


@api.operation("DescribeDBParameterGroups")
def describe_groups(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    if params.get("DBParameterGroupName"):
        groups: list[Any] = [get_group(ctx, params["DBParameterGroupName"])]
    else:
        groups = [{"name": f"default.{v.family}", "family": v.family} for v in catalog.versions()]
        groups += ctx.runtime.store.list(PARAMETER_GROUP, ctx.account_id, ctx.region)
    return {"DBParameterGroups": [group_view(ctx, g) for g in groups]}


@api.operation("DeleteDBParameterGroup")
def delete_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    with store.transaction():
        group = get_group(ctx, params["DBParameterGroupName"])
        if isinstance(group, dict):
            raise AwsError("InvalidDBParameterGroupState", "Default parameter groups cannot be deleted")
        users = [
            r.id
            for r in store.list(INSTANCE, ctx.account_id, ctx.region)
            if r.spec["DBParameterGroupName"] == group.id
        ]
        if users:
            raise AwsError(
                "InvalidDBParameterGroupState",
                f"One or more database instances are still members of this parameter group {group.id}, so the "
                "group cannot be deleted",
            )
        store.delete(group)
    return {}


def _modifiable(group: Record | dict[str, Any]) -> Record:
    if isinstance(group, dict):
        raise AwsError("InvalidParameterValue", "The default parameter groups cannot be modified.")
    return group


@api.operation("ModifyDBParameterGroup")
def modify_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    with store.transaction():
        group = _modifiable(get_group(ctx, params["DBParameterGroupName"]))
        known = parameters_of(group.spec["DBParameterGroupFamily"])
        values = dict(group.spec["Parameters"])
        items = params.get("Parameters") or []
        if not 1 <= len(items) <= 20:
            raise AwsError(
                "InvalidParameterValue",
                "A parameter group can be modified with 1 to 20 parameters at a time.",
            )
        for item in items:
            name = item.get("ParameterName")
            if not name or name not in known:
                raise AwsError("InvalidParameterValue", f"Could not find parameter with name: {name}")
            method = item.get("ApplyMethod") or "immediate"
            if known[name].apply_type == "static" and method == "immediate":
                raise AwsError(
                    "InvalidParameterCombination",
                    f"cannot use immediate apply method for static parameter {name}",
                )
            if "ParameterValue" not in item or item["ParameterValue"] is None:
                raise AwsError("InvalidParameterValue", f"The parameter value for {name} is missing.")
            values[name] = {"Value": str(item["ParameterValue"]), "ApplyMethod": method}
        spec = {**group.spec, "Parameters": values}
        store.update(group, spec=spec)
    return {"DBParameterGroupName": group.id}


@api.operation("ResetDBParameterGroup")
def reset_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    with store.transaction():
        group = _modifiable(get_group(ctx, params["DBParameterGroupName"]))
        values = dict(group.spec["Parameters"])
        if params.get("ResetAllParameters"):
            values = {}
        else:
            for item in params.get("Parameters") or []:
                values.pop(item.get("ParameterName"), None)
        store.update(group, spec={**group.spec, "Parameters": values})
    return {"DBParameterGroupName": group.id}


def _parameter_view(p: postgres.Parameter, value: str | None, method: str | None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "ParameterName": p.name,
        "Description": p.description,
        "Source": "user" if value is not None else "engine-default",
        "ApplyType": p.apply_type,
        "DataType": p.data_type,
        "IsModifiable": True,
        "ApplyMethod": method or ("pending-reboot" if p.apply_type == "static" else "immediate"),
    }
    if p.allowed:
        view["AllowedValues"] = p.allowed
    if value is not None:
        view["ParameterValue"] = value
    return view


@api.operation("DescribeDBParameters")
def describe_parameters(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    group = get_group(ctx, params["DBParameterGroupName"])
    family = group["family"] if isinstance(group, dict) else group.spec["DBParameterGroupFamily"]
    values = {} if isinstance(group, dict) else group.spec["Parameters"]
    source = params.get("Source")
    views = []
    for name, p in sorted(parameters_of(family).items()):
        set_value = values.get(name)
        view = _parameter_view(
            p, set_value["Value"] if set_value else None, set_value["ApplyMethod"] if set_value else None
        )
        if source and view["Source"] != source:
            continue
        views.append(view)
    page, marker = ctx.runtime.store.paginator.paginate(
        views,
        params.get("MaxRecords", 100),
        params.get("Marker"),
        key=lambda v: v["ParameterName"],
        scope=f"rds-params:{family}",
    )
    result: dict[str, Any] = {"Parameters": page}
    if marker:
        result["Marker"] = marker
    return result


@api.operation("DescribeEngineDefaultParameters")
def describe_engine_defaults(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    family = _family(params["DBParameterGroupFamily"])
    views = [_parameter_view(p, None, None) for _, p in sorted(parameters_of(family).items())]
    return {"EngineDefaults": {"DBParameterGroupFamily": family, "Parameters": views}}
