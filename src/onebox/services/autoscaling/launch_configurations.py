"""Create/Describe/DeleteLaunchConfiguration: the older, immutable way to say what a group launches."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.services.autoscaling.common import (
    GROUP,
    LAUNCH_CONFIGURATION,
    MAX_LAUNCH_CONFIGURATIONS,
    new_uuid,
    validation,
)
from onebox.store import Record
from onebox.store.ids import arn

api = ServiceApi("autoscaling")


def get_launch_configuration(ctx: RequestContext, name: str) -> Record:
    record = ctx.runtime.store.get(LAUNCH_CONFIGURATION, ctx.account_id, ctx.region, name)
    if record is None:
        raise validation(f"Launch configuration name not found - Launch configuration {name} not found")
    return record


def _user_data(value: str | None) -> str:
    """Stored base64-encoded, as RunInstances wants it; plain text is encoded for the caller."""
    if not value:
        return ""
    try:
        base64.b64decode(value, validate=True)
        return value
    except (binascii.Error, ValueError):
        return base64.b64encode(value.encode()).decode()


@api.operation("CreateLaunchConfiguration")
def create_launch_configuration(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["LaunchConfigurationName"]
    store = ctx.runtime.store
    if params.get("InstanceId"):
        raise validation("Creating a launch configuration from an instance is not supported by onebox.")
    if not params.get("ImageId"):
        raise validation("ImageId is required when InstanceId is not specified.")
    if not params.get("InstanceType"):
        raise validation("InstanceType is required when InstanceId is not specified.")
    from onebox.services.ec2.images import resolve_image
    from onebox.services.ec2.instance_types import INSTANCE_TYPES

    ec2 = RequestContext(**{**ctx.__dict__, "service": "ec2"})
    try:
        resolve_image(ec2, params["ImageId"])
    except AwsError as error:
        raise validation(error.message) from None
    if params["InstanceType"] not in INSTANCE_TYPES:
        raise validation(f"Invalid instance type: {params['InstanceType']}")
    with store.transaction():
        if store.get(LAUNCH_CONFIGURATION, ctx.account_id, ctx.region, name) is not None:
            raise AwsError(
                "AlreadyExists",
                f"Launch Configuration by this name already exists - A launch configuration already exists with the name {name}",
            )
        if store.count(LAUNCH_CONFIGURATION, ctx.account_id, ctx.region) >= MAX_LAUNCH_CONFIGURATIONS:
            raise AwsError(
                "LimitExceeded",
                f"Launch configuration limit exceeded. You have reached the limit of {MAX_LAUNCH_CONFIGURATIONS} launch configurations.",
            )
        spec = {
            "ImageId": params["ImageId"],
            "InstanceType": params["InstanceType"],
            "KeyName": params.get("KeyName") or "",
            "SecurityGroups": list(params.get("SecurityGroups") or []),
            "UserData": _user_data(params.get("UserData")),
            "InstanceMonitoring": {"Enabled": (params.get("InstanceMonitoring") or {}).get("Enabled", True)},
            "BlockDeviceMappings": list(params.get("BlockDeviceMappings") or []),
            "EbsOptimized": bool(params.get("EbsOptimized", False)),
            "CreatedTime": ctx.runtime.clock.time(),
        }
        for optional in (
            "IamInstanceProfile",
            "AssociatePublicIpAddress",
            "PlacementTenancy",
            "MetadataOptions",
        ):
            if params.get(optional) is not None:
                spec[optional] = params[optional]
        store.create(
            LAUNCH_CONFIGURATION,
            ctx.account_id,
            ctx.region,
            name,
            arn=arn(
                "autoscaling",
                ctx.region,
                ctx.account_id,
                f"launchConfiguration:{new_uuid()}:launchConfigurationName/{name}",
            ),
            spec=spec,
        )
    return {}


def launch_configuration_view(record: Record) -> dict[str, Any]:
    spec = record.spec
    view: dict[str, Any] = {
        "LaunchConfigurationName": record.id,
        "LaunchConfigurationARN": record.arn,
        "ImageId": spec["ImageId"],
        "KeyName": spec.get("KeyName", ""),
        "SecurityGroups": spec.get("SecurityGroups", []),
        "ClassicLinkVPCSecurityGroups": [],
        "UserData": spec.get("UserData", ""),
        "InstanceType": spec["InstanceType"],
        "KernelId": "",
        "RamdiskId": "",
        "BlockDeviceMappings": spec.get("BlockDeviceMappings", []),
        "InstanceMonitoring": spec.get("InstanceMonitoring", {"Enabled": True}),
        "CreatedTime": spec["CreatedTime"],
        "EbsOptimized": spec.get("EbsOptimized", False),
    }
    for optional in ("IamInstanceProfile", "AssociatePublicIpAddress", "PlacementTenancy", "MetadataOptions"):
        if optional in spec:
            view[optional] = spec[optional]
    return view


@api.operation("DescribeLaunchConfigurations")
def describe_launch_configurations(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    names = params.get("LaunchConfigurationNames") or None
    records = ctx.runtime.store.list(LAUNCH_CONFIGURATION, ctx.account_id, ctx.region)
    if names:
        records = [r for r in records if r.id in names]
    page, token = ctx.runtime.store.paginator.paginate(
        records,
        params.get("MaxRecords") or 50,
        params.get("NextToken"),
        key=lambda r: r.seq,
        scope="DescribeLaunchConfigurations",
    )
    result: dict[str, Any] = {"LaunchConfigurations": [launch_configuration_view(r) for r in page]}
    if token:
        result["NextToken"] = token
    return result


@api.operation("DeleteLaunchConfiguration")
def delete_launch_configuration(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["LaunchConfigurationName"]
    store = ctx.runtime.store
    with store.transaction():
        record = get_launch_configuration(ctx, name)
        for group in store.list(GROUP, ctx.account_id, ctx.region):
            if group.spec.get("LaunchConfigurationName") == name:
                raise AwsError(
                    "ResourceInUse",
                    f"Cannot delete launch configuration {name} because it is attached to AutoScalingGroup {group.id}",
                )
        store.delete(record)
    return {}
