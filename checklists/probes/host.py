"""What this host knows about its network: links, addresses, routes, neighbours, sysctls,
conntrack and the Autonat masquerade rules. Read through rtnetlink (pyroute2), /proc and the
dataplane's own netfilter reader; nothing here changes the host."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

NUD_VALID = 0x02 | 0x04 | 0x08 | 0x10 | 0x40 | 0x80  # reachable stale delay probe noarp permanent


@dataclass(frozen=True)
class Link:
    index: int
    name: str
    mac: str
    addresses: tuple[tuple[str, int], ...]  # IPv4 (address, prefixlen)

    def address_in(self, ip: str) -> str | None:
        """This link's address whose subnet holds ``ip``, or None."""
        for addr, plen in self.addresses:
            if ipaddress.IPv4Address(ip) in ipaddress.IPv4Network(f"{addr}/{plen}", strict=False):
                return addr
        return None

    def subnets(self) -> list[str]:
        return [str(ipaddress.IPv4Network(f"{a}/{p}", strict=False)) for a, p in self.addresses]


@dataclass(frozen=True)
class Route:
    oif: str
    gateway: str | None  # None: directly connected
    prefsrc: str | None


@dataclass(frozen=True)
class Flow:
    """One conntrack entry: the original and the reply tuple."""

    proto: str
    orig_src: str
    orig_dst: str
    reply_src: str
    reply_dst: str
    replied: bool

    @property
    def masqueraded(self) -> bool:
        return self.reply_dst != self.orig_src


class HostNet:
    """Read-only view of this host's IPv4 networking."""

    def __init__(self, iptables_backend: str | None = None):
        self.ipr = IPRoute()
        self.iptables_backend = iptables_backend
        self._links: dict[int, Link] | None = None

    def close(self) -> None:
        self.ipr.close()

    def links(self) -> dict[int, Link]:
        if self._links is None:
            addrs: dict[int, list] = {}
            for msg in self.ipr.get_addr(family=2):
                addr = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
                addrs.setdefault(msg["index"], []).append((addr, msg["prefixlen"]))
            self._links = {
                link["index"]: Link(link["index"], link.get_attr("IFLA_IFNAME"),
                                    (link.get_attr("IFLA_ADDRESS") or "00:00:00:00:00:00").lower(),
                                    tuple(addrs.get(link["index"], ())))
                for link in self.ipr.get_links()
            }
        return self._links

    def link(self, name: str) -> Link | None:
        return next((lk for lk in self.links().values() if lk.name == name), None)

    def local_addresses(self) -> set[str]:
        return {a for lk in self.links().values() for a, _ in lk.addresses}

    def own_macs(self) -> set[str]:
        return {lk.mac for lk in self.links().values()}

    def route(self, dst: str, src: str | None = None, iif: str | None = None) -> Route | None:
        """The kernel's route lookup (``ip route get``); None when there is no route."""
        kwargs = {"dst": dst}
        if src:
            kwargs["src"] = src
        if iif:
            link = self.link(iif)
            if link is None:
                return None
            kwargs["iif"] = link.index
        try:
            msgs = list(self.ipr.route("get", **kwargs))
        except NetlinkError:
            return None
        if not msgs:
            return None
        msg = msgs[0]
        if msg["type"] != 1:  # RTN_UNICAST; local, unreachable, prohibit… are not a way out
            return None
        oif = self.links().get(msg.get_attr("RTA_OIF"))
        return Route(oif.name if oif else "", msg.get_attr("RTA_GATEWAY"), msg.get_attr("RTA_PREFSRC"))

    def neighbour(self, ip: str, link: Link) -> str | None:
        """The MAC the neighbour table holds for ``ip`` on ``link`` (valid entries only)."""
        try:
            for msg in self.ipr.get_neighbours(family=2, ifindex=link.index):
                if msg.get_attr("NDA_DST") == ip and msg["state"] & NUD_VALID and msg.get_attr("NDA_LLADDR"):
                    return msg.get_attr("NDA_LLADDR").lower()
        except NetlinkError:
            return None
        return None

    @staticmethod
    def sysctl(name: str) -> str | None:
        try:
            with open("/proc/sys/" + name.replace(".", "/")) as f:
                return f.read().strip()
        except OSError:
            return None

    @staticmethod
    def conntrack() -> list[Flow] | None:
        """IPv4 conntrack entries, or None when the table cannot be read."""
        try:
            with open("/proc/net/nf_conntrack") as f:
                lines = f.readlines()
        except OSError:
            return None
        return [flow for line in lines if (flow := parse_conntrack(line))]

    def masquerade_interfaces(self) -> set[str]:
        """Interfaces the appliance's Autonat rule masquerades out of (IPv4)."""
        from dataplane.kernel.netfilter import Netfilter

        try:
            rules = Netfilter(self.iptables_backend).read(4)
        except Exception:  # noqa: BLE001 - no iptables here: no masquerade either
            return set()
        out = set()
        for r in rules:
            if r.table == "nat" and "MASQUERADE" in r.args and "-o" in r.args and "ipvs" not in r.args:
                out.add(r.args[r.args.index("-o") + 1])
        return out


def parse_conntrack(line: str) -> Flow | None:
    words = line.split()
    if len(words) < 4 or words[0] != "ipv4":
        return None
    srcs = [w[4:] for w in words if w.startswith("src=")]
    dsts = [w[4:] for w in words if w.startswith("dst=")]
    if len(srcs) < 2 or len(dsts) < 2:
        return None
    return Flow(words[2], srcs[0], dsts[0], srcs[1], dsts[1], "[UNREPLIED]" not in words)
