"""Render keepalived.conf for an HA pair: a pure function, no Django, no I/O.

One VRRPv3 instance per interface that carries addresses (VIPs on the VIP interface,
floating IPs on theirs), all in one sync group so they move together; unicast adverts to
the peer's address on that interface; sub-second adverts; preempt or not. keepalived's
notify calls ``manage.py hanotify`` so the appliance knows its role.

The addresses come from the compiler (the same ones the apply would hold without HA), so
what keepalived holds on the master is exactly what a single appliance would hold.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from dataclasses import dataclass, replace

from dataplane.compiler import address_sort_key, compile_state, family_of
from dataplane.config import ClusterSpec
from dataplane.desired import Address

MASTER_PRIORITY, BACKUP_PRIORITY = 150, 100
SYNC_GROUP = "FULCRUM"
_IFNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,14}$")


@dataclass(frozen=True)
class VrrpLink:
    """Where VRRP adverts go on one interface: the peer's address there (and ours, optional)."""

    interface: str
    peer: str
    source: str = ""  # unicast_src_ip; "" = the interface's primary address


@dataclass(frozen=True)
class VrrpSpec:
    node: str  # router_id (this appliance's name)
    role: str  # "master" or "backup": the configured role, which sets the priority
    peer: str  # the peer's management address: the unicast peer of an interface without a link
    links: tuple[VrrpLink, ...] = ()
    virtual_router_id: int = 51  # instance i (interfaces in name order) uses this + i
    advert_int: float = 0.05  # seconds; VRRPv3 takes centiseconds (0.01 .. 40.95)
    preempt: bool = False  # False: a returning master does not take the addresses back
    preempt_delay: int = 0
    notify: tuple[str, ...] = ()  # argv keepalived runs on each transition (+ TYPE NAME STATE PRIO)
    priority: int | None = None  # None: MASTER_PRIORITY or BACKUP_PRIORITY by role


def vrrp_addresses(cluster: ClusterSpec) -> dict[str, list[Address]]:
    """The addresses keepalived holds, by interface, in a stable order."""
    state = compile_state(replace(cluster, vrrp_holds_addresses=False))
    by_if: dict[str, list[Address]] = {}
    for a in sorted(state.addresses, key=lambda a: (a.interface, family_of(a.address), address_sort_key(a.address))):
        by_if.setdefault(a.interface, []).append(a)
    return by_if


def instance_name(interface: str) -> str:
    return "VI_" + re.sub(r"[^A-Za-z0-9_]", "_", interface)


def _check(spec: VrrpSpec) -> None:
    if spec.role not in ("master", "backup"):
        raise ValueError(f"role must be master or backup, not {spec.role!r}")
    if not 0.01 <= spec.advert_int <= 40.95:
        raise ValueError("advert_int must be 0.01-40.95 s (VRRPv3 centiseconds)")
    if not 1 <= spec.virtual_router_id <= 255:
        raise ValueError("virtual_router_id must be 1-255")
    ipaddress.ip_address(spec.peer)
    for link in spec.links:
        if not _IFNAME.match(link.interface):
            raise ValueError(f"bad interface name {link.interface!r}")
        ipaddress.ip_address(link.peer)
        if link.source:
            ipaddress.ip_address(link.source)


def _quote(argv: tuple[str, ...]) -> str:
    text = shlex.join(argv)
    if '"' in text:
        raise ValueError("the notify command must not contain double quotes")
    return f'"{text}"'


def _addr_line(a: Address) -> str:
    return f"{a.address}/{a.prefixlen} dev {a.interface}"


def render_keepalived(spec: VrrpSpec, cluster: ClusterSpec) -> str:
    """keepalived.conf text for this node of the pair."""
    _check(spec)
    by_if = vrrp_addresses(cluster)
    links = {link.interface: link for link in spec.links}
    interfaces = sorted(set(by_if) | set(links)) or [cluster.vip_interface]
    if spec.virtual_router_id + len(interfaces) - 1 > 255:
        raise ValueError("too many interfaces for the virtual router id range")
    priority = spec.priority if spec.priority is not None else (
        MASTER_PRIORITY if spec.role == "master" else BACKUP_PRIORITY)
    notify = f"    notify {_quote(spec.notify)}\n" if spec.notify else ""
    out = [
        "# Written by Fulcrum (ha/keepalived.py); changes here are overwritten.",
        "global_defs {",
        f"    router_id {spec.node}",
        "    vrrp_version 3",
        "    script_user root",
        "    enable_script_security",
        "    vrrp_garp_master_repeat 3",
        "    vrrp_garp_master_delay 1",
        # After a split brain heals, the master that stays sends gratuitous ARPs again at once,
        # so neighbours that followed the other node come back to it.
        "    vrrp_garp_lower_prio_repeat 3",
        "    vrrp_higher_prio_send_advert true",
        "}",
        "",
    ]
    # Several instances move together as one sync group, which then runs the notify (once per
    # transition); keepalived drops a group of one, so a single instance notifies itself.
    grouped = len(interfaces) > 1
    if grouped:
        out += [f"vrrp_sync_group {SYNC_GROUP} {{", "    group {",
                *(f"        {instance_name(i)}" for i in interfaces), "    }"]
        if notify:
            out.append(notify.rstrip("\n"))
        out += ["}", ""]
    for n, interface in enumerate(interfaces):
        link = links.get(interface)
        peer = link.peer if link else spec.peer
        fam = family_of(peer)
        addresses = by_if.get(interface, [])
        # VRRPv3 adverts carry addresses of the peer's family; the rest are held but not advertised.
        advertised = [a for a in addresses if family_of(a.address) == fam][:1]
        excluded = [a for a in addresses if a not in advertised]
        state = "MASTER" if spec.preempt and spec.role == "master" else "BACKUP"
        out += [
            f"vrrp_instance {instance_name(interface)} {{",
            f"    state {state}",
            f"    interface {interface}",
            f"    virtual_router_id {spec.virtual_router_id + n}",
            f"    priority {priority}",
            f"    advert_int {spec.advert_int:g}",
        ]
        if not spec.preempt:
            out.append("    nopreempt")
        elif spec.preempt_delay:
            out.append(f"    preempt_delay {spec.preempt_delay}")
        if link and link.source:
            out.append(f"    unicast_src_ip {link.source}")
        out += ["    unicast_peer {", f"        {peer}", "    }"]
        if advertised:
            out += ["    virtual_ipaddress {", *(f"        {_addr_line(a)}" for a in advertised), "    }"]
        if excluded:
            out += ["    virtual_ipaddress_excluded {", *(f"        {_addr_line(a)}" for a in excluded), "    }"]
        if notify and not grouped:
            out.append(notify.rstrip("\n"))
        out += ["}", ""]
    return "\n".join(out)
