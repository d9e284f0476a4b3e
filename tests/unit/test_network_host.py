"""host/network.py on the real kernel: two VPCs, three throwaway instance namespaces, real TCP.

Needs root, iproute2 and nftables (the namespace driver's requirements). Every probe stays inside
namespaces this test creates; the only off-VPC destination probed is 198.51.100.1 (TEST-NET-2), from
inside an instance namespace whose router has no route out.
"""

from __future__ import annotations

import ipaddress
import random
import subprocess
import sys
from collections.abc import Iterator

import pytest

from onebox.host import network
from onebox.host.network import FirewallRule, InterfaceRules
from onebox.store.ids import new_id

pytestmark = pytest.mark.skipif(not network.available(), reason="needs root, ip and nft")

SERVER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(16)
print("ready", flush=True)
while True:
    c, _ = s.accept(); c.sendall(b"hello"); c.close()
"""

PROBE = """
import socket, sys
s = socket.socket(); s.settimeout(float(sys.argv[3]))
try:
    s.connect((sys.argv[1], int(sys.argv[2]))); print(s.recv(5).decode())
except OSError as e:
    print("error", type(e).__name__, e.errno)
"""


def _free_cidr() -> str:
    """A /16 in 10.100-10.199 that nothing on the host uses (never near the 10.255 nameserver), not even
    another daemon's VPC (a live test daemon may hold a 10.x range: host_conflict allows those)."""
    while True:
        cidr = f"10.{random.randint(100, 199)}.0.0/16"
        if network.host_conflict(cidr) is None and not _routed(cidr):
            return cidr


def _routed(cidr: str) -> bool:
    block = ipaddress.ip_network(cidr)
    listing = subprocess.run(["ip", "-4", "route", "show"], capture_output=True, text=True).stdout
    for line in listing.splitlines():
        words = line.split()
        if not words or words[0] in ("blackhole", "default"):
            continue
        destination = words[0] if "/" in words[0] else f"{words[0]}/32"
        if ipaddress.ip_network(destination, strict=False).overlaps(block):
            return True
    return False


class Lab:
    def __init__(self) -> None:
        self.vpcs: list[tuple[str, list[str]]] = []
        self.namespaces: list[str] = []
        self.servers: list[subprocess.Popen[str]] = []
        self.macs: dict[str, str] = {}

    def vpc(self) -> tuple[str, str]:
        vpc_id, cidr = new_id("vpc"), _free_cidr()
        self.vpcs.append((vpc_id, [cidr]))
        link = network.ensure_vpc(vpc_id, [cidr])
        assert link.host_route, link.reason
        return vpc_id, cidr

    def subnet(self, vpc_id: str, cidr: str) -> str:
        subnet_id = new_id("subnet")
        network.ensure_subnet(vpc_id, subnet_id, cidr)
        return subnet_id

    def instance(self, vpc_id: str, subnet_id: str, ip: str, prefix: int) -> tuple[str, str]:
        ns, eni = f"obtest-{new_id('i')[2:12]}", new_id("eni")
        subprocess.run(["ip", "netns", "add", ns], check=True)
        self.namespaces.append(ns)
        mac = "02:" + ":".join(f"{random.randint(0, 255):02x}" for _ in range(5))
        network.attach_interface(ns, vpc_id, subnet_id, ip, prefix, mac, eni)
        self.macs[eni] = mac
        return ns, eni

    def serve(self, ns: str, port: int) -> None:
        server = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-c", SERVER, str(port)],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.servers.append(server)
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"

    def probe(self, ns: str | None, ip: str, port: int, timeout: float = 1.0) -> str:
        prefix = ["ip", "netns", "exec", ns] if ns else []
        argv = [*prefix, sys.executable, "-c", PROBE, ip, str(port), str(timeout)]
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()

    def close(self) -> None:
        for server in self.servers:
            server.kill()  # our own child, by PID
            server.wait()
        for ns in self.namespaces:
            subprocess.run(["ip", "netns", "del", ns], check=False)
        network.teardown(self.vpcs)


@pytest.fixture
def lab() -> Iterator[Lab]:
    lab = Lab()
    try:
        yield lab
    finally:
        lab.close()
        leftovers = [n for n in network.namespaces() if n in lab.namespaces or n.startswith("obtest-")]
        routers = {network.router_namespace(v) for v, _ in lab.vpcs}
        assert not leftovers and not routers & set(network.router_namespaces())
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        assert not any(network.host_link_name(v) in links for v, _ in lab.vpcs)
        routes = subprocess.run(["ip", "route"], capture_output=True, text=True).stdout
        assert not any(cidr in routes for _, cidrs in lab.vpcs for cidr in cidrs)


def _hosts(cidr: str, *offsets: int) -> list[str]:
    base = ipaddress.ip_network(cidr).network_address
    return [str(base + offset) for offset in offsets]


def test_subnets_route_vpcs_isolate_and_groups_filter(lab: Lab) -> None:
    vpc_a, cidr_a = lab.vpc()
    vpc_b, cidr_b = lab.vpc()
    net_a = ipaddress.ip_network(cidr_a)
    sub_a1, sub_a2 = list(net_a.subnets(new_prefix=24))[1:3]
    sub_b = list(ipaddress.ip_network(cidr_b).subnets(new_prefix=24))[1]
    a1_subnet = lab.subnet(vpc_a, str(sub_a1))
    a2_subnet = lab.subnet(vpc_a, str(sub_a2))
    b_subnet = lab.subnet(vpc_b, str(sub_b))
    (a1_ip,) = _hosts(str(sub_a1), 10)
    a1b_ip, a2_ip = _hosts(str(sub_a1), 11)[0], _hosts(str(sub_a2), 10)[0]
    (b_ip,) = _hosts(str(sub_b), 10)
    a1, a1_eni = lab.instance(vpc_a, a1_subnet, a1_ip, 24)
    a1b, a1b_eni = lab.instance(vpc_a, a1_subnet, a1b_ip, 24)
    a2, a2_eni = lab.instance(vpc_a, a2_subnet, a2_ip, 24)
    b1, b1_eni = lab.instance(vpc_b, b_subnet, b_ip, 24)
    open_all = InterfaceRules(ingress=(FirewallRule("-1", None, None, "0.0.0.0/0"),))
    for eni in (a1_eni, a1b_eni, a2_eni, b1_eni):
        network.apply_security_groups(eni, open_all)
    for ns in (a1, a1b, a2, b1):
        lab.serve(ns, 8080)

    # Same subnet (bridged), across subnets (routed by the VPC router), and from the host.
    assert lab.probe(a1, a1b_ip, 8080) == "hello"
    assert lab.probe(a1, a2_ip, 8080) == "hello"
    assert lab.probe(a2, a1_ip, 8080) == "hello"
    assert lab.probe(None, a1_ip, 8080) == "hello"
    assert lab.probe(None, b_ip, 8080) == "hello"
    # VPCs are isolated: neither router has a route to the other's CIDR.
    assert lab.probe(a1, b_ip, 8080).startswith("error")
    assert lab.probe(b1, a1_ip, 8080).startswith("error")

    # A group without the port blocks the connection; adding the rule opens it.
    only_ssh = InterfaceRules(ingress=(FirewallRule("tcp", 22, 22, "0.0.0.0/0"),))
    network.apply_security_groups(a2_eni, only_ssh)
    assert lab.probe(a1, a2_ip, 8080, timeout=0.5) == "error TimeoutError None"
    assert lab.probe(None, a2_ip, 8080, timeout=0.5) == "error TimeoutError None"
    with_port = InterfaceRules(ingress=(*only_ssh.ingress, FirewallRule("tcp", 8080, 8080, f"{a1_ip}/32")))
    network.apply_security_groups(a2_eni, with_port)
    assert lab.probe(a1, a2_ip, 8080) == "hello"
    assert lab.probe(a1b, a2_ip, 8080, timeout=0.5) == "error TimeoutError None"  # not a1's address
    # Egress rules filter too.
    network.apply_security_groups(a1_eni, InterfaceRules(ingress=open_all.ingress, egress=()))
    assert lab.probe(a1, a1b_ip, 8080, timeout=0.5) == "error TimeoutError None"

    # Detach removes the port and its chains; the address no longer answers.
    network.detach_interface(a1b_eni)
    assert not network.interface_attached(a1b_eni)
    assert lab.probe(None, a1b_ip, 8080, timeout=0.5).startswith("error")


def test_nothing_routes_off_the_machine(lab: Lab) -> None:
    vpc_id, cidr = lab.vpc()
    subnet_cidr = str(list(ipaddress.ip_network(cidr).subnets(new_prefix=24))[0])
    subnet_id = lab.subnet(vpc_id, subnet_cidr)
    (ip,) = _hosts(subnet_cidr, 4)
    ns, eni = lab.instance(vpc_id, subnet_id, ip, 24)
    router = network.router_namespace(vpc_id)

    # The router knows its subnets and the host link, and nothing else: no default route.
    routes = subprocess.run(["ip", "-n", router, "route"], capture_output=True, text=True).stdout
    assert "default" not in routes
    assert f"blackhole {cidr}" in routes
    for destination in ("198.51.100.1", "192.0.2.1", "10.255.255.53", "8.8.8.8"):
        got = subprocess.run(
            ["ip", "-n", router, "route", "get", destination], capture_output=True, text=True
        )
        assert got.returncode != 0 and "unreachable" in got.stderr.lower()
    # A probe from the instance dies in its router.
    network.apply_security_groups(eni, InterfaceRules())
    assert lab.probe(ns, "198.51.100.1", 80, timeout=0.5).startswith("error")
    # The host's only onebox route for the VPC goes to its link; the host forwards nothing for VPCs.
    link = network.host_link_name(vpc_id)
    host_routes = subprocess.run(
        ["ip", "route", "show", "exact", cidr], capture_output=True, text=True
    ).stdout
    assert (
        f"dev {link}" in host_routes and f"blackhole {cidr} metric {network.BLACKHOLE_METRIC}" in host_routes
    )
    guard = subprocess.run(
        ["nft", "list", "table", "inet", network.GUARD_TABLE], capture_output=True, text=True
    )
    assert 'iifname "obv*" drop' in guard.stdout and 'oifname "obv*" drop' in guard.stdout
    # Spoofed sources are dropped at the bridge.
    owned = subprocess.run(
        ["ip", "netns", "exec", router, "nft", "list", "set", "bridge", network.SPOOF_TABLE, "owned"],
        capture_output=True,
        text=True,
    ).stdout
    assert ip in owned


def test_host_networks_are_refused() -> None:
    for own, _what in network.host_networks():
        if own.prefixlen >= 8:
            assert network.host_conflict(str(own.supernet(new_prefix=max(own.prefixlen - 1, 8)))) is not None
    assert network.host_conflict("169.254.0.0/16") is not None
    assert network.host_conflict("127.0.0.0/16") is not None
    assert network.host_conflict("172.31.0.0/16") is None or "172.31" in network.host_conflict(
        "172.31.0.0/16"
    )


def test_ensure_is_idempotent(lab: Lab) -> None:
    vpc_id, cidr = lab.vpc()
    subnet_cidr = str(list(ipaddress.ip_network(cidr).subnets(new_prefix=24))[0])
    subnet_id = lab.subnet(vpc_id, subnet_cidr)
    ns, eni = lab.instance(vpc_id, subnet_id, _hosts(subnet_cidr, 5)[0], 24)
    for _ in range(2):
        assert network.ensure_vpc(vpc_id, [cidr]).host_route
        network.ensure_subnet(vpc_id, subnet_id, subnet_cidr)
        network.attach_interface(ns, vpc_id, subnet_id, _hosts(subnet_cidr, 5)[0], 24, lab.macs[eni], eni)
    addrs = subprocess.run(
        ["ip", "-n", ns, "-4", "-o", "addr", "show", "eth0"], capture_output=True, text=True
    )
    assert addrs.stdout.count("inet ") == 1


def test_one_host_route_per_range_first_come(lab: Lab) -> None:
    """Two VPCs with the same range (two daemons' default VPCs, say): the first holds the host route,
    the second is told why it has none, and takes over once the first is gone."""
    first, cidr = lab.vpc()
    second = new_id("vpc")
    lab.vpcs.append((second, [cidr]))
    link = network.ensure_vpc(second, [cidr])
    assert not link.host_route and link.reason is not None and network.host_link_name(first) in link.reason
    assert link.contended  # held by another VPC: the VPC controller retries soon
    network.remove_vpc(first, [cidr])
    assert network.ensure_vpc(second, [cidr]).host_route
    routes = subprocess.run(["ip", "route", "show", "exact", cidr], capture_output=True, text=True).stdout
    assert f"dev {network.host_link_name(second)}" in routes


def test_a_subnet_as_large_as_its_vpc_routes(lab: Lab) -> None:
    """The router's blackhole for the VPC range must never shadow a subnet that spans the whole VPC,
    however many times the VPC is re-applied."""
    vpc_id, cidr = lab.vpc()
    subnet_id = lab.subnet(vpc_id, cidr)
    (ip,) = _hosts(cidr, 4)
    ns, eni = lab.instance(vpc_id, subnet_id, ip, 16)
    network.apply_security_groups(
        eni, InterfaceRules(ingress=(FirewallRule("tcp", 8080, 8080, "0.0.0.0/0"),))
    )
    lab.serve(ns, 8080)
    for _ in range(2):
        network.ensure_vpc(vpc_id, [cidr])
        network.ensure_subnet(vpc_id, subnet_id, cidr)
        assert lab.probe(None, ip, 8080) == "hello"


def test_unrouted_private_addresses_are_blackholed_but_the_hosts_own_are_not(lab: Lab) -> None:
    """With a VPC on the host, an address in a private range that no VPC routes must not leave by the
    default route (it would reach whatever the host's network does with it); the host's own networks,
    gateway and nameservers keep their routes."""
    vpc_id, cidr = lab.vpc()
    got = subprocess.run(
        ["ip", "route", "get", str(ipaddress.ip_network(cidr).network_address + 1)],
        capture_output=True,
        text=True,
    )
    assert f"dev {network.host_link_name(vpc_id)}" in got.stdout  # the VPC's own route wins
    default = subprocess.run(
        ["ip", "route", "show", "default"], capture_output=True, text=True
    ).stdout.split()
    default_dev = default[default.index("dev") + 1] if "dev" in default else None
    for address in ("192.168.77.1", "172.20.5.5", "172.31.250.9", "10.77.1.1"):
        got = subprocess.run(["ip", "route", "get", address], capture_output=True, text=True)
        # Blackholed, or routed into some VPC (another daemon's default VPC may hold the range): never
        # out of the host's default route.
        assert got.returncode != 0 or f"dev {network.HOST_LINK_PREFIX}" in got.stdout, (address, got.stdout)
        assert default_dev is None or f"dev {default_dev}" not in got.stdout, (address, got.stdout)
    protected = [own for own, _ in network.host_networks()]
    for piece in network.private_blackholes():
        assert not any(piece.overlaps(own) for own in protected), piece
    for server in network._nameservers():
        got = subprocess.run(["ip", "route", "get", server], capture_output=True, text=True)
        assert got.returncode == 0 and "blackhole" not in got.stdout, got.stdout + got.stderr
