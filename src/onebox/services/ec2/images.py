"""EC2 images (AMIs): base images that exist from the start, CreateImage, RegisterImage, CopyImage,
DeregisterImage, DescribeImages and DescribeImageAttribute.

Base image ids are stable: `ami-` + the first 17 hex digits of sha256("onebox-base/<region>/<name>").
They are the same on every onebox install and differ per region, as AMI ids do in AWS. Every base image
boots the host's userland read-only (host/images.py); their names follow the distributions' own naming
so that the usual lookups (Terraform `aws_ami` with owners and a name pattern) find them.

Our own images are records of kind ec2:image; `spec["Layers"]` (top first) is what instances stack over
the host root. A pending image becomes available once the images controller has frozen the source
instance's writable layer (services/ec2/instances_controller.py).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.services.ec2.tags import Taggable, register
from onebox.store import Record
from onebox.store.filters import Filters
from onebox.store.ids import arn, new_id
from onebox.store.tags import EC2_TAG_RULES, apply_tags, tags_from_list, tags_to_list

api = ServiceApi("ec2")

IMAGE = "ec2:image"
SNAPSHOT = "ec2:snapshot"
# CreateTags/DeleteTags/DescribeTags (tags.py) find these records by id prefix.
register("ami", Taggable(IMAGE, "image", "InvalidAMIID.NotFound", "The image id '[{id}]' does not exist"))
AMI_ID = re.compile(r"^ami-([0-9a-f]{8}|[0-9a-f]{17})$")
IMAGE_NAME = re.compile(r"^[a-zA-Z0-9()\[\] ./\-'@_]{3,128}$")
ROOT_DEVICE = "/dev/xvda"


@dataclass(frozen=True)
class BaseImage:
    name: str
    description: str
    owner_id: str
    owner_alias: str
    platform_details: str = "Linux/UNIX"
    created: str = "2024-11-21T00:00:00.000Z"


BASE_IMAGES: tuple[BaseImage, ...] = (
    BaseImage(
        "onebox-host-userland-x86_64",
        "The onebox host's userland, read-only (PHP, nginx and whatever the host has installed)",
        "137112412989",
        "amazon",
    ),
    BaseImage(
        "al2023-ami-2023.6.20241121.0-kernel-6.1-x86_64",
        "Amazon Linux 2023 AMI 2023.6.20241121.0 x86_64 HVM kernel-6.1 (onebox: host userland)",
        "137112412989",
        "amazon",
    ),
    BaseImage(
        "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20241119",
        "Canonical, Ubuntu, 24.04, amd64 noble image (onebox: host userland)",
        "099720109477",
        "",
    ),
    BaseImage(
        "debian-12-amd64-20241125-1942",
        "Debian 12 (20241125-1942) (onebox: host userland)",
        "136693071363",
        "",
    ),
)


def base_image_id(region: str, name: str) -> str:
    return "ami-" + hashlib.sha256(f"onebox-base/{region}/{name}".encode()).hexdigest()[:17]


@dataclass(frozen=True)
class Image:
    """What an instance needs from its image, wherever it came from."""

    image_id: str
    layers: list[str]
    owner_id: str
    state: str


def base_images(region: str) -> dict[str, BaseImage]:
    return {base_image_id(region, base.name): base for base in BASE_IMAGES}


def check_image_id(image_id: str) -> None:
    if not AMI_ID.match(image_id or ""):
        raise AwsError("InvalidAMIID.Malformed", f'Invalid id: "{image_id}" (expecting "ami-...")')


def resolve_image(ctx: RequestContext, image_id: str) -> Image:
    """The image an instance launches from, or EC2's error. Only available images launch."""
    check_image_id(image_id)
    base = base_images(ctx.region).get(image_id)
    if base is not None:
        return Image(image_id, [], base.owner_id, "available")
    record = ctx.runtime.store.get(IMAGE, ctx.account_id, ctx.region, image_id)
    if record is None or record.spec.get("State") == "deregistered":
        raise AwsError("InvalidAMIID.NotFound", f"The image id '[{image_id}]' does not exist")
    state = record.status.get("State", "pending")
    if state != "available":
        raise AwsError("InvalidAMIID.Unavailable", f"The image id '[{image_id}]' is not available")
    return Image(image_id, list(record.spec["Layers"]), ctx.account_id, state)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _block_devices(snapshot_id: str | None, size: int = 8) -> list[dict[str, Any]]:
    ebs: dict[str, Any] = {
        "DeleteOnTermination": True,
        "VolumeSize": size,
        "VolumeType": "gp3",
        "Encrypted": False,
    }
    if snapshot_id:
        ebs["SnapshotId"] = snapshot_id
    return [{"DeviceName": ROOT_DEVICE, "Ebs": ebs}]


def _base_view(region: str, image_id: str, base: BaseImage) -> dict[str, Any]:
    view: dict[str, Any] = {
        "ImageId": image_id,
        "ImageLocation": f"{base.owner_alias or base.owner_id}/{base.name}",
        "State": "available",
        "OwnerId": base.owner_id,
        "CreationDate": base.created,
        "Public": True,
        "Architecture": "x86_64",
        "ImageType": "machine",
        "Name": base.name,
        "Description": base.description,
        "RootDeviceType": "ebs",
        "RootDeviceName": ROOT_DEVICE,
        "BlockDeviceMappings": _block_devices(None),
        "VirtualizationType": "hvm",
        "Hypervisor": "xen",
        "EnaSupport": True,
        "SriovNetSupport": "simple",
        "PlatformDetails": base.platform_details,
        "UsageOperation": "RunInstances",
        "BootMode": "uefi-preferred",
        "ImdsSupport": "v2.0",
    }
    if base.owner_alias:
        view["ImageOwnerAlias"] = base.owner_alias
    return view


def _record_view(record: Record) -> dict[str, Any]:
    spec = record.spec
    return {
        "ImageId": record.id,
        "ImageLocation": f"{record.account}/{spec['Name']}",
        "State": record.status.get("State", "pending"),
        "OwnerId": record.account,
        "CreationDate": _iso(record.created_at),
        "Public": False,
        "Architecture": spec.get("Architecture", "x86_64"),
        "ImageType": "machine",
        "Name": spec["Name"],
        "Description": spec.get("Description", ""),
        "RootDeviceType": "ebs",
        "RootDeviceName": ROOT_DEVICE,
        "BlockDeviceMappings": _block_devices(spec.get("SnapshotId")),
        "VirtualizationType": "hvm",
        "Hypervisor": "xen",
        "EnaSupport": True,
        "SriovNetSupport": "simple",
        "PlatformDetails": "Linux/UNIX",
        "UsageOperation": "RunInstances",
        "SourceInstanceId": spec.get("SourceInstanceId"),
        "Tags": tags_to_list(record.tags),
    }


IMAGE_FILTERS = (
    "architecture",
    "description",
    "image-id",
    "image-type",
    "is-public",
    "name",
    "owner-alias",
    "owner-id",
    "platform-details",
    "root-device-name",
    "root-device-type",
    "state",
    "virtualization-type",
    "hypervisor",
    "block-device-mapping.snapshot-id",
)


def _filter_view(view: dict[str, Any]) -> dict[str, Any]:
    return {
        "architecture": view["Architecture"],
        "description": view.get("Description", ""),
        "image-id": view["ImageId"],
        "image-type": "machine",
        "is-public": str(view["Public"]).lower(),
        "name": view["Name"],
        "owner-alias": view.get("ImageOwnerAlias", ""),
        "owner-id": view["OwnerId"],
        "platform-details": view["PlatformDetails"],
        "root-device-name": view["RootDeviceName"],
        "root-device-type": "ebs",
        "state": view["State"],
        "virtualization-type": "hvm",
        "hypervisor": "xen",
        "block-device-mapping.snapshot-id": view["BlockDeviceMappings"][0]["Ebs"].get("SnapshotId", ""),
    }


def _owner_matches(view: dict[str, Any], owners: list[str], account: str) -> bool:
    for owner in owners:
        if owner == "self" and view["OwnerId"] == account:
            return True
        if owner in (view["OwnerId"], view.get("ImageOwnerAlias")):
            return True
    return False


@api.operation("DescribeImages")
def describe_images(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    filters = Filters.parse(params.get("Filters"), IMAGE_FILTERS)
    max_results = params.get("MaxResults")
    if max_results is not None and not 5 <= max_results <= 1000:
        raise AwsError("InvalidParameterValue", "MaxResults must be between 5 and 1000")
    image_ids = params.get("ImageIds") or []
    for image_id in image_ids:
        check_image_id(image_id)
    views: list[tuple[dict[str, Any], dict[str, str]]] = [
        (_base_view(ctx.region, image_id, base), {}) for image_id, base in base_images(ctx.region).items()
    ]
    for record in ctx.runtime.store.list(IMAGE, ctx.account_id, ctx.region):
        if record.spec.get("State") != "deregistered":
            views.append((_record_view(record), record.tags))
    if image_ids:
        by_id = {view["ImageId"]: (view, tags) for view, tags in views}
        missing = [image_id for image_id in image_ids if image_id not in by_id]
        if missing:
            raise AwsError("InvalidAMIID.NotFound", f"The image id '[{', '.join(missing)}]' does not exist")
        views = [by_id[image_id] for image_id in dict.fromkeys(image_ids)]
    owners = params.get("Owners") or []
    if owners:
        views = [(view, tags) for view, tags in views if _owner_matches(view, owners, ctx.account_id)]
    views = [(view, tags) for view, tags in views if filters.matches(_filter_view(view), tags)]
    page, token = ctx.runtime.store.paginator.paginate(
        views,
        max_results,
        params.get("NextToken"),
        key=lambda item: item[0]["ImageId"],
        scope=f"images/{ctx.account_id}/{ctx.region}",
    )
    result: dict[str, Any] = {"Images": [view for view, _ in page]}
    if token:
        result["NextToken"] = token
    return result


def _check_name(ctx: RequestContext, name: str) -> None:
    if not IMAGE_NAME.match(name or ""):
        raise AwsError(
            "InvalidAMIName.Malformed",
            "AMI names must be between 3 and 128 characters long, and may contain letters, numbers, "
            "'(', ')', '.', '-', '/' and '_'",
        )
    for record in ctx.runtime.store.list(IMAGE, ctx.account_id, ctx.region):
        if record.spec["Name"] == name and record.spec.get("State") != "deregistered":
            raise AwsError(
                "InvalidAMIName.Duplicate", f"AMI name {name} is already in use by AMI {record.id}"
            )


def _image_tags(params: dict[str, Any]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for specification in params.get("TagSpecifications") or []:
        kind = specification.get("ResourceType")
        if kind not in ("image", "snapshot"):
            raise AwsError(
                "InvalidParameterValue", f"'{kind}' is not a valid taggable resource type for this operation."
            )
        if kind == "image":
            tags = apply_tags(tags, tags_from_list(specification.get("Tags")), EC2_TAG_RULES)
    return tags


def create_image_record(
    ctx: RequestContext,
    *,
    name: str,
    description: str,
    layers: list[str],
    source: dict[str, Any],
    tags: dict[str, str],
    state: str = "pending",
) -> Record:
    """An image record; `source` says how its first layer comes to be (controller work) if pending."""
    image_id = new_id("ami")
    snapshot_id = new_id("snap")
    return ctx.runtime.store.create(
        IMAGE,
        ctx.account_id,
        ctx.region,
        image_id,
        arn=arn("ec2", ctx.region, "", f"image/{image_id}"),
        spec={
            "Name": name,
            "Description": description,
            "Layers": layers,
            "SnapshotId": snapshot_id,
            "Architecture": "x86_64",
            **source,
        },
        status={"State": state},
        tags=tags,
    )


@api.operation("CreateImage")
def create_image(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    from onebox.services.ec2.instances import INSTANCE, get_instance

    name = params["Name"]
    instance = get_instance(ctx, params["InstanceId"])
    state = instance.status.get("State", "pending")
    if state not in ("running", "stopped"):
        raise AwsError(
            "IncorrectState",
            f"The instance '{instance.id}' is not in a state from which it can be imaged.",
        )
    _check_name(ctx, name)
    tags = _image_tags(params)
    with ctx.runtime.store.transaction():
        layer_id = new_id("layer")
        record = create_image_record(
            ctx,
            name=name,
            description=params.get("Description", ""),
            layers=[layer_id, *instance.spec["Layers"]],
            source={
                "SourceInstanceId": instance.id,
                "NoReboot": bool(params.get("NoReboot")),
                "FreezeLayer": layer_id,
            },
            tags=tags,
        )
    assert instance.kind == INSTANCE
    return {"ImageId": record.id}


@api.operation("RegisterImage")
def register_image(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Registers the root snapshot of one of our images as a new image (same layers, no copy)."""
    name = params["Name"]
    _check_name(ctx, name)
    architecture = params.get("Architecture", "x86_64")
    if architecture != "x86_64":
        raise AwsError("InvalidParameterValue", f"Unsupported architecture: {architecture}")
    snapshot_id = None
    for mapping in params.get("BlockDeviceMappings") or []:
        if mapping.get("DeviceName") == params.get("RootDeviceName", ROOT_DEVICE):
            snapshot_id = (mapping.get("Ebs") or {}).get("SnapshotId")
    if snapshot_id is None:
        raise AwsError(
            "InvalidParameterCombination",
            "The root device must be an EBS snapshot: give BlockDeviceMappings with the root "
            "device's Ebs.SnapshotId",
        )
    layers = _snapshot_layers(ctx, snapshot_id)
    record = create_image_record(
        ctx,
        name=name,
        description=params.get("Description", ""),
        layers=layers,
        source={},
        tags=_image_tags(params),
        state="available",
    )
    return {"ImageId": record.id}


def _snapshot_layers(ctx: RequestContext, snapshot_id: str) -> list[str]:
    if not re.match(r"^snap-([0-9a-f]{8}|[0-9a-f]{17})$", snapshot_id):
        raise AwsError("InvalidSnapshotID.Malformed", f'Invalid id: "{snapshot_id}" (expecting "snap-...")')
    for record in ctx.runtime.store.list(IMAGE, ctx.account_id, ctx.region):
        if record.spec.get("SnapshotId") == snapshot_id and record.status.get("State") == "available":
            return list(record.spec["Layers"])
    raise AwsError("InvalidSnapshot.NotFound", f"The snapshot '{snapshot_id}' does not exist.")


@api.operation("CopyImage")
def copy_image(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Copies share the source's read-only layers (layers are never written, so sharing is a copy)."""
    source_region = params["SourceRegion"]
    source_id = params["SourceImageId"]
    check_image_id(source_id)
    name = params["Name"]
    _check_name(ctx, name)
    base = base_images(source_region).get(source_id)
    if base is not None:
        layers: list[str] = []
        description = base.description
    else:
        source = ctx.runtime.store.get(IMAGE, ctx.account_id, source_region, source_id)
        if source is None or source.spec.get("State") == "deregistered":
            raise AwsError("InvalidAMIID.NotFound", f"The image id '[{source_id}]' does not exist")
        if source.status.get("State") != "available":
            raise AwsError("IncorrectState", f"The image '{source_id}' is not in the available state.")
        layers = list(source.spec["Layers"])
        description = source.spec.get("Description", "")
    record = create_image_record(
        ctx,
        name=name,
        description=params.get("Description", description),
        layers=layers,
        source={"SourceImageId": source_id, "SourceRegion": source_region},
        tags=_image_tags(params),
        state="available",
    )
    return {"ImageId": record.id}


def _own_image(ctx: RequestContext, image_id: str) -> Record:
    check_image_id(image_id)
    if image_id in base_images(ctx.region):
        raise AwsError("AuthFailure", f"Not authorized for image:{image_id}")
    record = ctx.runtime.store.get(IMAGE, ctx.account_id, ctx.region, image_id)
    if record is None or record.spec.get("State") == "deregistered":
        raise AwsError("InvalidAMIID.NotFound", f"The image id '[{image_id}]' does not exist")
    return record


@api.operation("DeregisterImage")
def deregister_image(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    record = _own_image(ctx, params["ImageId"])
    # The controller deletes the layers nothing else uses, then the record.
    ctx.runtime.store.update(record, spec={**record.spec, "State": "deregistered"})
    return {"Return": True}


@api.operation("DescribeImageAttribute")
def describe_image_attribute(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    image_id = params["ImageId"]
    attribute = params["Attribute"]
    check_image_id(image_id)
    base = base_images(ctx.region).get(image_id)
    if base is not None:
        view = _base_view(ctx.region, image_id, base)
    else:
        view = _record_view(_own_image(ctx, image_id))
    result: dict[str, Any] = {"ImageId": image_id}
    if attribute == "description":
        result["Description"] = {"Value": view.get("Description", "")}
    elif attribute == "launchPermission":
        result["LaunchPermissions"] = [{"Group": "all"}] if view["Public"] else []
    elif attribute == "blockDeviceMapping":
        result["BlockDeviceMappings"] = view["BlockDeviceMappings"]
    elif attribute == "bootMode":
        result["BootMode"] = {"Value": view.get("BootMode", "uefi-preferred")}
    elif attribute == "imdsSupport":
        result["ImdsSupport"] = {"Value": "v2.0"}
    elif attribute == "sriovNetSupport":
        result["SriovNetSupport"] = {"Value": "simple"}
    elif attribute == "lastLaunchedTime":
        result["LastLaunchedTime"] = {"Value": ""}
    elif attribute in ("kernel", "ramdisk", "productCodes"):
        result["ProductCodes" if attribute == "productCodes" else attribute.capitalize() + "Id"] = (
            [] if attribute == "productCodes" else {}
        )
    else:
        raise AwsError("InvalidRequest", f"The attribute '{attribute}' is not supported for images.")
    return result
