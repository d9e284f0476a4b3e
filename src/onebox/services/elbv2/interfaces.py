"""A load balancer's network interfaces: one requester-managed ENI per subnet, as AWS gives an ALB
(DescribeNetworkInterfaces shows Description "ELB app/NAME/ID", RequesterManaged, Status in-use).

The addresses and interfaces are EC2's own records (services/ec2/addressing: `ec2:private-ip`), tied to
the balancer's security groups, so the VPC controller keeps the groups' rules applied to them like an
instance's, and source-group rules elsewhere resolve to them. The elbv2 controller plugs them into
their subnets (host/loadbalancer/vpc_ports.py) and HAProxy listens on them there.

Call these inside the store transaction that changes the balancer record. Without EC2's VPC modules a
balancer has no interfaces.
"""

from __future__ import annotations

import importlib
import ipaddress
from collections.abc import Sequence
from typing import Any

from onebox.store import Store
from onebox.store.ids import new_id

REQUESTER = "amazon-elb"


def _ec2(name: str) -> Any:
    try:
        return importlib.import_module(f"onebox.services.ec2.{name}")
    except ImportError:
        return None


def description(name: str, lb_id: str) -> str:
    return f"ELB app/{name}/{lb_id}"


def allocate(
    store: Store,
    account: str,
    region: str,
    name: str,
    lb_id: str,
    subnets: Sequence[dict[str, str]],
    group_ids: Sequence[str],
) -> list[dict[str, Any]]:
    """One interface per subnet ({SubnetId, ZoneName}); EC2's errors when a subnet is full."""
    addressing, records = _ec2("addressing"), _ec2("vpc_records")
    if addressing is None or records is None:
        return []
    found = []
    for subnet in subnets:
        subnet_id = subnet["SubnetId"]
        interface_id = new_id("eni")
        ip = addressing.allocate_private_ip(
            store,
            account,
            region,
            subnet_id,
            None,
            interface_id=interface_id,
            group_ids=list(group_ids),
            owner=REQUESTER,
        )
        record = store.get(records.PRIVATE_IP, account, region, f"{subnet_id}/{ip}")
        if record is not None:
            store.update(
                record,
                spec={
                    **record.spec,
                    "Description": description(name, lb_id),
                    "RequesterManaged": True,
                    "RequesterId": REQUESTER,
                    "LoadBalancerId": lb_id,
                },
            )
        cidr = addressing.subnet_record(store, account, region, subnet_id).spec["CidrBlock"]
        found.append(
            {
                "SubnetId": subnet_id,
                "InterfaceId": interface_id,
                "PrivateIp": ip,
                "PrefixLen": ipaddress.ip_network(cidr).prefixlen,
            }
        )
    return found


def release(store: Store, account: str, region: str, interfaces: Sequence[dict[str, Any]]) -> None:
    addressing = _ec2("addressing")
    if addressing is None:
        return
    for interface in interfaces:
        addressing.release_private_ip(store, account, region, interface["SubnetId"], interface["PrivateIp"])


def set_groups(
    store: Store, account: str, region: str, interfaces: Sequence[dict[str, Any]], group_ids: Sequence[str]
) -> None:
    """SetSecurityGroups: the VPC controller re-applies the interfaces' rules."""
    addressing = _ec2("addressing")
    if addressing is None:
        return
    for interface in interfaces:
        addressing.set_interface_groups(
            store, account, region, interface["SubnetId"], interface["PrivateIp"], list(group_ids)
        )


def rules(store: Store, account: str, region: str, interface: dict[str, Any]) -> Any:
    """The interface's firewall rules from its record's groups (None without EC2's VPC modules)."""
    records, security_groups = _ec2("vpc_records"), _ec2("security_groups")
    if records is None or security_groups is None:
        return None
    address = store.get(
        records.PRIVATE_IP, account, region, f"{interface['SubnetId']}/{interface['PrivateIp']}"
    )
    groups = (address.spec.get("GroupIds") if address else None) or []
    return security_groups.rules_for(store, account, region, groups)
