"""Where an instance plugs into a VPC: subnet and security group choice at launch, private IPs.

The VPC modules (vpc_records, addressing, security_groups, default VPC) belong to the VPC work; this
module is the instances' one door to them. When they are not there (an install without VPC support)
instances run without a subnet and with a loopback private address, as the process driver always does.
"""

from __future__ import annotations

import importlib
import ipaddress
from dataclasses import dataclass, field
from typing import Any

from onebox.aws.dispatch import RequestContext
from onebox.aws.errors import AwsError
from onebox.store import Store


@dataclass
class Placement:
    availability_zone: str
    subnet_id: str | None = None
    vpc_id: str | None = None
    subnet_cidr: str | None = None
    vpc_cidr: str | None = None
    groups: list[tuple[str, str]] = field(default_factory=list)  # (id, name)


def _module(name: str) -> Any:
    try:
        return importlib.import_module(f"onebox.services.ec2.{name}")
    except ImportError:
        return None


def vpc_support() -> bool:
    return _module("vpc_records") is not None and _module("addressing") is not None


def _zones(region: str) -> list[str]:
    return [f"{region}{letter}" for letter in "abc"]


def choose_placement(ctx: RequestContext, params: dict[str, Any]) -> Placement:
    """Subnet, AZ and groups for RunInstances (EC2's rules and errors), or no subnet without VPC support."""
    requested_az = (params.get("Placement") or {}).get("AvailabilityZone")
    if requested_az and requested_az not in _zones(ctx.region):
        raise AwsError("InvalidParameterValue", f"Invalid availability zone: [{requested_az}]")
    subnet_id = params.get("SubnetId")
    interfaces = params.get("NetworkInterfaces") or []
    if not subnet_id and interfaces:
        subnet_id = interfaces[0].get("SubnetId")
    group_ids = list(params.get("SecurityGroupIds") or [])
    if interfaces and not group_ids:
        group_ids = list(interfaces[0].get("Groups") or [])
    group_names = list(params.get("SecurityGroups") or [])
    records = _module("vpc_records")
    if records is None:
        if subnet_id:
            raise AwsError("InvalidSubnetID.NotFound", f"The subnet ID '{subnet_id}' does not exist")
        return Placement(requested_az or f"{ctx.region}a")
    store = ctx.runtime.store
    if subnet_id:
        subnet = records.get(store, "subnet", ctx.account_id, ctx.region, subnet_id)
        zone = subnet.spec.get("AvailabilityZone")
        if requested_az and zone and requested_az != zone:
            raise AwsError(
                "InvalidParameterValue",
                f"Value ({requested_az}) for parameter availabilityZone is invalid. "
                f"Subnet '{subnet_id}' is in the availability zone {zone}",
            )
    else:
        subnet = _default_subnet(ctx, requested_az or f"{ctx.region}a")
        if subnet is None:
            raise AwsError(
                "VPCIdNotSpecified",
                "No default VPC for this user. GroupName is only supported for EC2-Classic and default VPC.",
            )
    vpc_id = subnet.spec["VpcId"]
    vpc = store.get(records.VPC, ctx.account_id, ctx.region, vpc_id)
    groups = _groups(store, records, ctx, vpc_id, group_ids, group_names, bool(subnet_id))
    return Placement(
        availability_zone=subnet.spec.get("AvailabilityZone") or requested_az or f"{ctx.region}a",
        subnet_id=subnet.id,
        vpc_id=vpc_id,
        subnet_cidr=subnet.spec.get("CidrBlock"),
        vpc_cidr=vpc.spec.get("CidrBlock") if vpc else None,
        groups=groups,
    )


def _default_subnet(ctx: RequestContext, zone: str) -> Any:
    default_vpc = _module("default_vpc")
    if default_vpc is None or not hasattr(default_vpc, "default_subnet_for_az"):
        return None
    if hasattr(default_vpc, "ensure_default_vpc"):
        default_vpc.ensure_default_vpc(ctx.runtime, ctx.account_id, ctx.region)
    return default_vpc.default_subnet_for_az(ctx.runtime, ctx.account_id, ctx.region, zone)


def _groups(
    store: Store,
    records: Any,
    ctx: RequestContext,
    vpc_id: str,
    group_ids: list[str],
    group_names: list[str],
    explicit_subnet: bool,
) -> list[tuple[str, str]]:
    in_vpc = [
        g
        for g in store.list(records.SECURITY_GROUP, ctx.account_id, ctx.region)
        if g.spec.get("VpcId") == vpc_id
    ]
    chosen: list[tuple[str, str]] = []
    for group_id in group_ids:
        group = records.get(store, "sg", ctx.account_id, ctx.region, group_id)
        if group.spec.get("VpcId") != vpc_id:
            raise AwsError(
                "InvalidParameter",
                f"Security group {group_id} and subnet belong to different networks.",
            )
        chosen.append((group.id, group.spec.get("GroupName", "")))
    for name in group_names:
        if explicit_subnet:
            raise AwsError(
                "InvalidParameterCombination",
                "The parameter groupName cannot be used with the parameter subnet",
            )
        match = [g for g in in_vpc if g.spec.get("GroupName") == name]
        if not match:
            raise AwsError(
                "InvalidGroup.NotFound",
                f"The security group '{name}' does not exist in default VPC '{vpc_id}'",
            )
        chosen.append((match[0].id, name))
    if not chosen:
        default = [g for g in in_vpc if g.spec.get("GroupName") == "default"]
        chosen = [(default[0].id, "default")] if default else []
    return list(dict.fromkeys(chosen))


def allocate_ip(
    ctx: RequestContext,
    placement: Placement,
    requested: str | None,
    interface_id: str,
    instance_id: str,
    *,
    vpc_ip: bool = True,
) -> str:
    """The instance's private IP: from its subnet, or a loopback address when the instance cannot be
    plugged into the subnet (no VPC support, or `vpc_ip` False: the process driver)."""
    addressing = _module("addressing")
    if placement.subnet_id is None or addressing is None or not vpc_ip:
        if requested and placement.subnet_id is not None and addressing is not None:
            # The process driver cannot give the instance this address, but the request is still
            # checked by EC2's rules; the instance then gets a loopback address (docs/instances.md).
            subnet = addressing.subnet_record(
                ctx.runtime.store, ctx.account_id, ctx.region, placement.subnet_id
            )
            addressing.check_requested_ip(subnet, requested)
            requested = None
        return _loopback_ip(ctx.runtime.store, requested)
    return addressing.allocate_private_ip(
        ctx.runtime.store,
        ctx.account_id,
        ctx.region,
        placement.subnet_id,
        requested,
        interface_id=interface_id,
        group_ids=[group_id for group_id, _ in placement.groups],
        owner=instance_id,
    )


def release_ip(store: Store, account: str, region: str, subnet_id: str | None, ip: str) -> None:
    addressing = _module("addressing")
    if subnet_id and addressing is not None:
        addressing.release_private_ip(store, account, region, subnet_id, ip)


def set_groups(
    store: Store, account: str, region: str, subnet_id: str | None, ip: str, ids: list[str]
) -> None:
    addressing = _module("addressing")
    if subnet_id and addressing is not None:
        addressing.set_interface_groups(store, account, region, subnet_id, ip, ids)


LOOPBACK_POOL = ipaddress.IPv4Network("127.100.0.0/16")


def _loopback_ip(store: Store, requested: str | None) -> str:
    """A loopback address for an instance without a subnet (process driver, or no VPC support)."""
    from onebox.services.ec2.instances import INSTANCE

    used = {
        r.spec.get("PrivateIpAddress")
        for r in store.list_all(INSTANCE)
        if r.spec.get("DesiredState") != "terminated"
    }
    if requested:
        # Only loopback addresses: a process-driver instance binds to it on the host itself.
        try:
            address = ipaddress.IPv4Address(requested)
        except ValueError:
            raise AwsError("InvalidParameterValue", f"Invalid IPv4 address: {requested}") from None
        if address not in LOOPBACK_POOL:
            raise AwsError(
                "InvalidParameterValue", f"Address {requested} is not available without a VPC subnet"
            )
        if requested in used:
            raise AwsError("InvalidIPAddress.InUse", f"Address {requested} is in use.")
        return requested
    for address in LOOPBACK_POOL.hosts():
        if str(address) not in used and address.packed[-1] not in (0, 255):
            return str(address)
    raise AwsError("InsufficientFreeAddressesInSubnet", "There are not enough free addresses.")
