"""Private IPs in subnets, group rule resolution and nft rule text, on an in-memory store (no root)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from onebox.aws.errors import AwsError
from onebox.clock import ManualClock
from onebox.host.network import FirewallRule, _match
from onebox.services.ec2 import addressing, security_groups, subnets, vpcs
from onebox.services.ec2.regions import zones
from onebox.store import Record, Store

ACCOUNT, REGION = "000000000000", "us-east-1"


@pytest.fixture
def store() -> Iterator[Store]:
    store = Store.memory(ManualClock())
    yield store
    store.close()


def _subnet(store: Store, cidr: str = "10.20.1.0/28") -> tuple[Record, Record]:
    vpc = vpcs.create_vpc_records(store, ACCOUNT, REGION, "10.20.0.0/16")
    subnet = subnets.create_subnet_record(store, ACCOUNT, REGION, vpc, cidr, zones(REGION)[0])
    return vpc, subnet


def _code(call: object) -> str:
    with pytest.raises(AwsError) as error:
        call()  # type: ignore[operator]
    return error.value.code


def test_allocation_skips_reserved_addresses_and_fills_the_subnet(store: Store) -> None:
    _, subnet = _subnet(store)  # a /28: 16 addresses, 5 reserved, 11 usable (.4 to .14)
    assert addressing.available_count(store, ACCOUNT, REGION, subnet) == 11
    taken = [addressing.allocate_private_ip(store, ACCOUNT, REGION, subnet.id, None) for _ in range(11)]
    assert taken[0] == "10.20.1.4" and taken[-1] == "10.20.1.14"
    assert addressing.available_count(store, ACCOUNT, REGION, subnet) == 0
    full = lambda: addressing.allocate_private_ip(store, ACCOUNT, REGION, subnet.id, None)  # noqa: E731
    assert _code(full) == "InsufficientFreeAddressesInSubnet"
    addressing.release_private_ip(store, ACCOUNT, REGION, subnet.id, "10.20.1.7")
    addressing.release_private_ip(store, ACCOUNT, REGION, subnet.id, "10.20.1.7")  # idempotent
    assert addressing.allocate_private_ip(store, ACCOUNT, REGION, subnet.id, None) == "10.20.1.7"


def test_requested_addresses(store: Store) -> None:
    _, subnet = _subnet(store)
    assert addressing.allocate_private_ip(store, ACCOUNT, REGION, subnet.id, "10.20.1.9") == "10.20.1.9"
    for requested, code in (
        ("10.20.1.9", "InvalidIPAddress.InUse"),
        ("10.20.1.2", "InvalidParameterValue"),  # AWS's DNS address: reserved
        ("10.20.1.15", "InvalidParameterValue"),  # broadcast: reserved
        ("10.20.2.9", "InvalidParameterValue"),  # not in the subnet
        ("ten", "InvalidParameterValue"),
    ):
        assert (
            _code(lambda r=requested: addressing.allocate_private_ip(store, ACCOUNT, REGION, subnet.id, r))
            == code
        )
    missing = lambda: addressing.allocate_private_ip(store, ACCOUNT, REGION, "subnet-0123456789abcdef0", None)  # noqa: E731
    assert _code(missing) == "InvalidSubnetID.NotFound"


def test_subnet_rules(store: Store) -> None:
    vpc, _ = _subnet(store)
    zone = zones(REGION)[1]
    for cidr, code in (
        ("10.20.0.0/23", "InvalidSubnet.Conflict"),
        ("10.21.0.0/24", "InvalidSubnet.Range"),
        ("10.20.0.0/30", "InvalidSubnet.Range"),
    ):
        assert (
            _code(lambda c=cidr: subnets.create_subnet_record(store, ACCOUNT, REGION, vpc, c, zone)) == code
        )


def test_group_rules_resolve_members(store: Store) -> None:
    vpc, subnet = _subnet(store)
    web = security_groups.create_group_record(store, ACCOUNT, REGION, vpc.id, "web", "w")
    app = security_groups.create_group_record(store, ACCOUNT, REGION, vpc.id, "app", "a")
    rule = {"SecurityGroupRuleId": "sgr-1", "IpProtocol": "tcp", "FromPort": 80, "ToPort": 80}
    store.update(web, spec={**web.spec, "Ingress": [{**rule, "ReferencedGroupId": app.id}]})
    ip = addressing.allocate_private_ip(
        store, ACCOUNT, REGION, subnet.id, None, interface_id="eni-1", group_ids=[app.id]
    )
    rules = security_groups.rules_for(store, ACCOUNT, REGION, [web.id])
    assert rules.ingress == (FirewallRule("tcp", 80, 80, f"{ip}/32"),)
    assert rules.egress == (FirewallRule("-1", None, None, "0.0.0.0/0"),)
    assert security_groups.rules_for(store, ACCOUNT, REGION, []).egress == ()
    with pytest.raises(AwsError) as error:
        security_groups.create_group_record(store, ACCOUNT, REGION, vpc.id, "web", "again")
    assert error.value.code == "InvalidGroup.Duplicate"


def test_nft_rule_text() -> None:
    assert _match(FirewallRule("tcp", 80, 443, "0.0.0.0/0")) == "tcp dport 80-443"
    assert _match(FirewallRule("17", 53, 53, "0.0.0.0/0")) == "udp dport 53-53"
    assert _match(FirewallRule("-1", None, None, "0.0.0.0/0")) == ""
    assert _match(FirewallRule("icmp", -1, -1, "0.0.0.0/0")) == "meta l4proto icmp"
    assert _match(FirewallRule("icmp", 8, -1, "0.0.0.0/0")) == "icmp type 8"
    assert _match(FirewallRule("icmp", 3, 4, "0.0.0.0/0")) == "icmp type 3 icmp code 4"
    assert _match(FirewallRule("47", None, None, "0.0.0.0/0")) == "meta l4proto 47"
