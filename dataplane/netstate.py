"""Host network state (links, VLANs, bonds, addresses, routes): desired types and their diff.

Pure data, no I/O: ``plan(current, desired)`` returns the ordered ops that turn one state into
the other, touching only what differs; ``dataplane.kernel.network`` carries them out with
pyroute2. States serialise to versioned JSON (``to_json``/``from_json``) so a commit-confirmed
change can keep the state to roll back to, and boot can re-apply the saved one.

Scope: only the links a state names are the appliance's. Physical links are never created or
deleted, only set (MTU, up/down); VLANs and bonds are created and deleted. Routes are the
appliance's own (marked with a route protocol by the driver); a default route is a ``Route`` to
``0.0.0.0/0`` or ``::/0``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass, field

PHYSICAL, VLAN, BOND = "physical", "vlan", "bond"
ACTIVE_BACKUP, LACP = "active-backup", "802.3ad"
JSON_VERSION = 1


@dataclass(frozen=True, order=True)
class Link:
    name: str
    kind: str = PHYSICAL
    up: bool = True
    mtu: int = 0  # 0: leave the kernel's MTU as it is
    parent: str = ""  # VLAN: the link it sits on
    vlan_id: int = 0
    bond_mode: str = ""
    members: tuple[str, ...] = ()  # bond: its member links, sorted

    def shape(self) -> tuple:
        """What cannot change in place: a VLAN's parent and id, a bond's mode."""
        return (self.kind, self.parent, self.vlan_id, self.bond_mode)


@dataclass(frozen=True, order=True)
class IfAddress:
    interface: str
    address: str
    prefixlen: int

    @property
    def network(self):
        return ipaddress.ip_interface(f"{self.address}/{self.prefixlen}").network


@dataclass(frozen=True, order=True)
class Route:
    destination: str  # a network in CIDR form; 0.0.0.0/0 or ::/0 is the default route
    gateway: str = ""
    interface: str = ""

    @property
    def family(self) -> int:
        return ipaddress.ip_network(self.destination).version


@dataclass(frozen=True)
class NetworkState:
    links: frozenset[Link] = field(default_factory=frozenset)
    addresses: frozenset[IfAddress] = field(default_factory=frozenset)
    routes: frozenset[Route] = field(default_factory=frozenset)

    def link_names(self) -> set[str]:
        return {link.name for link in self.links}

    def to_json(self) -> dict:
        return {"version": JSON_VERSION,
                "links": [asdict(x) for x in sorted(self.links)],
                "addresses": [asdict(x) for x in sorted(self.addresses)],
                "routes": [asdict(x) for x in sorted(self.routes)]}

    @staticmethod
    def from_json(data: dict) -> NetworkState:
        if data.get("version") != JSON_VERSION:
            raise ValueError(f"unknown network state version {data.get('version')!r}")
        return NetworkState(
            frozenset(Link(**{**x, "members": tuple(x.get("members", ()))}) for x in data["links"]),
            frozenset(IfAddress(**x) for x in data["addresses"]),
            frozenset(Route(**x) for x in data["routes"]))


# --- ops, in the order they must run -------------------------------------------------------

DEL_ROUTE, DEL_ADDRESS, DEL_LINK, RELEASE = "del-route", "del-address", "del-link", "release"
ADD_LINK, ENSLAVE, SET_LINK, ADD_ADDRESS, ADD_ROUTE = "add-link", "enslave", "set-link", "add-address", "add-route"
ORDER = (DEL_ROUTE, DEL_ADDRESS, DEL_LINK, RELEASE, ADD_LINK, ENSLAVE, SET_LINK, ADD_ADDRESS, ADD_ROUTE)
_KIND_RANK = {PHYSICAL: 0, BOND: 1, VLAN: 2}  # parents before the links that sit on them


@dataclass(frozen=True)
class NetOp:
    action: str
    target: Link | IfAddress | Route
    member: str = ""  # RELEASE / ENSLAVE: the member link

    def __str__(self) -> str:
        t = self.target
        if isinstance(t, IfAddress):
            return f"{self.action} {t.address}/{t.prefixlen} dev {t.interface}"
        if isinstance(t, Route):
            via = f" via {t.gateway}" if t.gateway else ""
            dev = f" dev {t.interface}" if t.interface else ""
            return f"{self.action} {t.destination}{via}{dev}"
        return f"{self.action} {t.name}" + (f" member {self.member}" if self.member else "")


def _by_name(links) -> dict[str, Link]:
    return {link.name: link for link in links}


def plan(current: NetworkState, desired: NetworkState) -> list[NetOp]:
    """The ops that take ``current`` to ``desired``; nothing for what is already equal."""
    ops: list[NetOp] = []
    now, want = _by_name(current.links), _by_name(desired.links)
    recreated = {n for n in now.keys() & want.keys() if now[n].shape() != want[n].shape()
                 and now[n].kind != PHYSICAL}
    gone = {n for n in now.keys() - want.keys() if now[n].kind != PHYSICAL} | recreated

    # A deleted link takes its addresses and routes with it; delete those explicitly all the same,
    # so the ops say what is lost and a physical link keeps nothing stale.
    for r in sorted(current.routes - desired.routes):
        ops.append(NetOp(DEL_ROUTE, r))
    for a in sorted(current.addresses - desired.addresses):
        ops.append(NetOp(DEL_ADDRESS, a))
    for name in sorted(gone, key=lambda n: -_KIND_RANK[now[n].kind]):  # VLANs before the bonds under them
        ops.append(NetOp(DEL_LINK, now[name]))
    for name, link in sorted(now.items()):
        if link.kind == BOND and name not in gone:
            for m in sorted(set(link.members) - set(want[name].members if name in want else ())):
                ops.append(NetOp(RELEASE, link, m))
    for name in sorted(want, key=lambda n: (_KIND_RANK[want[n].kind], n)):
        link = want[name]
        if link.kind != PHYSICAL and (name not in now or name in gone):
            ops.append(NetOp(ADD_LINK, link))
    for name, link in sorted(want.items()):
        if link.kind == BOND:
            had = set() if name in gone or name not in now else set(now[name].members)
            for m in sorted(set(link.members) - had):
                ops.append(NetOp(ENSLAVE, link, m))
    for name in sorted(want, key=lambda n: (_KIND_RANK[want[n].kind], n)):
        link, old = want[name], now.get(name)
        if old is None or name in gone or (link.up, link.mtu or old.mtu) != (old.up, old.mtu):
            ops.append(NetOp(SET_LINK, link))
    for a in sorted(desired.addresses - current.addresses):
        ops.append(NetOp(ADD_ADDRESS, a))
    for r in sorted(desired.routes - current.routes):
        ops.append(NetOp(ADD_ROUTE, r))
    return ops
