"""FRR configuration for an active-active member: bgpd announces this node's VIPs to the upstream
routers, bfdd detects a lost member in BFD time (interval x multiplier). Pure: no Django, no I/O.

What is announced is decided in the kernel, not here: every configured VIP gets a ``network``
statement, and with ``bgp network import-check`` bgpd announces it only while the VIP's /32 (/128)
is in the routing table, i.e. while the kernel writer keeps it on lo, which it does exactly while
this node is fit to serve it (dataplane.compiler.fit_vips). So a health change withdraws a route in
the time of one address change, with no FRR reload. The outbound prefix-list is the guard that
nothing but those VIPs is ever sent; inbound everything is refused (the host's routes are the
network settings' business, not the upstream's).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

PROFILE = "fulcrum"
PREFIX_LISTS = {4: "FULCRUM-VIPS", 6: "FULCRUM-VIPS6"}
DENY_IN = "FULCRUM-DENY-IN"
_AFI = {4: "ipv4", 6: "ipv6"}


@dataclass(frozen=True)
class BgpNeighbourSpec:
    address: str
    asn: int
    password: str = ""
    description: str = ""


@dataclass(frozen=True)
class BgpSpec:
    asn: int
    router_id: str = ""  # "" = bgpd picks one from the interface addresses
    neighbours: tuple[BgpNeighbourSpec, ...] = ()
    bfd_interval_ms: int = 300
    bfd_multiplier: int = 3
    hostname: str = "fulcrum"


def safe_hostname(name: str) -> str:
    """A hostname bgpd accepts (one word of letters, digits, - and .): a host without a name reports
    "(none)", which would make the whole configuration fail to load."""
    word = "".join(ch for ch in name if ch.isascii() and (ch.isalnum() or ch in "-."))[:63].strip("-.")
    return word or "fulcrum"


def _family(address: str) -> int:
    return ipaddress.ip_address(address).version


def _host(vip: str) -> str:
    return f"{vip}/{32 if _family(vip) == 4 else 128}"


def bfd_detection_ms(spec: BgpSpec) -> int:
    """How long a silent member stays a next hop: BFD declares it down after this."""
    return spec.bfd_interval_ms * spec.bfd_multiplier


def _prefix_lists(vips: list[str]) -> list[str]:
    lines = []
    for family, name in PREFIX_LISTS.items():
        ours = [v for v in vips if _family(v) == family]
        kw = "ip" if family == 4 else "ipv6"
        lines += [f"{kw} prefix-list {name} seq {5 * n} permit {_host(v)}" for n, v in enumerate(ours, 1)]
        lines.append(f"{kw} prefix-list {name} seq {5 * (len(ours) + 1)} deny any")
    return lines


def _address_family(family: int, spec: BgpSpec, vips: list[str]) -> list[str]:
    neighbours = [n for n in spec.neighbours if _family(n.address) == family]
    if not neighbours:
        return []
    lines = [f" address-family {_AFI[family]} unicast"]
    lines += [f"  network {_host(v)}" for v in vips if _family(v) == family]
    for n in neighbours:
        lines += [f"  neighbor {n.address} activate",
                  f"  neighbor {n.address} prefix-list {PREFIX_LISTS[family]} out",
                  f"  neighbor {n.address} route-map {DENY_IN} in"]
    return [*lines, " exit-address-family"]


def render_frr(spec: BgpSpec, vips: tuple[str, ...] | list[str]) -> str:
    """frr.conf for bgpd and bfdd. ``vips``: every VIP of the configuration (each service's, once);
    deterministic order so an unchanged configuration renders the same text (no reload)."""
    vips = sorted(set(vips), key=lambda v: (_family(v), int(ipaddress.ip_address(v))))
    lines = [
        "! Rendered by Fulcrum (active-active): edits here are overwritten on the next apply.",
        "frr defaults traditional",
        f"hostname {safe_hostname(spec.hostname)}",
        "service integrated-vtysh-config",
        "!",
        "bfd",
        f" profile {PROFILE}",
        f"  detect-multiplier {spec.bfd_multiplier}",
        f"  receive-interval {spec.bfd_interval_ms}",
        f"  transmit-interval {spec.bfd_interval_ms}",
        " exit",
        "exit",
        "!",
        *_prefix_lists(vips),
        "!",
        f"route-map {DENY_IN} deny 10",
        "exit",
        "!",
        f"router bgp {spec.asn}",
    ]
    if spec.router_id:
        lines.append(f" bgp router-id {spec.router_id}")
    lines += [" no bgp default ipv4-unicast", " bgp network import-check", " no bgp ebgp-requires-policy"]
    for n in spec.neighbours:
        lines.append(f" neighbor {n.address} remote-as {n.asn}")
        if n.description:
            lines.append(f" neighbor {n.address} description {n.description}")
        if n.password:
            lines.append(f" neighbor {n.address} password {n.password}")
        lines.append(f" neighbor {n.address} bfd profile {PROFILE}")
    for family in (4, 6):
        lines += _address_family(family, spec, vips)
    lines += ["exit", ""]
    return "\n".join(lines)


def withdraw_all(spec: BgpSpec) -> str:
    """The configuration of a node leaving cleanly: sessions stay up, nothing is announced, so the
    router moves the flows before the services stop (ExecStop), not a hold time later."""
    return render_frr(spec, ())


@dataclass(frozen=True)
class BgpSession:
    neighbour: str
    remote_asn: int
    state: str  # FRR's word: Established, Idle, Active, Connect, OpenSent, ...
    prefixes_sent: int
    prefixes_received: int
    uptime_s: float

    @property
    def established(self) -> bool:
        return self.state == "Established"


def parse_summary(doc) -> tuple[BgpSession, ...]:
    """The sessions in FRR's ``show bgp summary json`` (one entry per address family that has peers;
    a neighbour's prefixes are summed over its families). Anything else (no bgpd: null) is no session."""
    merged: dict[str, BgpSession] = {}
    for family in (doc or {}).values() if isinstance(doc, dict) else ():
        peers = family.get("peers") if isinstance(family, dict) else None
        for address, p in (peers or {}).items():
            if not isinstance(p, dict):
                continue
            seen = merged.get(address)
            merged[address] = BgpSession(
                address, int(p.get("remoteAs") or 0), str(p.get("state") or "unknown"),
                int(p.get("pfxSnt") or 0) + (seen.prefixes_sent if seen else 0),
                int(p.get("pfxRcd") or 0) + (seen.prefixes_received if seen else 0),
                max(int(p.get("peerUptimeMsec") or 0) / 1000, seen.uptime_s if seen else 0))
    return tuple(merged[a] for a in sorted(merged))
