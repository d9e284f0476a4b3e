"""EC2 DescribeNetworkInterfaces: the interfaces instances hold, one per private address handed out with
an interface id (the `ec2:private-ip` records), with the owning instance's MAC and zone when known.

Terraform lists a subnet's and a group's interfaces before deleting them, so this must answer even
when there are none. Creating or attaching interfaces on their own (CreateNetworkInterface) is not
supported yet: every interface belongs to an instance's launch.
"""

from __future__ import annotations

from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.services.ec2.vpc_records import PRIVATE_IP, SECURITY_GROUP, SUBNET
from onebox.store import Record, Store
from onebox.store.filters import Filters

api = ServiceApi("ec2")

INSTANCE = "ec2:instance"  # the instances module's kind; read only, for MAC and zone
INTERFACE_FILTERS = (
    "network-interface-id",
    "subnet-id",
    "vpc-id",
    "group-id",
    "group-name",
    "availability-zone",
    "private-ip-address",
    "addresses.private-ip-address",
    "mac-address",
    "attachment.instance-id",
    "attachment.status",
    "status",
    "owner-id",
    "interface-type",
    "requester-managed",
    "description",
)


def _view(store: Store, account: str, address: Record) -> dict[str, Any]:
    spec = address.spec
    region = address.region
    owner = spec.get("Owner") or ""
    instance = store.get(INSTANCE, account, region, owner) if owner.startswith("i-") else None
    subnet = store.get(SUBNET, account, region, spec["SubnetId"])
    groups = []
    for group_id in spec.get("GroupIds") or []:
        group = store.get(SECURITY_GROUP, account, region, group_id)
        groups.append({"GroupId": group_id, "GroupName": group.spec["GroupName"] if group else ""})
    ip = spec["Ip"]
    dns = (
        f"ip-{ip.replace('.', '-')}.ec2.internal"
        if region == "us-east-1"
        else f"ip-{ip.replace('.', '-')}.{region}.compute.internal"
    )
    view: dict[str, Any] = {
        "AvailabilityZone": subnet.spec["AvailabilityZone"] if subnet else "",
        "Description": spec.get("Description") or "",
        "Groups": groups,
        "InterfaceType": "interface",
        "Ipv6Addresses": [],
        "MacAddress": (instance.spec.get("MacAddress") if instance else None) or "",
        "NetworkInterfaceId": spec["InterfaceId"],
        "OwnerId": account,
        "PrivateDnsName": dns,
        "PrivateIpAddress": ip,
        "PrivateIpAddresses": [{"Primary": True, "PrivateDnsName": dns, "PrivateIpAddress": ip}],
        "RequesterManaged": bool(spec.get("RequesterManaged")),
        "SourceDestCheck": True,
        "Status": "in-use" if owner else "available",
        "SubnetId": spec["SubnetId"],
        "VpcId": spec["VpcId"],
        "TagSet": [],
    }
    if spec.get("RequesterManaged") and not owner.startswith("i-"):
        # An interface a service holds (a load balancer's, a DB instance's): attached to no instance.
        view["RequesterId"] = spec.get("RequesterId") or owner
        view["Attachment"] = {
            "AttachmentId": "eni-attach-" + spec["InterfaceId"].removeprefix("eni-"),
            "DeleteOnTermination": False,
            "DeviceIndex": 1,
            "NetworkCardIndex": 0,
            "InstanceOwnerId": spec.get("RequesterId") or owner,
            "Status": "attached",
        }
    elif owner:
        view["Attachment"] = {
            "AttachmentId": "eni-attach-" + spec["InterfaceId"].removeprefix("eni-"),
            "DeleteOnTermination": True,
            "DeviceIndex": 0,
            "NetworkCardIndex": 0,
            "InstanceId": owner,
            "InstanceOwnerId": account,
            "Status": "attached",
        }
    return view


def _filter_view(view: dict[str, Any]) -> dict[str, Any]:
    attachment = view.get("Attachment") or {}
    return {
        "network-interface-id": view["NetworkInterfaceId"],
        "subnet-id": view["SubnetId"],
        "vpc-id": view["VpcId"],
        "group-id": [g["GroupId"] for g in view["Groups"]],
        "group-name": [g["GroupName"] for g in view["Groups"]],
        "availability-zone": view["AvailabilityZone"],
        "private-ip-address": view["PrivateIpAddress"],
        "addresses.private-ip-address": view["PrivateIpAddress"],
        "mac-address": view["MacAddress"],
        "attachment.instance-id": attachment.get("InstanceId", ""),
        "attachment.status": attachment.get("Status", ""),
        "status": view["Status"],
        "owner-id": view["OwnerId"],
        "interface-type": view["InterfaceType"],
        "requester-managed": "true" if view["RequesterManaged"] else "false",
        "description": view["Description"],
    }


@api.operation("DescribeNetworkInterfaces")
def describe_network_interfaces(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    filters = Filters.parse(params.get("Filters"), INTERFACE_FILTERS)
    addresses = [a for a in store.list(PRIVATE_IP, ctx.account_id, ctx.region) if a.spec.get("InterfaceId")]
    views = [_view(store, ctx.account_id, a) for a in addresses]
    wanted = params.get("NetworkInterfaceIds")
    if wanted:
        known = {v["NetworkInterfaceId"] for v in views}
        for interface_id in wanted:
            if interface_id not in known:
                raise AwsError(
                    "InvalidNetworkInterfaceID.NotFound",
                    f"The networkInterface ID '{interface_id}' does not exist",
                )
        views = [v for v in views if v["NetworkInterfaceId"] in wanted]
    views = filters.select(views, _filter_view, lambda v: {})
    max_results = params.get("MaxResults")
    if max_results is not None and not 5 <= max_results <= 1000:
        raise AwsError("InvalidParameterValue", "MaxResults must be between 5 and 1000")
    page, token = store.paginator.paginate(
        views,
        max_results,
        params.get("NextToken"),
        key=lambda v: v["NetworkInterfaceId"],
        scope=f"ec2/eni/{ctx.account_id}/{ctx.region}",
    )
    return {"NetworkInterfaces": page, "NextToken": token}
