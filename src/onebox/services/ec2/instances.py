"""EC2 instances: RunInstances, DescribeInstances, DescribeInstanceStatus, Start/Stop/Reboot/Terminate,
GetConsoleOutput, Modify/DescribeInstanceAttribute, Monitor/UnmonitorInstances.

Handlers record intent (spec["DesiredState"], reboot requests) and answer with AWS's transitional state
(pending, stopping, shutting-down); the instances controller (instances_controller.py) makes it real
and writes the observed state. RunInstances is all-or-nothing: every check runs first and every record
(instances, private IPs) is written in one store transaction.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from datetime import datetime
from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.host.instances.drivers import default_driver_name
from onebox.services.ec2 import instance_network
from onebox.services.ec2.images import resolve_image
from onebox.services.ec2.instance_types import INSTANCE_TYPES, InstanceType
from onebox.services.ec2.tags import Taggable, register
from onebox.store import Record
from onebox.store.filters import Filters
from onebox.store.ids import arn, new_id
from onebox.store.tags import EC2_TAG_RULES, apply_tags, tags_from_list, tags_to_list

api = ServiceApi("ec2")

INSTANCE = "ec2:instance"
# CreateTags/DeleteTags/DescribeTags (tags.py) find these records by id prefix.
register(
    "i", Taggable(INSTANCE, "instance", "InvalidInstanceID.NotFound", "The instance ID '{id}' does not exist")
)
KEY_PAIR = "ec2:key-pair"
DEFAULT_INSTANCE_TYPE = "t3.micro"  # AWS's default is m1.small, a type onebox does not offer
STATE_CODES = {
    "pending": 0,
    "running": 16,
    "shutting-down": 32,
    "terminated": 48,
    "stopping": 64,
    "stopped": 80,
}
INSTANCE_ID = re.compile(r"^i-([0-9a-f]{8}|[0-9a-f]{17})$")
MAX_USER_DATA = 16 * 1024
INSTANCE_FILTERS = (
    "instance-id",
    "instance-state-name",
    "instance-state-code",
    "instance-type",
    "image-id",
    "vpc-id",
    "subnet-id",
    "availability-zone",
    "private-ip-address",
    "private-dns-name",
    "ip-address",
    "key-name",
    "reservation-id",
    "launch-index",
    "owner-id",
    "architecture",
    "root-device-type",
    "root-device-name",
    "monitoring-state",
    "tenancy",
    "instance-lifecycle",
    "hypervisor",
    "virtualization-type",
    "network-interface.network-interface-id",
    "network-interface.addresses.private-ip-address",
    "network-interface.mac-address",
    "instance.group-id",
    "instance.group-name",
    "group-id",
    "group-name",
    "placement-group-name",
    "dns-name",
    "launch-time",
)


def host_memory_mib() -> int:
    """MemTotal of the host: a type asking for more cannot be placed (InsufficientInstanceCapacity)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 1 << 20


def check_instance_id(instance_id: str) -> None:
    if not INSTANCE_ID.match(instance_id or ""):
        raise AwsError("InvalidInstanceID.Malformed", f'Invalid id: "{instance_id}"')


def get_instance(ctx: RequestContext, instance_id: str) -> Record:
    check_instance_id(instance_id)
    record = ctx.runtime.store.get(INSTANCE, ctx.account_id, ctx.region, instance_id)
    if record is None:
        raise AwsError("InvalidInstanceID.NotFound", f"The instance ID '{instance_id}' does not exist")
    return record


def _instances(ctx: RequestContext, ids: list[str]) -> list[Record]:
    for instance_id in ids:
        check_instance_id(instance_id)
    found = {r.id: r for r in ctx.runtime.store.list(INSTANCE, ctx.account_id, ctx.region, ids=ids)}
    missing = [i for i in ids if i not in found]
    if len(missing) == 1:
        raise AwsError("InvalidInstanceID.NotFound", f"The instance ID '{missing[0]}' does not exist")
    if missing:
        raise AwsError("InvalidInstanceID.NotFound", f"The instance IDs '{', '.join(missing)}' do not exist")
    return [found[i] for i in dict.fromkeys(ids)]


def state_of(record: Record) -> str:
    return str(record.status.get("State", "pending"))


def _state(name: str) -> dict[str, Any]:
    return {"Code": STATE_CODES[name], "Name": name}


def private_dns_name(ip: str, region: str) -> str:
    suffix = "ec2.internal" if region == "us-east-1" else f"{region}.compute.internal"
    return f"ip-{ip.replace('.', '-')}.{suffix}"


def hostname_for(ip: str) -> str:
    return f"ip-{ip.replace('.', '-')}"


def _mac(instance_id: str) -> str:
    digest = hashlib.sha256(instance_id.encode()).digest()
    return "0e:" + ":".join(f"{b:02x}" for b in digest[:5])


def decode_user_data(value: str | bytes | None) -> bytes:
    """RunInstances' UserData arrives base64-encoded (the SDKs encode it); EC2 rejects bad base64."""
    if not value:
        return b""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise AwsError("InvalidParameterValue", "Invalid BASE64 encoding of user data.") from None
    if len(raw) > MAX_USER_DATA:
        raise AwsError("InvalidParameterValue", "User data is limited to 16384 bytes")
    return raw


def _instance_tags(params: dict[str, Any]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for specification in params.get("TagSpecifications") or []:
        kind = specification.get("ResourceType")
        if kind not in ("instance", "volume", "network-interface"):
            raise AwsError(
                "InvalidParameterValue", f"'{kind}' is not a valid taggable resource type for this operation."
            )
        if kind == "instance":
            tags = apply_tags(tags, tags_from_list(specification.get("Tags")), EC2_TAG_RULES)
    return tags


def _check_capacity(instance_type: InstanceType, zone: str) -> None:
    if instance_type.memory_mib > host_memory_mib():
        others = ", ".join(z for z in (zone[:-1] + letter for letter in "abc") if z != zone)
        raise AwsError(
            "InsufficientInstanceCapacity",
            f"We currently do not have sufficient {instance_type.name} capacity in the Availability Zone you "
            f"requested ({zone}). Our system will be working on provisioning additional capacity. You can "
            f"currently get {instance_type.name} capacity by not specifying an Availability Zone in your "
            f"request or choosing {others}.",
            500,
            sender_fault=False,
        )


def _merge_template(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """RunInstances parameters with a launch template's data underneath (explicit parameters win)."""
    spec = params.get("LaunchTemplate")
    if not spec:
        return params
    from onebox.services.ec2.launch_templates import template_data_for_launch

    data, template_info = template_data_for_launch(ctx, spec)
    merged = {**data, **{k: v for k, v in params.items() if v not in (None, [], {})}}
    if "TagSpecifications" in data and "TagSpecifications" in params:
        merged["TagSpecifications"] = list(data["TagSpecifications"]) + list(params["TagSpecifications"])
    merged["_LaunchTemplate"] = template_info
    return merged


@api.operation("RunInstances")
def run_instances(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    params = _merge_template(ctx, params)
    min_count, max_count = params.get("MinCount", 1), params.get("MaxCount", 1)
    if min_count < 1 or max_count < min_count:
        raise AwsError(
            "InvalidParameterValue",
            f"Invalid value '{min_count}' for minCount. Must be between 1 and maxCount",
        )
    if not params.get("ImageId"):
        raise AwsError("MissingParameter", "The request must contain the parameter ImageId")
    image = resolve_image(ctx, params["ImageId"])
    type_name = params.get("InstanceType") or DEFAULT_INSTANCE_TYPE
    instance_type = INSTANCE_TYPES.get(type_name)
    if instance_type is None:
        raise AwsError("InvalidParameterValue", f"Invalid value '{type_name}' for InstanceType.")
    user_data = decode_user_data(params.get("UserData"))
    key_name = params.get("KeyName")
    public_key = None
    if key_name:
        key = ctx.runtime.store.get_by_name(KEY_PAIR, ctx.account_id, ctx.region, key_name)
        if key is None:
            raise AwsError("InvalidKeyPair.NotFound", f"The key pair '{key_name}' does not exist")
        public_key = key.spec["PublicKey"]
    requested_ip = params.get("PrivateIpAddress")
    for interface in params.get("NetworkInterfaces") or []:
        requested_ip = requested_ip or interface.get("PrivateIpAddress")
    if requested_ip and max_count > 1:
        raise AwsError(
            "InvalidParameterCombination",
            "Cannot specify a private IP address when launching more than one instance",
        )
    tags = _instance_tags(params)
    template = params.get("_LaunchTemplate")
    if template:  # EC2 tags what it launched from a template (system tags, outside the 50 user tags)
        tags["aws:ec2launchtemplate:id"] = template["LaunchTemplateId"]
        tags["aws:ec2launchtemplate:version"] = template["Version"]
    driver = default_driver_name()
    with ctx.runtime.store.transaction():
        placement = instance_network.choose_placement(ctx, params)
        _check_capacity(instance_type, placement.availability_zone)
        client_token = params.get("ClientToken")
        if client_token:
            existing = [
                r
                for r in ctx.runtime.store.list(INSTANCE, ctx.account_id, ctx.region)
                if r.spec.get("ClientToken") == client_token
            ]
            if existing:  # idempotent retry: answer with the reservation made the first time
                return _reservation(ctx, existing)
        reservation_id = new_id("r")
        created: list[Record] = []
        metadata_options = params.get("MetadataOptions") or {}
        for index in range(max_count):
            instance_id = new_id("i")
            interface_id = new_id("eni")
            ip = instance_network.allocate_ip(
                ctx, placement, requested_ip, interface_id, instance_id, vpc_ip=driver == "namespace"
            )
            spec = {
                "ImageId": image.image_id,
                "Layers": image.layers,
                "InstanceType": instance_type.name,
                "DesiredState": "running",
                "ReservationId": reservation_id,
                "AmiLaunchIndex": index,
                "AvailabilityZone": placement.availability_zone,
                "SubnetId": placement.subnet_id,
                "VpcId": placement.vpc_id,
                "SubnetCidr": placement.subnet_cidr,
                "VpcCidr": placement.vpc_cidr,
                "SecurityGroups": [list(group) for group in placement.groups],
                "PrivateIpAddress": ip,
                "MacAddress": _mac(instance_id),
                "NetworkInterfaceId": interface_id,
                "UserData": base64.b64encode(user_data).decode(),
                "KeyName": key_name,
                "PublicKey": public_key,
                "Monitoring": bool((params.get("Monitoring") or {}).get("Enabled")),
                "ClientToken": client_token or "",
                "DisableApiTermination": bool(params.get("DisableApiTermination")),
                "ShutdownBehavior": params.get("InstanceInitiatedShutdownBehavior") or "stop",
                "HttpTokens": metadata_options.get("HttpTokens") or "optional",
                "RebootRequests": 0,
                "Driver": driver,
                "LaunchTemplate": params.get("_LaunchTemplate"),
                "VolumeId": new_id("vol"),
            }
            created.append(
                ctx.runtime.store.create(
                    INSTANCE,
                    ctx.account_id,
                    ctx.region,
                    instance_id,
                    arn=arn("ec2", ctx.region, ctx.account_id, f"instance/{instance_id}"),
                    spec=spec,
                    status={"State": "pending", "LaunchTime": ctx.runtime.clock.time()},
                    tags=tags,
                )
            )
    return _reservation(ctx, created)


def _reservation(ctx: RequestContext, records: list[Record]) -> dict[str, Any]:
    return {
        "ReservationId": records[0].spec["ReservationId"],
        "OwnerId": ctx.account_id,
        "Groups": [],
        "Instances": [instance_view(r) for r in records],
    }


def instance_view(record: Record) -> dict[str, Any]:
    spec, status = record.spec, record.status
    state = state_of(record)
    ip = spec["PrivateIpAddress"]
    launch_time = datetime.fromtimestamp(status.get("LaunchTime") or record.created_at.timestamp())
    instance_type = INSTANCE_TYPES[spec["InstanceType"]]
    groups = [{"GroupId": group_id, "GroupName": name} for group_id, name in spec.get("SecurityGroups") or []]
    gone = state == "terminated"
    dns = "" if gone else private_dns_name(ip, record.region)
    view: dict[str, Any] = {
        "InstanceId": record.id,
        "ImageId": spec["ImageId"],
        "State": _state(state),
        "PrivateDnsName": dns,
        "PublicDnsName": "",
        "StateTransitionReason": status.get("StateTransitionReason", ""),
        "AmiLaunchIndex": spec["AmiLaunchIndex"],
        "ProductCodes": [],
        "InstanceType": spec["InstanceType"],
        "LaunchTime": launch_time,
        "Placement": {"AvailabilityZone": spec["AvailabilityZone"], "GroupName": "", "Tenancy": "default"},
        "Monitoring": {"State": "enabled" if spec.get("Monitoring") else "disabled"},
        "Architecture": "x86_64",
        "RootDeviceType": "ebs",
        "RootDeviceName": "/dev/xvda",
        "BlockDeviceMappings": []
        if gone
        else [
            {
                "DeviceName": "/dev/xvda",
                "Ebs": {
                    "AttachTime": launch_time,
                    "DeleteOnTermination": True,
                    "Status": "attached",
                    "VolumeId": spec["VolumeId"],
                },
            }
        ],
        "ClientToken": spec.get("ClientToken", ""),
        "EbsOptimized": False,
        "EnaSupport": True,
        "Hypervisor": "xen",
        "SecurityGroups": [] if gone else groups,
        "SourceDestCheck": True,
        "Tags": tags_to_list(record.tags),
        "VirtualizationType": "hvm",
        "CpuOptions": {
            "CoreCount": instance_type.cores,
            "ThreadsPerCore": 2 if instance_type.vcpus > 1 else 1,
        },
        "MetadataOptions": {
            "State": "applied",
            "HttpTokens": spec.get("HttpTokens", "optional"),
            "HttpPutResponseHopLimit": 2,
            "HttpEndpoint": "enabled",
            "HttpProtocolIpv6": "disabled",
            "InstanceMetadataTags": "disabled",
        },
        "PlatformDetails": "Linux/UNIX",
        "UsageOperation": "RunInstances",
        "BootMode": "uefi-preferred",
        "CurrentInstanceBootMode": "uefi",
        "PrivateDnsNameOptions": {
            "HostnameType": "ip-name",
            "EnableResourceNameDnsARecord": False,
            "EnableResourceNameDnsAAAARecord": False,
        },
    }
    if spec.get("KeyName"):
        view["KeyName"] = spec["KeyName"]
    if status.get("StateReason"):
        view["StateReason"] = status["StateReason"]
    if not gone:
        view["PrivateIpAddress"] = ip
        if spec.get("SubnetId"):
            view["SubnetId"] = spec["SubnetId"]
            view["VpcId"] = spec["VpcId"]
            view["NetworkInterfaces"] = [
                {
                    "Attachment": {
                        "AttachTime": launch_time,
                        "AttachmentId": "eni-attach-" + spec["NetworkInterfaceId"][4:],
                        "DeleteOnTermination": True,
                        "DeviceIndex": 0,
                        "Status": "attached",
                        "NetworkCardIndex": 0,
                    },
                    "Description": "",
                    "Groups": groups,
                    "Ipv6Addresses": [],
                    "MacAddress": spec["MacAddress"],
                    "NetworkInterfaceId": spec["NetworkInterfaceId"],
                    "OwnerId": record.account,
                    "PrivateDnsName": dns,
                    "PrivateIpAddress": ip,
                    "PrivateIpAddresses": [{"Primary": True, "PrivateDnsName": dns, "PrivateIpAddress": ip}],
                    "SourceDestCheck": True,
                    "Status": "in-use",
                    "SubnetId": spec["SubnetId"],
                    "VpcId": spec["VpcId"],
                    "InterfaceType": "interface",
                }
            ]
    return view


def _filter_view(record: Record) -> dict[str, Any]:
    spec = record.spec
    groups = spec.get("SecurityGroups") or []
    return {
        "instance-id": record.id,
        "instance-state-name": state_of(record),
        "instance-state-code": str(STATE_CODES[state_of(record)]),
        "instance-type": spec["InstanceType"],
        "image-id": spec["ImageId"],
        "vpc-id": spec.get("VpcId") or "",
        "subnet-id": spec.get("SubnetId") or "",
        "availability-zone": spec["AvailabilityZone"],
        "private-ip-address": spec["PrivateIpAddress"],
        "private-dns-name": private_dns_name(spec["PrivateIpAddress"], record.region),
        "ip-address": "",
        "dns-name": "",
        "key-name": spec.get("KeyName") or "",
        "reservation-id": spec["ReservationId"],
        "launch-index": str(spec["AmiLaunchIndex"]),
        "owner-id": record.account,
        "architecture": "x86_64",
        "root-device-type": "ebs",
        "root-device-name": "/dev/xvda",
        "monitoring-state": "enabled" if spec.get("Monitoring") else "disabled",
        "tenancy": "default",
        "instance-lifecycle": "",
        "hypervisor": "xen",
        "virtualization-type": "hvm",
        "network-interface.network-interface-id": spec["NetworkInterfaceId"],
        "network-interface.addresses.private-ip-address": spec["PrivateIpAddress"],
        "network-interface.mac-address": spec["MacAddress"],
        "instance.group-id": [g[0] for g in groups],
        "instance.group-name": [g[1] for g in groups],
        "group-id": [g[0] for g in groups],
        "group-name": [g[1] for g in groups],
        "placement-group-name": "",
        "launch-time": record.created_at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    }


@api.operation("DescribeInstances")
def describe_instances(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    filters = Filters.parse(params.get("Filters"), INSTANCE_FILTERS)
    ids = params.get("InstanceIds") or []
    max_results = params.get("MaxResults")
    if max_results is not None:
        if ids:
            raise AwsError(
                "InvalidParameterCombination",
                "The parameter instancesSet cannot be used with the parameter maxResults",
            )
        if not 5 <= max_results <= 1000:
            raise AwsError(
                "InvalidParameterValue",
                f"Value ( {max_results} ) for parameter maxResults is invalid. Expecting a value greater than 5.",
            )
    records = _instances(ctx, ids) if ids else ctx.runtime.store.list(INSTANCE, ctx.account_id, ctx.region)
    records = filters.select(records, _filter_view, lambda r: r.tags)
    page, token = ctx.runtime.store.paginator.paginate(
        records,
        max_results,
        params.get("NextToken"),
        key=lambda r: r.seq,
        scope=f"instances/{ctx.account_id}/{ctx.region}",
    )
    reservations: dict[str, list[Record]] = {}
    for record in page:
        reservations.setdefault(record.spec["ReservationId"], []).append(record)
    result: dict[str, Any] = {"Reservations": [_reservation(ctx, group) for group in reservations.values()]}
    if token:
        result["NextToken"] = token
    return result


STATUS_FILTERS = (
    "availability-zone",
    "instance-state-name",
    "instance-state-code",
    "instance-status.status",
    "instance-status.reachability",
    "system-status.status",
    "system-status.reachability",
)


@api.operation("DescribeInstanceStatus")
def describe_instance_status(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    filters = Filters.parse(params.get("Filters"), STATUS_FILTERS, allow_tags=False)
    ids = params.get("InstanceIds") or []
    records = _instances(ctx, ids) if ids else ctx.runtime.store.list(INSTANCE, ctx.account_id, ctx.region)
    if not params.get("IncludeAllInstances"):
        records = [r for r in records if state_of(r) == "running"]
    statuses = []
    for record in records:
        state = state_of(record)
        if state == "running":
            ok = "ok" if record.status.get("Booted") else "initializing"
            check = "passed" if ok == "ok" else "initializing"
        else:
            ok, check = "not-applicable", None
        summary: dict[str, Any] = {"Status": ok}
        if check:
            summary["Details"] = [{"Name": "reachability", "Status": check}]
        view = {
            "availability-zone": record.spec["AvailabilityZone"],
            "instance-state-name": state,
            "instance-state-code": str(STATE_CODES[state]),
            "instance-status.status": ok,
            "instance-status.reachability": check or "",
            "system-status.status": ok,
            "system-status.reachability": check or "",
        }
        if not filters.matches(view):
            continue
        statuses.append(
            {
                "InstanceId": record.id,
                "AvailabilityZone": record.spec["AvailabilityZone"],
                "InstanceState": _state(state),
                "InstanceStatus": summary,
                "SystemStatus": summary,
            }
        )
    page, token = ctx.runtime.store.paginator.paginate(
        statuses,
        params.get("MaxResults"),
        params.get("NextToken"),
        key=lambda s: s["InstanceId"],
        scope="status",
    )
    result: dict[str, Any] = {"InstanceStatuses": page}
    if token:
        result["NextToken"] = token
    return result


def _transition(ctx: RequestContext, params: dict[str, Any], action: str) -> list[dict[str, Any]]:
    """Apply Start/Stop/Terminate to every listed instance after checking them all (all or nothing)."""
    store = ctx.runtime.store
    changes = []
    with store.transaction():
        records = _instances(ctx, params["InstanceIds"])
        for record in records:
            state = state_of(record)
            if action == "stop" and state in ("terminated", "shutting-down"):
                raise AwsError(
                    "IncorrectInstanceState",
                    f"This instance '{record.id}' is not in a state from which it can be stopped.",
                )
            if action == "start" and state in ("terminated", "shutting-down", "stopping"):
                raise AwsError(
                    "IncorrectInstanceState",
                    f"The instance '{record.id}' is not in a state from which it can be started.",
                )
            if action == "terminate" and record.spec.get("DisableApiTermination") and state != "terminated":
                raise AwsError(
                    "OperationNotPermitted",
                    f"The instance '{record.id}' may not be terminated. Modify its 'disableApiTermination' "
                    "instance attribute and try again.",
                )
        for record in records:
            previous = state_of(record)
            current = previous
            if action == "stop" and previous in ("pending", "running"):
                current = "stopping"
                desired = "stopped"
            elif action == "start" and previous == "stopped":
                current = "pending"
                desired = "running"
            elif action == "terminate" and previous != "terminated":
                current = "shutting-down"
                desired = "terminated"
            else:
                desired = record.spec["DesiredState"]
            if current != previous or desired != record.spec["DesiredState"]:
                reason = {
                    "stop": ("User initiated", "Client.UserInitiatedShutdown"),
                    "terminate": ("User initiated", "Client.UserInitiatedShutdown"),
                    "start": ("", ""),
                }[action]
                status = {**record.status, "State": current}
                if action in ("stop", "terminate"):
                    stamp = datetime.fromtimestamp(ctx.runtime.clock.time()).strftime("%Y-%m-%d %H:%M:%S GMT")
                    status["StateTransitionReason"] = f"User initiated ({stamp})"
                    status["StateReason"] = {
                        "Code": reason[1],
                        "Message": f"{reason[1]}: {reason[0]} shutdown",
                    }
                else:
                    status.pop("StateReason", None)
                    status["StateTransitionReason"] = ""
                store.update(record, spec={**record.spec, "DesiredState": desired}, status=status)
            changes.append(
                {"InstanceId": record.id, "CurrentState": _state(current), "PreviousState": _state(previous)}
            )
    return changes


@api.operation("StartInstances")
def start_instances(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"StartingInstances": _transition(ctx, params, "start")}


@api.operation("StopInstances")
def stop_instances(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"StoppingInstances": _transition(ctx, params, "stop")}


@api.operation("TerminateInstances")
def terminate_instances(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"TerminatingInstances": _transition(ctx, params, "terminate")}


@api.operation("RebootInstances")
def reboot_instances(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    with store.transaction():
        records = _instances(ctx, params["InstanceIds"])
        for record in records:
            if state_of(record) in ("terminated", "shutting-down"):
                raise AwsError(
                    "IncorrectInstanceState",
                    f"The instance '{record.id}' is not in a state from which it can be rebooted.",
                )
        for record in records:
            if state_of(record) == "running":
                store.update(
                    record, spec={**record.spec, "RebootRequests": record.spec["RebootRequests"] + 1}
                )
    return {}


@api.operation("GetConsoleOutput")
def get_console_output(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    from onebox.host.instances.drivers import make_driver

    record = get_instance(ctx, params["InstanceId"])
    output = make_driver(ctx.runtime.config.state_dir, record.spec.get("Driver")).console_output(record.id)
    result: dict[str, Any] = {
        "InstanceId": record.id,
        "Timestamp": datetime.fromtimestamp(ctx.runtime.clock.time()),
    }
    if output:
        result["Output"] = base64.b64encode(output).decode()
    return result


_ATTRIBUTES = {
    "instanceType": "InstanceType",
    "userData": "UserData",
    "disableApiTermination": "DisableApiTermination",
    "instanceInitiatedShutdownBehavior": "InstanceInitiatedShutdownBehavior",
    "groupSet": "Groups",
    "rootDeviceName": "RootDeviceName",
    "blockDeviceMapping": "BlockDeviceMappings",
    "sourceDestCheck": "SourceDestCheck",
    "ebsOptimized": "EbsOptimized",
    "enaSupport": "EnaSupport",
    "kernel": "KernelId",
    "ramdisk": "RamdiskId",
    "productCodes": "ProductCodes",
    "sriovNetSupport": "SriovNetSupport",
    "disableApiStop": "DisableApiStop",
}


@api.operation("DescribeInstanceAttribute")
def describe_instance_attribute(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    record = get_instance(ctx, params["InstanceId"])
    attribute = params["Attribute"]
    if attribute not in _ATTRIBUTES:
        raise AwsError("InvalidParameterValue", f"Value ({attribute}) for parameter attribute is invalid.")
    spec = record.spec
    view = instance_view(record)
    value: Any
    if attribute == "instanceType":
        value = {"Value": spec["InstanceType"]}
    elif attribute == "userData":
        value = {"Value": spec["UserData"]} if spec["UserData"] else {}
    elif attribute == "disableApiTermination":
        value = {"Value": bool(spec.get("DisableApiTermination"))}
    elif attribute == "instanceInitiatedShutdownBehavior":
        value = {"Value": spec.get("ShutdownBehavior", "stop")}
    elif attribute == "groupSet":
        value = view["SecurityGroups"]
    elif attribute == "rootDeviceName":
        value = {"Value": "/dev/xvda"}
    elif attribute == "blockDeviceMapping":
        value = view["BlockDeviceMappings"]
    elif attribute in ("sourceDestCheck", "enaSupport"):
        value = {"Value": True}
    elif attribute in ("ebsOptimized", "disableApiStop"):
        value = {"Value": False}
    elif attribute == "productCodes":
        value = []
    elif attribute == "sriovNetSupport":
        value = {"Value": "simple"}
    else:
        value = {}
    return {"InstanceId": record.id, _ATTRIBUTES[attribute]: value}


@api.operation("ModifyInstanceAttribute")
def modify_instance_attribute(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    with store.transaction():
        record = get_instance(ctx, params["InstanceId"])
        spec = dict(record.spec)
        attribute, value = params.get("Attribute"), params.get("Value")

        def wanted(name: str, key: str) -> Any:
            if attribute == name:
                return value
            given = params.get(key)
            return given.get("Value") if isinstance(given, dict) else given

        stopped = state_of(record) == "stopped"
        new_type = wanted("instanceType", "InstanceType")
        if new_type is not None:
            if not stopped:
                raise AwsError(
                    "IncorrectInstanceState", f"The instance '{record.id}' is not in the 'stopped' state."
                )
            if new_type not in INSTANCE_TYPES:
                raise AwsError("InvalidParameterValue", f"Invalid value '{new_type}' for InstanceType.")
            _check_capacity(INSTANCE_TYPES[new_type], spec["AvailabilityZone"])
            spec["InstanceType"] = new_type
        new_user_data = wanted("userData", "UserData")
        if new_user_data is not None:
            if not stopped:
                raise AwsError(
                    "IncorrectInstanceState", f"The instance '{record.id}' is not in the 'stopped' state."
                )
            raw = new_user_data if isinstance(new_user_data, bytes) else str(new_user_data).encode()
            if len(raw) > MAX_USER_DATA:
                raise AwsError("InvalidParameterValue", "User data is limited to 16384 bytes")
            spec["UserData"] = base64.b64encode(raw).decode()
        termination = wanted("disableApiTermination", "DisableApiTermination")
        if termination is not None:
            spec["DisableApiTermination"] = str(termination).lower() == "true"
        behaviour = wanted("instanceInitiatedShutdownBehavior", "InstanceInitiatedShutdownBehavior")
        if behaviour is not None:
            if behaviour not in ("stop", "terminate"):
                raise AwsError(
                    "InvalidParameterValue", f"Value ({behaviour}) for parameter value is invalid."
                )
            spec["ShutdownBehavior"] = behaviour
        groups = params.get("Groups")
        if groups:
            from onebox.services.ec2 import vpc_records

            chosen = []
            for group_id in groups:
                group = vpc_records.get(store, "sg", ctx.account_id, ctx.region, group_id)
                if group.spec.get("VpcId") != spec.get("VpcId"):
                    raise AwsError(
                        "InvalidGroup.NotFound",
                        f"The security group '{group_id}' does not exist in VPC '{spec.get('VpcId')}'",
                    )
                chosen.append([group.id, group.spec.get("GroupName", "")])
            spec["SecurityGroups"] = chosen
            instance_network.set_groups(
                store,
                ctx.account_id,
                ctx.region,
                spec.get("SubnetId"),
                spec["PrivateIpAddress"],
                list(groups),
            )
        if spec != record.spec:
            store.update(record, spec=spec)
    return {}


def _monitoring(ctx: RequestContext, params: dict[str, Any], enabled: bool) -> dict[str, Any]:
    store = ctx.runtime.store
    with store.transaction():
        records = _instances(ctx, params["InstanceIds"])
        for record in records:
            if record.spec.get("Monitoring") != enabled:
                store.update(record, spec={**record.spec, "Monitoring": enabled})
    state = "enabled" if enabled else "disabled"
    return {"InstanceMonitorings": [{"InstanceId": r.id, "Monitoring": {"State": state}} for r in records]}


@api.operation("MonitorInstances")
def monitor_instances(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _monitoring(ctx, params, True)


@api.operation("UnmonitorInstances")
def unmonitor_instances(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _monitoring(ctx, params, False)
