"""VPC networking on the host: one router namespace per VPC, one bridge per subnet, veths for instances.

Layout (docs/vpc-networking.md has the why):

    host ── obv<hash> ═══ host0 ── [router netns "obvpc-<vpc hex>"] ── br<subnet> ── obi<hash> ═══ eth0 [instance netns]
              169.254.10.1/32     169.254.10.2/32      no default route    gateway .1

* The router namespace forwards between its subnet bridges and the host link only. It has no default
  route and blackholes the VPC's unassigned space, so nothing from a VPC can go anywhere else.
* The host reaches a VPC through a route for the VPC CIDR via its host link, added only when the CIDR
  does not overlap the host's own networks (interfaces, routes, gateway, nameservers) and no other
  route holds it. A metric-4242 blackhole for the CIDR sits under that route in case the link vanishes.
* The host never forwards for onebox: `table inet onebox_vpc_guard` drops anything forwarded from or to
  a host link (on top of the host's own ip_forward setting, which onebox leaves alone).
* Security groups are nftables chains in the router namespace (`table inet onebox_sg`): bridged traffic
  passes the inet hooks through br_netfilter, so one stateful forward chain sees same-subnet,
  cross-subnet and host traffic. Each interface has an ingress chain (looked up by destination IP) and
  an egress chain (by source IP); an interface's source address is pinned by `table bridge
  onebox_spoof` so the lookup by IP cannot be fooled.

Everything here is idempotent: callers re-apply the store's desired state after a restart.
Only `ip`, `nft` and `sysctl` are used (iproute2 and nftables are required on the namespace driver).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("onebox.host.network")

ROUTER_NS_PREFIX = "obvpc-"
HOST_LINK_PREFIX = "obv"
PORT_PREFIX = "obi"
HOST_LINK_ADDRESS = "169.254.10.1"  # the host's address on every VPC link (what instances see)
ROUTER_LINK_ADDRESS = "169.254.10.2"  # the router namespace's end of the link
ROUTER_LINK_NAME = "host0"
BLACKHOLE_METRIC = 4242
SG_TABLE = "onebox_sg"
SPOOF_TABLE = "onebox_spoof"
GUARD_TABLE = "onebox_vpc_guard"
INSTANCE_IFNAME = "eth0"
# The private ranges (RFC 1918): while onebox has VPC links on the host, whatever of these no route holds
# is blackholed (minus the host's own networks, gateways and nameservers), so traffic to an address no
# VPC routes can never leave by the default route.
PRIVATE_RANGES = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
# Never a VPC: loopback, link-local (our links and IMDS live there), multicast and reserved space.
FORBIDDEN_RANGES = tuple(
    ipaddress.ip_network(n) for n in ("0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/3")
)

CONTENDED = "no host route (held by another VPC) for"
_lock = threading.RLock()  # one writer at a time: ip/nft calls on the same namespace must not interleave


class NetworkError(Exception):
    """A host networking step failed (the message has the command and its error)."""


@dataclass(frozen=True)
class FirewallRule:
    """One allowed flow, security-group style, already resolved to a CIDR.

    protocol: "-1" (all), "tcp", "udp", "icmp" or an IP protocol number as text.
    from_port/to_port: the port range for tcp/udp; ICMP type/code for icmp (-1 = any); ignored for "-1".
    cidr: the peer (source for ingress, destination for egress), e.g. "0.0.0.0/0" or "10.0.1.5/32".
    """

    protocol: str
    from_port: int | None
    to_port: int | None
    cidr: str


@dataclass(frozen=True)
class InterfaceRules:
    """Everything allowed for one interface; all else is dropped (replies to allowed flows pass)."""

    ingress: tuple[FirewallRule, ...] = ()
    egress: tuple[FirewallRule, ...] = (FirewallRule("-1", None, None, "0.0.0.0/0"),)


@dataclass(frozen=True)
class VpcLink:
    """What ensure_vpc achieved: whether the host can reach the VPC's private IPs, and if not, why."""

    host_route: bool
    reason: str | None = None
    contended: bool = False  # another VPC's link (another daemon) holds the route: it may free up


# -- names ------------------------------------------------------------------------------------------


def _digest(text: str, length: int) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:length]


def router_namespace(vpc_id: str) -> str:
    return ROUTER_NS_PREFIX + vpc_id.removeprefix("vpc-")


def host_link_name(vpc_id: str) -> str:
    return HOST_LINK_PREFIX + _digest(vpc_id, 12)  # 15 characters: the kernel's limit


def bridge_name(subnet_id: str) -> str:
    return "br" + subnet_id.removeprefix("subnet-")[:13]  # lives inside the router namespace only


def port_name(interface_id: str) -> str:
    return PORT_PREFIX + _digest(interface_id, 12)


def subnet_gateway(cidr: str) -> str:
    """AWS's VPC router address for a subnet: the network address plus one."""
    return str(ipaddress.ip_network(cidr).network_address + 1)


# -- availability -----------------------------------------------------------------------------------


def available() -> bool:
    """True where the namespace driver can build real networks (root, iproute2 and nftables present)."""
    return os.geteuid() == 0 and shutil.which("ip") is not None and shutil.which("nft") is not None


# -- running commands -------------------------------------------------------------------------------


def _run(
    argv: Sequence[str], *, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(argv), input=stdin, capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise NetworkError(f"{' '.join(argv)}: {result.stderr.strip() or result.stdout.strip()}")
    return result


def _ip(*args: str, ns: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    prefix = ["ip", "-n", ns] if ns else ["ip"]
    return _run([*prefix, *args], check=check)


def _ip_json(*args: str, ns: str | None = None) -> list[dict[str, object]]:
    result = _ip("-j", *args, ns=ns, check=False)
    if result.returncode != 0 or not result.stdout.strip():
        return []
    return json.loads(result.stdout)


def _nft(script: str, *, ns: str | None = None) -> None:
    prefix = ["ip", "netns", "exec", ns] if ns else []
    _run([*prefix, "nft", "-f", "-"], stdin=script)


def _nft_json(args: Sequence[str], *, ns: str | None = None) -> list[dict[str, object]]:
    prefix = ["ip", "netns", "exec", ns] if ns else []
    result = _run([*prefix, "nft", "-j", *args], check=False)
    if result.returncode != 0 or not result.stdout.strip():
        return []
    return list(json.loads(result.stdout).get("nftables", []))


def _link_exists(name: str, ns: str | None = None) -> bool:
    return bool(_ip_json("link", "show", "dev", name, ns=ns))


def namespaces() -> list[str]:
    netns_dir = Path("/run/netns")
    return sorted(p.name for p in netns_dir.iterdir()) if netns_dir.is_dir() else []


def router_namespaces() -> list[str]:
    return [name for name in namespaces() if name.startswith(ROUTER_NS_PREFIX)]


def _sysctl(ns: str, *settings: str) -> None:
    _run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", *settings])


# -- the host's own networks ------------------------------------------------------------------------


def _nameservers(path: Path = Path("/etc/resolv.conf")) -> list[str]:
    servers: list[str] = []
    try:
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver":
                servers.append(parts[1])
    except OSError:
        pass
    return servers


def host_networks() -> list[tuple[ipaddress.IPv4Network, str]]:
    """The host's own IPv4 networks with what they are: interface networks, routes (but not the default
    route itself, nor onebox's own VPC routes), the gateways and the nameservers."""
    found: list[tuple[ipaddress.IPv4Network, str]] = []
    for link in _ip_json("-4", "addr", "show"):
        name = str(link.get("ifname", ""))
        if name.startswith(HOST_LINK_PREFIX):
            continue
        for info in link.get("addr_info", []) or []:  # type: ignore[union-attr]
            local, prefix = info.get("local"), info.get("prefixlen")  # type: ignore[union-attr]
            if local is None:
                continue
            network = ipaddress.ip_network(f"{local}/{prefix}", strict=False)
            found.append((network, f"the host's interface {name} ({local}/{prefix})"))
    for route in _ip_json("-4", "route", "show", "table", "all"):
        dev, dst = str(route.get("dev", "")), str(route.get("dst", ""))
        if dev.startswith(HOST_LINK_PREFIX) or route.get("metric") == BLACKHOLE_METRIC:
            continue
        if route.get("table") in ("local",) or route.get("type") in ("local", "broadcast"):
            continue
        gateway = route.get("gateway")
        if gateway:
            found.append((ipaddress.ip_network(f"{gateway}/32"), f"the host's gateway {gateway}"))
        if dst and dst != "default":
            try:
                network = ipaddress.ip_network(dst if "/" in dst else f"{dst}/32", strict=False)
            except ValueError:
                continue
            if network.version == 4:
                found.append((network, f"the host's route to {dst}" + (f" via {dev}" if dev else "")))
    for server in _nameservers():
        try:
            address = ipaddress.ip_address(server)
        except ValueError:
            continue
        if address.version == 4:
            found.append((ipaddress.ip_network(f"{server}/32"), f"the host's nameserver {server}"))
    return found


_conflict_cache: tuple[float, list[tuple[ipaddress.IPv4Network, str]]] = (0.0, [])


def host_conflict(cidr: str) -> str | None:
    """Why `cidr` may not be a VPC on this host (overlap with the host's own networks), or None."""
    global _conflict_cache
    network = ipaddress.ip_network(cidr, strict=False)
    for forbidden in FORBIDDEN_RANGES:
        if network.overlaps(forbidden):
            return f"it overlaps the reserved range {forbidden}"
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return None  # the process driver never routes VPC ranges on the host
    now = time.monotonic()
    if now - _conflict_cache[0] > 2.0:
        _conflict_cache = (now, host_networks())
    for own, what in _conflict_cache[1]:
        if network.overlaps(own):
            return f"it overlaps {what}"
    return None


# -- VPCs -------------------------------------------------------------------------------------------


def ensure_vpc(vpc_id: str, cidrs: Sequence[str]) -> VpcLink:
    """Create or repair the VPC's router namespace, its host link and host routes. Idempotent."""
    ns = router_namespace(vpc_id)
    link = host_link_name(vpc_id)
    with _lock:
        if ns not in namespaces():
            _ip("netns", "add", ns)
        _ip("link", "set", "lo", "up", ns=ns)
        _sysctl(ns, "net.ipv4.ip_forward=1")
        if Path("/proc/sys/net/bridge/bridge-nf-call-iptables").exists():
            _sysctl(ns, "net.bridge.bridge-nf-call-iptables=1")
        else:  # without br_netfilter, traffic inside one subnet would bypass security groups
            log.warning("br_netfilter is not loaded: security groups do not filter traffic within a subnet")
        if _link_exists(link) and not _link_exists(ROUTER_LINK_NAME, ns=ns):
            _ip("link", "del", link)  # half a pair from a crash: start the link over
        if not _link_exists(link):
            _ip("link", "add", link, "type", "veth", "peer", "name", ROUTER_LINK_NAME, "netns", ns)
        _ip("addr", "replace", f"{HOST_LINK_ADDRESS}/32", "dev", link)
        _ip("link", "set", link, "up")
        _ip("addr", "replace", f"{ROUTER_LINK_ADDRESS}/32", "dev", ROUTER_LINK_NAME, ns=ns)
        _ip("link", "set", ROUTER_LINK_NAME, "up", ns=ns)
        _ip("route", "replace", f"{HOST_LINK_ADDRESS}/32", "dev", ROUTER_LINK_NAME, ns=ns)
        for cidr in cidrs:
            # Under a high metric, so a subnet as large as the VPC still wins with its connected route.
            _ip("route", "replace", "blackhole", cidr, "metric", str(BLACKHOLE_METRIC), ns=ns)
        _ensure_router_tables(ns)
        _ensure_host_guard()
        _ensure_private_blackholes()
        reasons = [reason for cidr in cidrs if (reason := _ensure_host_route(cidr, link)) is not None]
    contended = any(reason.startswith(CONTENDED) for reason in reasons)
    return VpcLink(host_route=not reasons, reason="; ".join(reasons) or None, contended=contended)


def _ensure_host_route(cidr: str, link: str) -> str | None:
    conflict = host_conflict(cidr)
    if conflict is not None:
        return f"no host route for {cidr}: {conflict}"
    block = ipaddress.ip_network(cidr)
    for route in _ip_json("-4", "route", "show"):
        dev, dst = str(route.get("dev", "")), str(route.get("dst", ""))
        if route.get("type", "unicast") == "blackhole" or dst == "default" or dev == link:
            continue
        if ipaddress.ip_network(dst if "/" in dst else f"{dst}/32", strict=False).overlaps(block):
            # Another daemon's VPC (or something new on the host) holds it: first come, first served.
            prefix = CONTENDED if dev.startswith(HOST_LINK_PREFIX) else "no host route for"
            return f"{prefix} {cidr}: the host already routes {dst} via {dev}"
    if not [r for r in _ip_json("-4", "route", "show", "exact", cidr) if r.get("dev") == link]:
        _ip("route", "add", cidr, "via", ROUTER_LINK_ADDRESS, "dev", link, "onlink", "src", HOST_LINK_ADDRESS)
    _ip("route", "replace", "blackhole", cidr, "metric", str(BLACKHOLE_METRIC))
    return None


def _ensure_router_tables(ns: str) -> None:
    """The security group dispatch and the anti-spoofing table in a router namespace (kept elements)."""
    _nft(
        f"""
add table inet {SG_TABLE}
add map inet {SG_TABLE} ingress {{ type ipv4_addr : verdict; }}
add map inet {SG_TABLE} egress {{ type ipv4_addr : verdict; }}
add chain inet {SG_TABLE} forward {{ type filter hook forward priority 0; policy accept; }}
flush chain inet {SG_TABLE} forward
add rule inet {SG_TABLE} forward ct state established,related accept
add rule inet {SG_TABLE} forward ct state invalid drop
add rule inet {SG_TABLE} forward ip saddr vmap @egress
add rule inet {SG_TABLE} forward ip daddr vmap @ingress
add table bridge {SPOOF_TABLE}
add set bridge {SPOOF_TABLE} owned {{ type ifname . ipv4_addr; }}
add chain bridge {SPOOF_TABLE} prerouting {{ type filter hook prerouting priority -300; policy accept; }}
flush chain bridge {SPOOF_TABLE} prerouting
add rule bridge {SPOOF_TABLE} prerouting iifname "{PORT_PREFIX}*" ether type ip iifname . ip saddr != @owned drop
""",
        ns=ns,
    )


def _ensure_host_guard() -> None:
    """Drop anything the host would forward from or to a VPC link: VPC traffic never leaves the machine."""
    _nft(
        f"""
add table inet {GUARD_TABLE}
add chain inet {GUARD_TABLE} forward {{ type filter hook forward priority -10; policy accept; }}
flush chain inet {GUARD_TABLE} forward
add rule inet {GUARD_TABLE} forward iifname "{HOST_LINK_PREFIX}*" drop
add rule inet {GUARD_TABLE} forward oifname "{HOST_LINK_PREFIX}*" drop
"""
    )


def private_blackholes() -> list[ipaddress.IPv4Network]:
    """The parts of the private ranges that hold none of the host's own networks, gateways or
    nameservers (host_networks): what `_ensure_private_blackholes` blackholes."""
    protected = [network for network, _ in host_networks()]
    pieces: list[ipaddress.IPv4Network] = list(PRIVATE_RANGES)
    for own in protected:
        next_pieces: list[ipaddress.IPv4Network] = []
        for piece in pieces:
            if own.subnet_of(piece) and own != piece:
                next_pieces.extend(piece.address_exclude(own))
            elif not piece.overlaps(own):
                next_pieces.append(piece)
            # else: the host's network covers the whole piece: never blackhole any of it
        pieces = next_pieces
    return sorted(pieces)


def _ensure_private_blackholes() -> None:
    """Blackhole routes (metric 4242, under anything more specific such as a VPC's host route) for the
    private ranges minus the host's own networks. Idempotent."""
    wanted = {str(n) for n in private_blackholes()}
    present = {
        str(r.get("dst"))
        for r in _ip_json("-4", "route", "show", "type", "blackhole")
        if r.get("metric") == BLACKHOLE_METRIC
    }
    for network in sorted(wanted - present):
        _ip("route", "replace", "blackhole", network, "metric", str(BLACKHOLE_METRIC), check=False)


def _remove_private_blackholes() -> None:
    """Remove `_ensure_private_blackholes`' routes (once no VPC link is left on the host)."""
    vpc_cidrs = set()
    for route in _ip_json("-4", "route", "show"):
        if str(route.get("dev", "")).startswith(HOST_LINK_PREFIX):
            vpc_cidrs.add(str(route.get("dst")))
    for route in _ip_json("-4", "route", "show", "type", "blackhole"):
        dst = str(route.get("dst"))
        if route.get("metric") != BLACKHOLE_METRIC or dst in vpc_cidrs:
            continue
        network = ipaddress.ip_network(dst if "/" in dst else f"{dst}/32", strict=False)
        if any(network.subnet_of(private) for private in PRIVATE_RANGES):
            _ip("route", "del", "blackhole", dst, "metric", str(BLACKHOLE_METRIC), check=False)


def remove_vpc(vpc_id: str, cidrs: Sequence[str]) -> None:
    """Remove the router namespace, its link, host routes and (if nothing else needs them) guards."""
    ns = router_namespace(vpc_id)
    link = host_link_name(vpc_id)
    with _lock:
        if ns in namespaces():
            # Delete the veths first: namespace destruction is asynchronous in the kernel.
            for entry in _ip_json("link", "show", ns=ns):
                name = str(entry.get("ifname", ""))
                if name.startswith(PORT_PREFIX):
                    _ip("link", "del", name, ns=ns, check=False)
        if _link_exists(link):
            _ip("link", "del", link, check=False)
        if ns in namespaces():
            _ip("netns", "del", ns, check=False)
        for cidr in cidrs:
            others = [
                r
                for r in _ip_json("-4", "route", "show", "exact", cidr)
                if r.get("type", "unicast") != "blackhole"
            ]
            if not any(str(r.get("dev", "")).startswith(HOST_LINK_PREFIX) for r in others):
                _ip("route", "del", "blackhole", cidr, "metric", str(BLACKHOLE_METRIC), check=False)
        if not any(str(e.get("ifname", "")).startswith(HOST_LINK_PREFIX) for e in _ip_json("link", "show")):
            _run(["nft", "delete", "table", "inet", GUARD_TABLE], check=False)
            _remove_private_blackholes()


# -- subnets ----------------------------------------------------------------------------------------


def ensure_subnet(vpc_id: str, subnet_id: str, cidr: str) -> None:
    """The subnet's bridge in its VPC's router namespace, holding the subnet's gateway address."""
    ns = router_namespace(vpc_id)
    bridge = bridge_name(subnet_id)
    prefix = ipaddress.ip_network(cidr).prefixlen
    with _lock:
        if ns not in namespaces():
            raise NetworkError(f"the router namespace of {vpc_id} does not exist yet")
        if not _link_exists(bridge, ns=ns):
            _ip("link", "add", bridge, "type", "bridge", "stp_state", "0", "forward_delay", "0", ns=ns)
        _ip("addr", "replace", f"{subnet_gateway(cidr)}/{prefix}", "dev", bridge, ns=ns)
        _ip("link", "set", bridge, "up", ns=ns)


def remove_subnet(vpc_id: str, subnet_id: str) -> None:
    ns = router_namespace(vpc_id)
    with _lock:
        if ns in namespaces() and _link_exists(bridge_name(subnet_id), ns=ns):
            _ip("link", "del", bridge_name(subnet_id), ns=ns, check=False)


def prune_subnets(vpc_id: str, keep_subnet_ids: Sequence[str]) -> None:
    """Remove the bridges of subnets that no longer exist (their records were deleted)."""
    ns = router_namespace(vpc_id)
    keep = {bridge_name(subnet_id) for subnet_id in keep_subnet_ids}
    with _lock:
        if ns not in namespaces():
            return
        for entry in _ip_json("link", "show", "type", "bridge", ns=ns):
            name = str(entry.get("ifname", ""))
            if name.startswith("br") and name not in keep:
                _ip("link", "del", name, ns=ns, check=False)


# -- instance interfaces ----------------------------------------------------------------------------


def attach_interface(
    netns: str, vpc_id: str, subnet_id: str, ip: str, prefix_len: int, mac: str, interface_id: str
) -> None:
    """Plug the instance namespace `netns` (a name under /run/netns, created by the caller) into its
    subnet: a veth whose `eth0` end gets `ip/prefix_len` and `mac`, a default route via the subnet's
    gateway, lo up. Until apply_security_groups runs, the interface takes no new inbound connections
    and may open any outbound one. Idempotent; raises NetworkError if the subnet is not built yet."""
    router = router_namespace(vpc_id)
    bridge = bridge_name(subnet_id)
    port = port_name(interface_id)
    network = ipaddress.ip_network(f"{ip}/{prefix_len}", strict=False)
    gateway = str(network.network_address + 1)
    with _lock:
        if router not in namespaces() or not _link_exists(bridge, ns=router):
            raise NetworkError(f"subnet {subnet_id} of {vpc_id} is not built yet")
        if netns not in namespaces():
            raise NetworkError(f"network namespace {netns} does not exist")
        if not _link_exists(port, ns=router):
            if _link_exists(INSTANCE_IFNAME, ns=netns):
                _ip("link", "del", INSTANCE_IFNAME, ns=netns)  # the other end of a pair we lost
            _ip(
                "link", "add", port, "netns", router, "type", "veth",
                "peer", "name", INSTANCE_IFNAME, "netns", netns,
            )  # fmt: skip
        _ip("link", "set", port, "master", bridge, "alias", f"{interface_id} {ip}", "up", ns=router)
        current = _ip_json("link", "show", "dev", INSTANCE_IFNAME, ns=netns)
        if current and current[0].get("address") != mac.lower():
            _ip("link", "set", INSTANCE_IFNAME, "down", ns=netns)
            _ip("link", "set", INSTANCE_IFNAME, "address", mac, ns=netns)
        _ip("addr", "replace", f"{ip}/{prefix_len}", "dev", INSTANCE_IFNAME, ns=netns)
        _ip("link", "set", INSTANCE_IFNAME, "up", ns=netns)
        _ip("link", "set", "lo", "up", ns=netns)
        _ip("route", "replace", "default", "via", gateway, "dev", INSTANCE_IFNAME, ns=netns)
        if not _chain_exists(router, f"in_{port}"):
            _write_interface_rules(router, port, ip, InterfaceRules())


def _find_port(interface_id: str) -> tuple[str, str, str] | None:
    """(router namespace, port name, private IP) of an attached interface, or None."""
    port = port_name(interface_id)
    for ns in router_namespaces():
        entries = _ip_json("link", "show", "dev", port, ns=ns)
        if entries:
            alias = str(entries[0].get("ifalias", ""))
            ip = alias.split(" ")[1] if " " in alias else ""
            return ns, port, ip
    return None


def interface_attached(interface_id: str) -> bool:
    return _find_port(interface_id) is not None


def detach_interface(interface_id: str) -> None:
    """Unplug the interface (both veth ends go) and drop its security group chains. Idempotent."""
    with _lock:
        found = _find_port(interface_id)
        if found is None:
            return
        ns, port, ip = found
        _ip("link", "del", port, ns=ns, check=False)
        script = []
        if ip:
            script += [
                f"delete element inet {SG_TABLE} ingress {{ {ip} }}",
                f"delete element inet {SG_TABLE} egress {{ {ip} }}",
                f"delete element bridge {SPOOF_TABLE} owned {{ {port} . {ip} }}",
            ]
        for chain in (f"in_{port}", f"out_{port}"):
            if _chain_exists(ns, chain):
                script.append(f"delete chain inet {SG_TABLE} {chain}")
        for line in script:  # one by one: an element already gone must not stop the rest
            _run(["ip", "netns", "exec", ns, "nft", line], check=False)


def apply_security_groups(interface_id: str, rules: InterfaceRules) -> None:
    """Replace the interface's allowed flows with `rules`, atomically. Established flows keep going
    (security groups are stateful). Raises NetworkError if the interface is not attached."""
    with _lock:
        found = _find_port(interface_id)
        if found is None:
            raise NetworkError(f"interface {interface_id} is not attached")
        ns, port, ip = found
        _write_interface_rules(ns, port, ip, rules)


def _chain_exists(ns: str, chain: str) -> bool:
    return bool(_nft_json(["list", "chain", "inet", SG_TABLE, chain], ns=ns))


def _write_interface_rules(ns: str, port: str, ip: str, rules: InterfaceRules) -> None:
    lines = []
    for direction, chain, peer in (("ingress", f"in_{port}", "saddr"), ("egress", f"out_{port}", "daddr")):
        lines += [f"add chain inet {SG_TABLE} {chain}", f"flush chain inet {SG_TABLE} {chain}"]
        for rule in getattr(rules, direction):
            lines.append(
                f"add rule inet {SG_TABLE} {chain} ip {peer} {rule.cidr} {_match(rule)} return".replace(
                    "  ", " "
                )
            )
        lines.append(f"add rule inet {SG_TABLE} {chain} drop")
    lines += [
        f"add element inet {SG_TABLE} ingress {{ {ip} : jump in_{port} }}",
        f"add element inet {SG_TABLE} egress {{ {ip} : jump out_{port} }}",
        f"add element bridge {SPOOF_TABLE} owned {{ {port} . {ip} }}",
    ]
    _nft("\n".join(lines) + "\n", ns=ns)


_PROTOCOL_NUMBERS = {"6": "tcp", "17": "udp", "1": "icmp"}


def _match(rule: FirewallRule) -> str:
    protocol = _PROTOCOL_NUMBERS.get(rule.protocol, rule.protocol.lower())
    if protocol in ("-1", "all"):
        return ""
    if protocol in ("tcp", "udp"):
        low = 0 if rule.from_port is None or rule.from_port < 0 else rule.from_port
        high = 65535 if rule.to_port is None or rule.to_port < 0 else rule.to_port
        return f"{protocol} dport {low}-{high}"
    if protocol == "icmp":
        match = "meta l4proto icmp"
        if rule.from_port is not None and rule.from_port >= 0:
            match = f"icmp type {rule.from_port}"
            if rule.to_port is not None and rule.to_port >= 0:
                match += f" icmp code {rule.to_port}"
        return match
    if protocol.isdigit():
        return f"meta l4proto {int(protocol)}"
    raise NetworkError(f"unsupported protocol {rule.protocol!r}")


# -- what one daemon built, and teardown -------------------------------------------------------------
# Each daemon records the VPC networks it built under <state dir>/network/vpcs/<vpc-id>.json, so
# `onebox down` (even after a crashed daemon) removes exactly those and never another daemon's.


def _built_dir(state_dir: Path) -> Path:
    return Path(state_dir) / "network" / "vpcs"


def remember_vpc(state_dir: Path, vpc_id: str, account: str, region: str, cidrs: Sequence[str]) -> None:
    directory = _built_dir(state_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{vpc_id}.json"
    data = {"account": account, "region": region, "cidrs": list(cidrs)}
    try:
        if json.loads(path.read_text()) == data:
            return
    except (OSError, ValueError):
        pass
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data))
    temporary.replace(path)


def built_vpcs(state_dir: Path) -> dict[str, dict[str, object]]:
    """vpc id -> {"account", "region", "cidrs"} for every VPC network this state dir's daemon built."""
    directory = _built_dir(state_dir)
    built: dict[str, dict[str, object]] = {}
    for path in sorted(directory.glob("vpc-*.json")) if directory.is_dir() else []:
        try:
            built[path.stem] = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
    return built


def forget_vpc(state_dir: Path, vpc_id: str, cidrs: Sequence[str]) -> None:
    """Remove the VPC's network and the record that this daemon built it."""
    remove_vpc(vpc_id, cidrs)
    (_built_dir(state_dir) / f"{vpc_id}.json").unlink(missing_ok=True)


def teardown(vpcs: Sequence[tuple[str, Sequence[str]]]) -> None:
    """Remove the networks of these VPCs (vpc id, CIDRs)."""
    for vpc_id, cidrs in vpcs:
        try:
            remove_vpc(vpc_id, cidrs)
        except NetworkError:
            log.exception("removing the network of %s failed", vpc_id)


def teardown_built(state_dir: Path) -> list[str]:
    """Remove every VPC network the daemon of `state_dir` built (`onebox down`, also after a crash).
    Returns the VPC ids removed."""
    if not available():
        return []
    removed = []
    for vpc_id, built in built_vpcs(state_dir).items():
        try:
            forget_vpc(state_dir, vpc_id, [str(c) for c in built.get("cidrs", [])])  # type: ignore[union-attr]
        except NetworkError:
            log.exception("removing the network of %s failed", vpc_id)
            continue
        removed.append(vpc_id)
    return removed
