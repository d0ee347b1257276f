"""Host network state through rtnetlink (pyroute2 IPRoute): read it, and carry out netstate ops.

Reading is scoped: the links named (and the bonds' members), their global addresses except the
VIPs Fulcrum's IPVS apply owns (``addresses.ADDR_PROTO``), and the routes this module added
(route protocol ``ROUTE_PROTO``) plus the default routes of the families asked for, so a saved
default gateway can replace one the host got elsewhere and a rollback can put that one back.
"""

from __future__ import annotations

import errno
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from dataplane import netstate as ns
from dataplane.kernel.addresses import ADDR_PROTO, IFA_F_NODAD

ROUTE_PROTO = 0x46  # routes Fulcrum adds: `ip route` shows "proto 70"
IFA_F_PERMANENT = 0x80
RT_SCOPE_UNIVERSE = 0
_BOND_MODES = {0: "balance-rr", 1: ns.ACTIVE_BACKUP, 4: ns.LACP}
_DEFAULT = {4: "0.0.0.0/0", 6: "::/0"}


class NetworkError(RuntimeError):
    pass


class NetworkDriver:
    def __init__(self):
        self.ipr = IPRoute()

    def close(self) -> None:
        self.ipr.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- reading -------------------------------------------------------------------------

    def existing_links(self) -> dict[str, dict]:
        """Every link of this host: name → {kind, addresses, up}, for pick lists and validation."""
        out: dict[str, dict] = {}
        index_names = {}
        for msg in self.ipr.get_links():
            name = msg.get_attr("IFLA_IFNAME")
            index_names[msg["index"]] = name
            info = msg.get_attr("IFLA_LINKINFO")
            kind = info.get_attr("IFLA_INFO_KIND") if info else None
            out[name] = {"kind": kind or "", "up": bool(msg["flags"] & 1), "addresses": []}
        for msg in self.ipr.get_addr():
            name = index_names.get(msg["index"])
            if name in out:
                addr = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
                out[name]["addresses"].append(f"{addr}/{msg['prefixlen']}")
        return out

    def read(self, names: Iterable[str], default_families: Iterable[int] = ()) -> ns.NetworkState:
        names = set(names)
        links_by_index = {m["index"]: m for m in self.ipr.get_links()}
        index_of = {m.get_attr("IFLA_IFNAME"): i for i, m in links_by_index.items()}
        members: dict[int, list[str]] = {}
        for m in links_by_index.values():
            if m.get_attr("IFLA_MASTER"):
                members.setdefault(m.get_attr("IFLA_MASTER"), []).append(m.get_attr("IFLA_IFNAME"))
        links = set()
        for name in names:
            if name in index_of:
                links.add(self._link(links_by_index[index_of[name]], links_by_index, members))
        for name in [x for link in links for x in link.members]:
            if name not in names and name in index_of:
                names.add(name)
                links.add(self._link(links_by_index[index_of[name]], links_by_index, members))
        wanted = {index_of[n] for n in names if n in index_of}
        addresses = set()
        for msg in self.ipr.get_addr():
            if msg["index"] not in wanted or msg["scope"] != RT_SCOPE_UNIVERSE:
                continue  # link-local and host-scope addresses are the kernel's
            if msg.get_attr("IFA_PROTO") == ADDR_PROTO:
                continue  # a VIP: the IPVS apply owns it
            addr = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
            addresses.add(ns.IfAddress(links_by_index[msg["index"]].get_attr("IFLA_IFNAME"), addr, msg["prefixlen"]))
        routes = set()
        families = set(default_families)
        for msg in self.ipr.get_routes(table=254):
            dst_len = msg["dst_len"]
            family = 4 if msg["family"] == 2 else 6
            is_default = dst_len == 0
            if msg["proto"] != ROUTE_PROTO and not (is_default and family in families):
                continue
            dst = msg.get_attr("RTA_DST")
            dest = _DEFAULT[family] if is_default else str(ipaddress.ip_network(f"{dst}/{dst_len}"))
            oif = msg.get_attr("RTA_OIF")
            dev = links_by_index[oif].get_attr("IFLA_IFNAME") if oif in links_by_index else ""
            routes.add(ns.Route(dest, msg.get_attr("RTA_GATEWAY") or "", dev))
        return ns.NetworkState(frozenset(links), frozenset(addresses), frozenset(routes))

    @staticmethod
    def _link(msg, by_index, members) -> ns.Link:
        name = msg.get_attr("IFLA_IFNAME")
        info = msg.get_attr("IFLA_LINKINFO")
        kind = info.get_attr("IFLA_INFO_KIND") if info else None
        up = bool(msg["flags"] & 1)
        mtu = msg.get_attr("IFLA_MTU")
        if kind == "vlan":
            data = info.get_attr("IFLA_INFO_DATA")
            parent = by_index.get(msg.get_attr("IFLA_LINK"))
            return ns.Link(name, ns.VLAN, up, mtu, parent.get_attr("IFLA_IFNAME") if parent else "",
                           data.get_attr("IFLA_VLAN_ID"))
        if kind == "bond":
            data = info.get_attr("IFLA_INFO_DATA")
            mode = _BOND_MODES.get(data.get_attr("IFLA_BOND_MODE"), str(data.get_attr("IFLA_BOND_MODE")))
            return ns.Link(name, ns.BOND, up, mtu, bond_mode=mode,
                           members=tuple(sorted(members.get(msg["index"], ()))))
        return ns.Link(name, ns.PHYSICAL, up, mtu)

    # --- writing -------------------------------------------------------------------------

    def apply(self, ops: Sequence[ns.NetOp]) -> list[ns.NetOp]:
        """Carry out ``ops`` in order; stop at the first the kernel refuses (NetworkError, with the
        ops done so far in ``.done``). Returns the ops done."""
        done: list[ns.NetOp] = []
        for op in ops:
            try:
                getattr(self, "_" + op.action.replace("-", "_"))(op)
            except (NetlinkError, NetworkError) as e:
                err = NetworkError(f"{op}: {e}")
                err.done = done
                raise err from e
            done.append(op)
        return done

    def _index(self, name: str) -> int:
        found = self.ipr.link_lookup(ifname=name)
        if not found:
            raise NetworkError(f"no interface {name!r}")
        return found[0]

    def _ignoring(self, codes, call, *args, **kwargs):
        try:
            call(*args, **kwargs)
        except NetlinkError as e:
            if e.code not in codes:
                raise

    def _del_route(self, op):
        r = op.target
        self._ignoring((errno.ESRCH, errno.ENOENT), self.ipr.route, "del", **self._route_args(r, proto=False))

    def _add_route(self, op):
        self.ipr.route("replace", **self._route_args(op.target, proto=True))

    def _route_args(self, r: ns.Route, proto: bool) -> dict:
        net = ipaddress.ip_network(r.destination)
        args = {"dst": str(net.network_address), "dst_len": net.prefixlen, "table": 254,
                "family": 2 if net.version == 4 else 10}
        if r.gateway:
            args["gateway"] = r.gateway
        if r.interface:
            args["oif"] = self._index(r.interface)
        if proto:
            args["proto"] = ROUTE_PROTO
        return args

    def _del_address(self, op):
        a = op.target
        try:
            index = self._index(a.interface)
        except NetworkError:
            return  # the link is gone, and its addresses with it
        self._ignoring((errno.EADDRNOTAVAIL, errno.ENOENT, errno.ESRCH), self.ipr.addr, "del",
                       index=index, address=a.address, prefixlen=a.prefixlen)

    def _add_address(self, op):
        a = op.target
        kwargs = {"index": self._index(a.interface), "address": a.address, "prefixlen": a.prefixlen}
        if ":" in a.address:
            kwargs["flags"] = IFA_F_NODAD | IFA_F_PERMANENT
        self._ignoring((errno.EEXIST,), self.ipr.addr, "add", **kwargs)

    def _del_link(self, op):
        if not self.ipr.link_lookup(ifname=op.target.name):
            return
        self.ipr.link("del", index=self._index(op.target.name))

    def _add_link(self, op):
        link = op.target
        if link.kind == ns.VLAN:
            self.ipr.link("add", ifname=link.name, kind="vlan", link=self._index(link.parent),
                          vlan_id=link.vlan_id)
        elif link.kind == ns.BOND:
            mode = {v: k for k, v in _BOND_MODES.items()}[link.bond_mode]
            self.ipr.link("add", ifname=link.name, kind="bond", bond_mode=mode, bond_miimon=100)
        else:
            raise NetworkError(f"{link.name}: physical links are not created")

    def _enslave(self, op):
        member = self._index(op.member)
        self.ipr.link("set", index=member, state="down")  # a link joins a bond only while down
        self.ipr.link("set", index=member, master=self._index(op.target.name))
        self.ipr.link("set", index=member, state="up")

    def _release(self, op):
        self._ignoring((errno.ENODEV,), self.ipr.link, "set", index=self._index(op.member), master=0)

    def _set_link(self, op):
        link = op.target
        kwargs = {"index": self._index(link.name), "state": "up" if link.up else "down"}
        if link.mtu:
            kwargs["mtu"] = link.mtu
        self.ipr.link("set", **kwargs)


@dataclass(frozen=True)
class Snapshot:
    """A state read from the kernel, with the scope it was read with (to restore it exactly)."""

    state: ns.NetworkState
    names: tuple[str, ...]
    families: tuple[int, ...]

    def to_json(self) -> dict:
        return {"state": self.state.to_json(), "names": list(self.names), "families": list(self.families)}

    @staticmethod
    def from_json(data: dict) -> Snapshot:
        return Snapshot(ns.NetworkState.from_json(data["state"]), tuple(data["names"]), tuple(data["families"]))


def snapshot(driver: NetworkDriver, desired: ns.NetworkState, scope: Iterable[str] = ()) -> Snapshot:
    """What the kernel holds now of everything ``desired`` (and the links in ``scope``) touches."""
    names = desired.link_names() | {m for x in desired.links for m in x.members} | set(scope)
    families = {r.family for r in desired.routes if r.destination in _DEFAULT.values()}
    state = driver.read(names, families)
    return Snapshot(state, tuple(sorted(names | state.link_names())), tuple(sorted(families)))


def sync(driver: NetworkDriver, desired: ns.NetworkState, scope: Iterable[str] = ()) -> tuple[Snapshot, list]:
    """Take the kernel from what it holds now to ``desired``; on a refusal put back what was done.

    ``scope``: more link names whose current state counts (those a previous state had), so links
    that left the configuration are removed. Returns (the state before, the ops done)."""
    before = snapshot(driver, desired, scope)
    try:
        return before, driver.apply(ns.plan(before.state, desired))
    except NetworkError:
        restore(driver, before)
        raise


def restore(driver: NetworkDriver, before: Snapshot) -> list:
    """Put the kernel back exactly to a snapshot: the links, addresses and routes it covered."""
    now = driver.read(before.names, before.families)
    return driver.apply(ns.plan(now, before.state))
