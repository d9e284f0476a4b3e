"""IPv4 addressing in VPCs: CIDR rules, AWS's reserved addresses, and private IPs handed out per subnet.

AWS rules (VPC User Guide, "VPC CIDR blocks" and "Subnet CIDR blocks"):
- VPC and subnet blocks are /16 to /28.
- Each subnet reserves 5 addresses: network (.0), VPC router (.1), DNS (.2), future use (.3), broadcast
  (last). AvailableIpAddressCount = size - 5 - addresses in use.

Each address in use is a store record (kind ec2:private-ip, id "<subnet-id>/<ip>"), so two callers
can never get the same address: the store's unique id decides.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

from onebox.aws.errors import AwsError
from onebox.host import network
from onebox.services.ec2.vpc_records import PRIVATE_IP, SUBNET
from onebox.store import AlreadyExists, Record, Store
from onebox.store.ids import arn

RESERVED_AT_START = 4  # network, router, DNS, future use
RESERVED_COUNT = 5


def parse_cidr(cidr: str, *, code: str) -> ipaddress.IPv4Network:
    """An IPv4 block /16-/28 given in canonical form, or `code` ("The CIDR '…' is invalid.")."""
    try:
        network_ = ipaddress.IPv4Network(cidr, strict=True)
    except ValueError:
        raise AwsError(code, f"The CIDR '{cidr}' is invalid.") from None
    if not 16 <= network_.prefixlen <= 28:
        raise AwsError(code, f"The CIDR '{cidr}' is invalid.")
    return network_


def check_vpc_cidr_on_host(cidr: str) -> None:
    """Refuse a VPC range the host needs for itself (its interfaces, routes, gateway, nameservers)."""
    conflict = network.host_conflict(cidr)
    if conflict is not None:
        raise AwsError(
            "InvalidVpc.Range",
            f"The CIDR '{cidr}' cannot be used on this onebox host: {conflict}.",
        )


def usable_hosts(cidr: str) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]:
    block = ipaddress.IPv4Network(cidr)
    return block.network_address + RESERVED_AT_START, block.broadcast_address - 1


def subnet_size(cidr: str) -> int:
    return ipaddress.IPv4Network(cidr).num_addresses - RESERVED_COUNT


def addresses_in_use(store: Store, account: str, region: str, subnet_id: str) -> list[Record]:
    return [r for r in store.list(PRIVATE_IP, account, region) if r.spec.get("SubnetId") == subnet_id]


def available_count(store: Store, account: str, region: str, subnet: Record) -> int:
    return subnet_size(subnet.spec["CidrBlock"]) - len(addresses_in_use(store, account, region, subnet.id))


def allocate_private_ip(
    store: Store,
    account: str,
    region: str,
    subnet_id: str,
    requested: str | None,
    *,
    interface_id: str | None = None,
    group_ids: Sequence[str] = (),
    owner: str | None = None,
) -> str:
    """Take `requested` (or the lowest free address) in the subnet; EC2's errors if it cannot.

    `interface_id` and `group_ids` tie the address to an interface and its security groups: the VPC
    controller re-applies group rules to attached interfaces from these records, and source-group
    rules resolve to the addresses of the group's members. `owner` is free text (e.g. the instance id).
    """
    subnet = subnet_record(store, account, region, subnet_id)
    first, last = usable_hosts(subnet.spec["CidrBlock"])
    spec: dict[str, Any] = {
        "SubnetId": subnet_id,
        "VpcId": subnet.spec["VpcId"],
        "InterfaceId": interface_id,
        "GroupIds": list(group_ids),
        "Owner": owner,
    }
    if requested is not None:
        address = check_requested_ip(subnet, requested)
        if not _claim(store, account, region, subnet, str(address), spec):
            raise AwsError("InvalidIPAddress.InUse", f"Address {requested} is in use.")
        return str(address)
    taken = {r.spec.get("Ip") for r in addresses_in_use(store, account, region, subnet_id)}
    candidate = first
    while candidate <= last:
        if str(candidate) not in taken and _claim(store, account, region, subnet, str(candidate), spec):
            return str(candidate)
        candidate += 1
    raise AwsError(
        "InsufficientFreeAddressesInSubnet",
        f"There are not enough free addresses in subnet '{subnet_id}' to satisfy the requested number of"
        " instances.",
    )


def subnet_record(store: Store, account: str, region: str, subnet_id: str) -> Record:
    subnet = store.get(SUBNET, account, region, subnet_id)
    if subnet is None:
        raise AwsError("InvalidSubnetID.NotFound", f"The subnet ID '{subnet_id}' does not exist")
    return subnet


def check_requested_ip(subnet: Record, requested: str) -> ipaddress.IPv4Address:
    """EC2's rules for a requested private address: valid IPv4, inside the subnet, not reserved."""
    first, last = usable_hosts(subnet.spec["CidrBlock"])
    try:
        address = ipaddress.IPv4Address(requested)
    except ValueError:
        raise AwsError("InvalidParameterValue", f"Invalid IPv4 address: {requested}") from None
    if address not in ipaddress.IPv4Network(subnet.spec["CidrBlock"]):
        raise AwsError(
            "InvalidParameterValue",
            f"Address {requested} does not fall within the subnet's address range",
        )
    if not first <= address <= last:
        raise AwsError("InvalidParameterValue", f"Address {requested} is in subnet's reserved address range")
    return address


def _claim(store: Store, account: str, region: str, subnet: Record, ip: str, spec: dict[str, Any]) -> bool:
    try:
        store.create(
            PRIVATE_IP,
            account,
            region,
            f"{subnet.id}/{ip}",
            arn=arn("ec2", region, account, f"private-ip/{subnet.id}/{ip}"),
            spec={**spec, "Ip": ip},
        )
    except AlreadyExists:
        return False
    return True


def release_private_ip(store: Store, account: str, region: str, subnet_id: str, ip: str) -> None:
    """Give the address back (idempotent)."""
    store.delete_by_id(PRIVATE_IP, account, region, f"{subnet_id}/{ip}")


def set_interface_groups(
    store: Store, account: str, region: str, subnet_id: str, ip: str, group_ids: Sequence[str]
) -> None:
    """Record new security groups for the interface holding `ip` (ModifyInstanceAttribute Groups)."""
    with store.transaction():
        record = store.get(PRIVATE_IP, account, region, f"{subnet_id}/{ip}")
        if record is not None:
            store.update(record, spec={**record.spec, "GroupIds": list(group_ids)})
