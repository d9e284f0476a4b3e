"""EC2 launch templates: versions, $Default and $Latest, and the data RunInstances launches from.

A template is one record (kind ec2:launch-template, named by LaunchTemplateName) whose spec holds every
version: {"Versions": [{"VersionNumber", "VersionDescription", "LaunchTemplateData", "CreateTime"}],
"DefaultVersion", "LatestVersion"}. Version numbers are never reused after a version is deleted, as in
EC2. Instances launched from a template carry the aws:ec2launchtemplate:id and :version tags EC2 adds.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.services.ec2.tags import Taggable, register
from onebox.store import AlreadyExists, Record
from onebox.store.filters import Filters
from onebox.store.ids import arn, new_id
from onebox.store.tags import EC2_TAG_RULES, apply_tags, tags_from_list, tags_to_list

api = ServiceApi("ec2")

LAUNCH_TEMPLATE = "ec2:launch-template"
# CreateTags/DeleteTags/DescribeTags (tags.py) find these records by id prefix.
register(
    "lt",
    Taggable(
        LAUNCH_TEMPLATE,
        "launch-template",
        "InvalidLaunchTemplateId.NotFound",
        "The specified launch template, with template ID {id}, does not exist.",
    ),
)
NAME = re.compile(r"^[a-zA-Z0-9().\-/_]{3,128}$")
TEMPLATE_ID = re.compile(r"^lt-([0-9a-f]{8}|[0-9a-f]{17})$")
FILTERS = ("create-time", "launch-template-name")
VERSION_FILTERS = (
    "create-time",
    "ebs-optimized",
    "iam-instance-profile",
    "image-id",
    "instance-type",
    "is-default-version",
    "kernel-id",
    "ram-disk-id",
)


def _now(ctx: RequestContext) -> float:
    return ctx.runtime.clock.time()


def _check_name(name: str) -> None:
    if not NAME.match(name or ""):
        raise AwsError(
            "InvalidLaunchTemplateName.MalformedException",
            "A launch template name must be between 3 and 128 characters, and may contain letters, numbers, "
            "and the following characters: - ( ) . / _.'",
        )


def _tags(params: dict[str, Any]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for specification in params.get("TagSpecifications") or []:
        if specification.get("ResourceType") != "launch-template":
            raise AwsError(
                "InvalidParameterValue",
                f"'{specification.get('ResourceType')}' is not a valid taggable resource type for this operation.",
            )
        tags = apply_tags(tags, tags_from_list(specification.get("Tags")), EC2_TAG_RULES)
    return tags


def _check_data(ctx: RequestContext, data: dict[str, Any]) -> None:
    """EC2 validates a template's data lightly at creation; a bad image id fails at launch."""
    from onebox.services.ec2.images import check_image_id
    from onebox.services.ec2.instance_types import INSTANCE_TYPES

    if data.get("ImageId") and not data["ImageId"].startswith("resolve:ssm:"):
        check_image_id(data["ImageId"])
    if data.get("InstanceType") and data["InstanceType"] not in INSTANCE_TYPES:
        raise AwsError("InvalidParameterValue", f"Invalid value '{data['InstanceType']}' for InstanceType.")


def _created_by(ctx: RequestContext) -> str:
    return f"arn:aws:iam::{ctx.account_id}:root"


def _template_view(ctx: RequestContext, record: Record) -> dict[str, Any]:
    return {
        "LaunchTemplateId": record.id,
        "LaunchTemplateName": record.name,
        "CreateTime": record.created_at,
        "CreatedBy": _created_by(ctx),
        "DefaultVersionNumber": record.spec["DefaultVersion"],
        "LatestVersionNumber": record.spec["LatestVersion"],
        "Tags": tags_to_list(record.tags),
    }


def _version_view(ctx: RequestContext, record: Record, version: dict[str, Any]) -> dict[str, Any]:
    view = {
        "LaunchTemplateId": record.id,
        "LaunchTemplateName": record.name,
        "VersionNumber": version["VersionNumber"],
        "CreateTime": datetime.fromtimestamp(version["CreateTime"], UTC),
        "CreatedBy": _created_by(ctx),
        "DefaultVersion": version["VersionNumber"] == record.spec["DefaultVersion"],
        "LaunchTemplateData": version["LaunchTemplateData"],
    }
    if version.get("VersionDescription"):
        view["VersionDescription"] = version["VersionDescription"]
    return view


def _find(ctx: RequestContext, template_id: str | None, name: str | None) -> Record:
    store = ctx.runtime.store
    if template_id:
        if not TEMPLATE_ID.match(template_id):
            raise AwsError(
                "InvalidLaunchTemplateId.Malformed", f"The specified ID ({template_id}) is not valid."
            )
        record = store.get(LAUNCH_TEMPLATE, ctx.account_id, ctx.region, template_id)
        if record is None:
            raise AwsError(
                "InvalidLaunchTemplateId.NotFound",
                f"The specified launch template, with template ID {template_id}, does not exist.",
            )
        return record
    if name:
        record = store.get_by_name(LAUNCH_TEMPLATE, ctx.account_id, ctx.region, name)
        if record is None:
            raise AwsError(
                "InvalidLaunchTemplateName.NotFoundException",
                f"The specified launch template, with template name {name}, does not exist.",
            )
        return record
    raise AwsError(
        "MissingParameter", "The request must contain the parameter LaunchTemplateName or LaunchTemplateId"
    )


def _version(record: Record, wanted: str | int | None) -> dict[str, Any]:
    text = str(wanted) if wanted is not None else "$Default"
    if text == "$Default":
        number = record.spec["DefaultVersion"]
    elif text == "$Latest":
        number = record.spec["LatestVersion"]
    elif text.isdigit():
        number = int(text)
    else:
        raise AwsError(
            "InvalidLaunchTemplateId.VersionNotFound", f"Could not find launch template version {text}"
        )
    for version in record.spec["Versions"]:
        if version["VersionNumber"] == number:
            return version
    raise AwsError(
        "InvalidLaunchTemplateId.VersionNotFound", f"Could not find launch template version {text}"
    )


@api.operation("CreateLaunchTemplate")
def create_launch_template(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["LaunchTemplateName"]
    _check_name(name)
    data = params.get("LaunchTemplateData") or {}
    _check_data(ctx, data)
    template_id = new_id("lt")
    version = {
        "VersionNumber": 1,
        "VersionDescription": params.get("VersionDescription", ""),
        "LaunchTemplateData": data,
        "CreateTime": _now(ctx),
    }
    try:
        record = ctx.runtime.store.create(
            LAUNCH_TEMPLATE,
            ctx.account_id,
            ctx.region,
            template_id,
            arn=arn("ec2", ctx.region, ctx.account_id, f"launch-template/{template_id}"),
            name=name,
            spec={"Versions": [version], "DefaultVersion": 1, "LatestVersion": 1},
            tags=_tags(params),
        )
    except AlreadyExists:
        raise AwsError(
            "InvalidLaunchTemplateName.AlreadyExistsException",
            "Launch template name already in use.",
        ) from None
    return {"LaunchTemplate": _template_view(ctx, record)}


@api.operation("CreateLaunchTemplateVersion")
def create_launch_template_version(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    with store.transaction():
        record = _find(ctx, params.get("LaunchTemplateId"), params.get("LaunchTemplateName"))
        data = dict(params.get("LaunchTemplateData") or {})
        if params.get("SourceVersion"):
            source = _version(record, params["SourceVersion"])
            data = {**source["LaunchTemplateData"], **data}
        _check_data(ctx, data)
        number = record.spec["LatestVersion"] + 1
        version = {
            "VersionNumber": number,
            "VersionDescription": params.get("VersionDescription", ""),
            "LaunchTemplateData": data,
            "CreateTime": _now(ctx),
        }
        record = store.update(
            record,
            spec={**record.spec, "Versions": [*record.spec["Versions"], version], "LatestVersion": number},
        )
    return {"LaunchTemplateVersion": _version_view(ctx, record, version)}


@api.operation("DescribeLaunchTemplates")
def describe_launch_templates(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    filters = Filters.parse(params.get("Filters"), FILTERS)
    ids = params.get("LaunchTemplateIds") or []
    names = params.get("LaunchTemplateNames") or []
    if ids or names:
        records = [_find(ctx, i, None) for i in ids] + [_find(ctx, None, n) for n in names]
    else:
        records = ctx.runtime.store.list(LAUNCH_TEMPLATE, ctx.account_id, ctx.region)
    records = filters.select(
        records,
        lambda r: {
            "launch-template-name": r.name or "",
            "create-time": r.created_at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        },
        lambda r: r.tags,
    )
    page, token = ctx.runtime.store.paginator.paginate(
        records,
        params.get("MaxResults"),
        params.get("NextToken"),
        key=lambda r: r.seq,
        scope="launch-templates",
    )
    result: dict[str, Any] = {"LaunchTemplates": [_template_view(ctx, r) for r in page]}
    if token:
        result["NextToken"] = token
    return result


@api.operation("DescribeLaunchTemplateVersions")
def describe_launch_template_versions(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    filters = Filters.parse(params.get("Filters"), VERSION_FILTERS, allow_tags=False)
    record = _find(ctx, params.get("LaunchTemplateId"), params.get("LaunchTemplateName"))
    wanted = params.get("Versions") or []
    if wanted:
        versions = [_version(record, v) for v in wanted]
    else:
        versions = list(record.spec["Versions"])
    low, high = params.get("MinVersion"), params.get("MaxVersion")
    if low:
        versions = [v for v in versions if v["VersionNumber"] >= int(low)]
    if high:
        versions = [v for v in versions if v["VersionNumber"] <= int(high)]

    def view(version: dict[str, Any]) -> dict[str, Any]:
        data = version["LaunchTemplateData"]
        return {
            "image-id": data.get("ImageId", ""),
            "instance-type": data.get("InstanceType", ""),
            "is-default-version": str(version["VersionNumber"] == record.spec["DefaultVersion"]).lower(),
            "ebs-optimized": str(bool(data.get("EbsOptimized"))).lower(),
        }

    versions = [v for v in versions if filters.matches(view(v))]
    page, token = ctx.runtime.store.paginator.paginate(
        versions,
        params.get("MaxResults"),
        params.get("NextToken"),
        key=lambda v: -v["VersionNumber"] if not wanted else v["VersionNumber"],
        scope=f"lt-versions/{record.id}",
    )
    result: dict[str, Any] = {"LaunchTemplateVersions": [_version_view(ctx, record, v) for v in page]}
    if token:
        result["NextToken"] = token
    return result


@api.operation("ModifyLaunchTemplate")
def modify_launch_template(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    with store.transaction():
        record = _find(ctx, params.get("LaunchTemplateId"), params.get("LaunchTemplateName"))
        default = params.get("DefaultVersion")
        if default is not None:
            version = _version(record, default)
            record = store.update(record, spec={**record.spec, "DefaultVersion": version["VersionNumber"]})
    return {"LaunchTemplate": _template_view(ctx, record)}


@api.operation("DeleteLaunchTemplate")
def delete_launch_template(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    record = _find(ctx, params.get("LaunchTemplateId"), params.get("LaunchTemplateName"))
    ctx.runtime.store.delete_by_id(LAUNCH_TEMPLATE, ctx.account_id, ctx.region, record.id)
    return {"LaunchTemplate": _template_view(ctx, record)}


@api.operation("DeleteLaunchTemplateVersions")
def delete_launch_template_versions(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    deleted, failed = [], []
    with store.transaction():
        record = _find(ctx, params.get("LaunchTemplateId"), params.get("LaunchTemplateName"))
        versions = list(record.spec["Versions"])
        for text in params["Versions"]:
            number = int(text) if str(text).isdigit() else None
            match = [v for v in versions if v["VersionNumber"] == number]
            item = {
                "LaunchTemplateId": record.id,
                "LaunchTemplateName": record.name,
                "VersionNumber": number or 0,
            }
            if not match:
                failed.append(
                    {
                        **item,
                        "ResponseError": {
                            "Code": "launchTemplateVersionDoesNotExist",
                            "Message": "The specified launch template version does not exist.",
                        },
                    }
                )
            elif number == record.spec["DefaultVersion"]:
                failed.append(
                    {
                        **item,
                        "ResponseError": {
                            "Code": "launchTemplateVersionIsDefault",
                            "Message": "You can't delete the default version of a launch template.",
                        },
                    }
                )
            else:
                versions.remove(match[0])
                deleted.append(item)
        if deleted:
            store.update(record, spec={**record.spec, "Versions": versions})
    return {
        "SuccessfullyDeletedLaunchTemplateVersions": deleted,
        "UnsuccessfullyDeletedLaunchTemplateVersions": failed,
    }


def template_data_for_launch(
    ctx: RequestContext, spec: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """RunInstances parameters from a template version, and what to record about the template."""
    record = _find(ctx, spec.get("LaunchTemplateId"), spec.get("LaunchTemplateName"))
    version = _version(record, spec.get("Version"))
    data = dict(version["LaunchTemplateData"])
    tag_specs = [
        {"ResourceType": s.get("ResourceType"), "Tags": s.get("Tags") or []}
        for s in data.pop("TagSpecifications", []) or []
    ]
    if tag_specs:
        data["TagSpecifications"] = tag_specs
    if data.get("SecurityGroupIds") is None and data.get("NetworkInterfaces"):
        data["SecurityGroupIds"] = data["NetworkInterfaces"][0].get("Groups")
    info = {
        "LaunchTemplateId": record.id,
        "LaunchTemplateName": record.name,
        "Version": str(version["VersionNumber"]),
    }
    return data, info
