"""Compile the appliance configuration (ClusterSpec) into the desired kernel state.

A pure function of its input: no I/O, no Django, no clock. The same ClusterSpec
always gives the same DesiredState, so states can be diffed and golden-tested.

Netfilter rules are written the way `iptables-save` prints them (option order,
numeric protocols in the ipvs match, no "/32" after --vaddr, no mask after a
full --mark), so the drift check can compare them with the kernel's text.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import NamedTuple

from dataplane.config import (
    DR,
    FWMARK,
    HALT,
    HEALTH_DOWN,
    LOOPBACK,
    MAGLEV,
    NAT,
    ON_DOWN_REMOVE,
    ONE_PACKET,
    ONLINE,
    SNAT,
    TCP,
    TCP_UDP,
    TUN,
    UDP,
    ClusterSpec,
    PortRange,
    RealServerSpec,
    ServiceSpec,
)
from dataplane.desired import (
    MASQ,
    OWNED_CHAINS,
    ROUTE,
    TUNNEL,
    Address,
    DesiredState,
    IpvsDestination,
    IpvsService,
    Rule,
    ServiceKey,
    Timeouts,
)
from dataplane.lockdown import management_rules

MANGLE_CHAIN = next(iter(OWNED_CHAINS["mangle"]))  # FULCRUM-PREROUTING
NAT_CHAIN = next(iter(OWNED_CHAINS["nat"]))  # FULCRUM-POSTROUTING

# Layer-4 protocols a service's packets use (what the MARK rules must match).
_L4_PROTOCOLS: dict[str, tuple[str, ...]] = {
    TCP: ("tcp",),
    UDP: ("udp",),
    ONE_PACKET: ("udp",),
    TCP_UDP: ("tcp", "udp"),
    FWMARK: (),  # the admin's own rules set the mark
}
_IPVS_METHODS = {DR: ROUTE, NAT: MASQ, SNAT: MASQ, TUN: TUNNEL}
# iptables-save prints the ipvs match's --vproto as a number.
_PROTOCOL_NUMBERS = {"tcp": "6", "udp": "17"}
# The multiport match takes at most 15 ports per rule; a range uses two of them.
MULTIPORT_SLOTS = 15
_FULL_MASK = 0xFFFFFFFF
# Methods whose packets the load balancer forwards (routes) itself.
_FORWARDING_METHODS = (NAT, SNAT)


class _Compiled(NamedTuple):
    sort: tuple
    key: ServiceKey
    service: IpvsService
    destinations: tuple[IpvsDestination, ...]
    marks: tuple[Rule, ...]
    snat: tuple[Rule, ...]


@lru_cache(maxsize=1 << 16)
def compiled_service(spec: ServiceSpec) -> _Compiled:
    """What one enabled service adds to the kernel. Cached: a service spec is an immutable value, so
    an apply after one edit compiles only the edited service again."""
    key = service_key(spec)
    return _Compiled(service_sort_key(key), key, _ipvs_service(spec, key), tuple(_destinations(spec, key)),
                     tuple(_mark_rules(spec, key)), (_snat_rule(spec, key),) if spec.method == SNAT else ())


def compile_state(cluster: ClusterSpec) -> DesiredState:
    """Turn the configuration into the kernel state it asks for. Disabled services add nothing."""
    parts = sorted(((compiled_service(spec), spec) for spec in cluster.services if spec.enabled),
                   key=lambda pair: pair[0].sort)
    compiled = [(spec, part.key) for part, spec in parts]
    if cluster.active_active:
        addresses = _fit_addresses(parts)
    else:
        addresses = _addresses(cluster, compiled)
    autonat = _autonat_families(cluster, addresses)
    return DesiredState(
        services=frozenset(part.service for part, _ in parts),
        destinations=frozenset(d for part, _ in parts for d in part.destinations),
        # In an HA pair keepalived holds the addresses (on the master only): none for the apply.
        addresses=frozenset() if cluster.vrrp_holds_addresses else addresses,
        rules=_rules(cluster, [part for part, _ in parts], autonat),
        sysctls=_sysctls(compiled, autonat, cluster.active_active),
        timeouts=Timeouts(cluster.tcp_timeout, cluster.tcpfin_timeout, cluster.udp_timeout),
    )


# --- ordering helpers (shared with the renderer) -------------------------------------------


def address_sort_key(address: str) -> int:
    """Numeric order for addresses of one family ("" first)."""
    return int(ipaddress.ip_address(address)) if address else -1


def service_sort_key(key: ServiceKey) -> tuple:
    """Deterministic service order: family, protocol, numeric address, port, mark."""
    return (key.family, key.protocol, address_sort_key(key.address), key.port, key.fwmark)


# --- services ------------------------------------------------------------------------------


def family_of(address: str) -> int:
    return ipaddress.ip_address(address).version


def host_prefix(family: int) -> int:
    return 32 if family == 4 else 128


def uses_fwmark(spec: ServiceSpec) -> bool:
    """Several ports, a range, both TCP and UDP, or a manual mark: one firewall-mark service."""
    if spec.protocol in (FWMARK, TCP_UDP):
        return True
    return len(spec.ports) != 1 or spec.ports[0].first != spec.ports[0].last


def service_key(spec: ServiceSpec) -> ServiceKey:
    # A manual-mark service may have no VIP; it is then an IPv4 service.
    family = family_of(spec.vip) if spec.vip else 4
    if uses_fwmark(spec):
        if not spec.fwmark:
            raise ValueError(f"service {spec.label!r} needs a firewall mark")
        return ServiceKey(family, "fwm", "", 0, spec.fwmark)
    if spec.protocol not in (TCP, UDP, ONE_PACKET):
        raise ValueError(f"service {spec.label!r}: unknown protocol {spec.protocol!r}")
    return ServiceKey(family, _L4_PROTOCOLS[spec.protocol][0], spec.vip, spec.ports[0].first)


def normalise_netmask(text: str, family: int) -> str:
    """Canonical persistence granularity, as IpvsService.netmask and ipvsadm -M take it.

    Input is what the admin typed: "" (host), a dotted mask ("255.255.255.0", IPv4
    only), or a prefix length with or without a slash ("/24", "64").
    Output: "" for host granularity (/32, /128); IPv4 → dotted mask
    ("255.255.255.0"); IPv6 → prefix length digits ("64"). Raises ValueError.
    """
    text = text.strip()
    if not text:
        return ""
    bits = host_prefix(family)
    if "." in text:
        if family != 4:
            raise ValueError(f"IPv6 persistence netmask must be a prefix length, not {text!r}")
        prefix = ipaddress.IPv4Network(f"0.0.0.0/{text}").prefixlen
    else:
        prefix = int(text.removeprefix("/"))
    if not 0 <= prefix <= bits:
        raise ValueError(f"persistence netmask {text!r} out of range for IPv{family}")
    if prefix == bits:
        return ""
    return str(ipaddress.IPv4Network(f"0.0.0.0/{prefix}").netmask) if family == 4 else str(prefix)


def _ipvs_service(spec: ServiceSpec, key: ServiceKey) -> IpvsService:
    if not spec.persistent:
        return IpvsService(key, spec.scheduler, one_packet=spec.protocol == ONE_PACKET)
    return IpvsService(
        key,
        spec.scheduler,
        persistence_timeout=spec.persistence_timeout,
        netmask=normalise_netmask(spec.persistence_netmask, key.family),
        one_packet=spec.protocol == ONE_PACKET,
    )


# --- destinations --------------------------------------------------------------------------


def weight_decision(rs: RealServerSpec, on_down: str, scheduler: str = "") -> tuple[int | None, str]:
    """The weight IPVS should hold for a real server (None: absent), and why when it is not the
    configured weight (View Configuration shows the reason next to a missing `-a` line or `-w 0`).

    Under Maglev hashing (mh) a server is never removed, only set to weight 0: the kernel builds the
    Maglev table from its destination list in list order, and a removed server comes back at the
    head of the list, so members that saw different up/down histories would build different tables
    for ever. Weight 0 keeps every member's list the one the configuration gave."""
    maglev = scheduler == MAGLEV
    if rs.admin_state == HALT:
        if maglev:
            return 0, "halted by an operator: weight 0 (Maglev keeps it in its list so members agree)"
        return None, "halted by an operator: not in the table"
    if rs.health == HEALTH_DOWN:
        if maglev:
            return 0, "failing its health check: weight 0 (Maglev keeps it in its list so members agree)"
        if on_down == ON_DOWN_REMOVE:
            return None, "failing its health check: removed from the table (the service's on-down: remove)"
        return 0, "failing its health check: weight 0, existing connections finish (on-down: quiesce)"
    if rs.admin_state != ONLINE:
        return 0, "drained by an operator: weight 0, existing connections finish"  # no new ones
    return rs.weight, ("its configured weight is 0" if rs.weight == 0 else "")


def effective_weight(rs: RealServerSpec, on_down: str, scheduler: str = "") -> int | None:
    """The weight IPVS should hold for a real server, or None when it must be absent."""
    return weight_decision(rs, on_down, scheduler)[0]


def _ipvs_method(spec: ServiceSpec) -> str:
    try:
        return _IPVS_METHODS[spec.method]
    except KeyError:
        raise ValueError(f"service {spec.label!r}: unknown method {spec.method!r}") from None


def _destinations(spec: ServiceSpec, key: ServiceKey) -> list[IpvsDestination]:
    method = _ipvs_method(spec)
    dests = []
    for rs in spec.real_servers:
        weight = effective_weight(rs, spec.on_down, spec.scheduler)
        if weight is not None:
            port = key.port if rs.port is None else rs.port
            dests.append(IpvsDestination(key, rs.address, port, method, weight, rs.max_conns, rs.min_conns))
    if spec.fallback_address and not any(d.weight > 0 for d in dests):
        # The "sorry" server answers only while no real server takes new connections.
        port = key.port if spec.fallback_port is None else spec.fallback_port
        dests.append(IpvsDestination(key, spec.fallback_address, port, MASQ, 1))
    return dests


# --- addresses -----------------------------------------------------------------------------


def _addresses(cluster: ClusterSpec, compiled: list[tuple[ServiceSpec, ServiceKey]]) -> frozenset[Address]:
    """VIPs on the VIP interface, plus floating IPs; a floating IP's own prefix/interface wins."""
    by_ip = {
        spec.vip: Address(spec.vip, host_prefix(key.family), cluster.vip_interface)
        for spec, key in compiled
        if spec.vip
    }
    by_ip.update({f.address: Address(f.address, f.prefixlen, f.interface) for f in cluster.floating_ips})
    return frozenset(by_ip.values())


def serves(spec: ServiceSpec) -> bool:
    """An enabled service with a real server taking new connections (a fallback server does not
    count: a member that can only apologise should leave the flows to members that can serve)."""
    return spec.enabled and any((effective_weight(rs, spec.on_down, spec.scheduler) or 0) > 0
                                for rs in spec.real_servers)


def fit_vips(services: Iterable[ServiceSpec]) -> tuple[str, ...]:
    """Active-active: the VIPs this node is fit to serve, in numeric order. A VIP shared by several
    services (ports) is fit while any of them serves: withdrawing it would take the others down."""
    vips = {spec.vip for spec in services if spec.vip and serves(spec)}
    return tuple(sorted(vips, key=lambda v: (family_of(v), address_sort_key(v))))


def _fit_addresses(parts: list[tuple[_Compiled, ServiceSpec]]) -> frozenset[Address]:
    """Active-active: each fit VIP as a host address on lo (no ARP there); bgpd announces it while it
    is there (`network` with import-check), so adding or removing it is announcing or withdrawing."""
    return frozenset(Address(vip, host_prefix(family_of(vip)), LOOPBACK)
                     for vip in fit_vips(spec for _, spec in parts))


# --- netfilter rules -----------------------------------------------------------------------


def _rules(cluster: ClusterSpec, parts: list[_Compiled], autonat: tuple[int, ...]) -> tuple[Rule, ...]:
    """Marks first (mangle), then SNAT, then Autonat (nat): netfilter order matters. Then the
    management lockdown (filter)."""
    marks = [rule for part in parts for rule in part.marks]
    snat = [rule for part in parts for rule in part.snat]
    masquerade = [
        Rule(family, "nat", NAT_CHAIN, ("-o", cluster.autonat_interface, "-j", "MASQUERADE"))
        for family in autonat
    ]
    return (*marks, *snat, *masquerade, *management_rules(cluster.management))


def _hex(mark: int) -> str:
    return f"0x{mark:x}"


def multiport_chunks(ports: Iterable[PortRange]) -> list[list[PortRange]]:
    """Split port ranges, in port order, into groups one multiport match can take."""
    chunks: list[list[PortRange]] = []
    used = MULTIPORT_SLOTS
    for prange in sorted(ports, key=lambda r: (r.first, r.last)):
        cost = 1 if prange.first == prange.last else 2
        if used + cost > MULTIPORT_SLOTS:
            chunks.append([])
            used = 0
        chunks[-1].append(prange)
        used += cost
    return chunks


def _port_match(protocol: str, chunk: list[PortRange]) -> tuple[str, ...]:
    if len(chunk) == 1 and chunk[0].first == chunk[0].last:
        return ("-m", protocol, "--dport", str(chunk[0].first))
    items = ",".join(str(r.first) if r.first == r.last else f"{r.first}:{r.last}" for r in chunk)
    return ("-m", "multiport", "--dports", items)


def _mark_rules(spec: ServiceSpec, key: ServiceKey) -> Iterator[Rule]:
    """MARK the VIP's packets so one firewall-mark service takes all its ports and protocols."""
    if key.protocol != "fwm":
        return
    destination = f"{spec.vip}/{host_prefix(key.family)}"
    target = ("-j", "MARK", "--set-xmark", f"{_hex(key.fwmark)}/{_hex(_FULL_MASK)}")
    for protocol in _L4_PROTOCOLS[spec.protocol]:
        for chunk in multiport_chunks(spec.ports):
            args = ("-d", destination, "-p", protocol, *_port_match(protocol, chunk), *target)
            yield Rule(key.family, "mangle", MANGLE_CHAIN, args)


def _snat_rule(spec: ServiceSpec, key: ServiceKey) -> Rule:
    """Make real servers see the load balancer's address for this service's forwarded packets."""
    if key.protocol == "fwm":
        match = ("-m", "mark", "--mark", _hex(key.fwmark), "-m", "ipvs")
    else:
        match = (
            "-m", "ipvs",
            "--vproto", _PROTOCOL_NUMBERS[key.protocol],
            "--vaddr", key.address,
            "--vport", str(key.port),
        )  # fmt: skip
    target = ("-j", "SNAT", "--to-source", spec.snat_source) if spec.snat_source else ("-j", "MASQUERADE")
    return Rule(key.family, "nat", NAT_CHAIN, (*match, "--vdir", "ORIGINAL", "--vmethod", "MASQ", *target))


def _autonat_families(cluster: ClusterSpec, addresses: frozenset[Address]) -> tuple[int, ...]:
    """Autonat masquerades IPv4 always, IPv6 too when the appliance holds an IPv6 address."""
    if not cluster.autonat_interface:
        return ()
    has_ipv6 = any(family_of(a.address) == 6 for a in addresses)
    return (4, 6) if has_ipv6 else (4,)


# --- sysctls -------------------------------------------------------------------------------


def needs_forwarding(spec: ServiceSpec) -> bool:
    # A fallback server is reached by masquerade and may take over at any moment (healthcheckd).
    return spec.method in _FORWARDING_METHODS or bool(spec.fallback_address)


# Every sysctl _sysctls() may set: what a writer reads when it must learn the kernel's state afresh.
SYSCTL_NAMES = ("net.ipv4.ip_forward", "net.ipv4.vs.conntrack", "net.ipv4.vs.expire_nodest_conn",
                "net.ipv4.vs.expire_quiescent_template", "net.ipv6.conf.all.forwarding",
                "net.ipv4.vs.sloppy_tcp", "net.ipv4.conf.all.arp_ignore", "net.ipv4.conf.all.arp_announce")
# Active-active: the router may move an established flow to another member (ECMP rehash when a member
# leaves); sloppy_tcp lets that member's IPVS take a mid-flow packet (not a SYN) and Maglev sends it to
# the same server. arp_ignore/arp_announce: a VIP on lo must never be answered or used as ARP source.
_ACTIVE_ACTIVE_SYSCTLS = {"net.ipv4.vs.sloppy_tcp": "1", "net.ipv4.conf.all.arp_ignore": "1",
                          "net.ipv4.conf.all.arp_announce": "2"}


def _sysctls(
    compiled: list[tuple[ServiceSpec, ServiceKey]], autonat: tuple[int, ...], active_active: bool = False
) -> tuple[tuple[str, str], ...]:
    values: dict[str, str] = dict(_ACTIVE_ACTIVE_SYSCTLS) if active_active else {}
    if compiled:
        # Drop connections to removed/quiesced servers so clients reconnect elsewhere.
        values["net.ipv4.vs.expire_nodest_conn"] = "1"
        values["net.ipv4.vs.expire_quiescent_template"] = "1"
    forwarding = {key.family for spec, key in compiled if needs_forwarding(spec)} | set(autonat)
    if 4 in forwarding:
        values["net.ipv4.ip_forward"] = "1"
    if 6 in forwarding:
        values["net.ipv6.conf.all.forwarding"] = "1"
    if autonat or any(spec.method == SNAT for spec, _ in compiled):
        # Netfilter's SNAT/MASQUERADE only sees IPVS traffic that conntrack follows.
        values["net.ipv4.vs.conntrack"] = "1"
    return tuple(sorted(values.items()))
