"""The rules for the host's network configuration, in one place.

Model.clean() calls these, so the API, the WebUI and bundle import give the same messages, each
keyed by the field it is about. Functions take model instances (duck-typed) and the rest of the
configuration, and return {field: [messages]}.
"""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict

from django.core.exceptions import ValidationError

from appliance.logs import parse_hostport
from dataplane import netstate as ns

from . import inventory


def raise_errors(errors: dict[str, list[str]]) -> None:
    if errors:
        raise ValidationError(errors)


def parse_interface_address(text: str):
    """'192.0.2.10/24' → IPv4Interface; ValueError with the reason when it is not one."""
    if not isinstance(text, str) or "/" not in text:
        raise ValueError(f"{text!r}: give an address with its prefix length, e.g. 192.0.2.10/24.")
    iface = ipaddress.ip_interface(text)
    if iface.ip == iface.network.network_address and iface.network.prefixlen < iface.max_prefixlen - 1:
        raise ValueError(f"{text}: that is the network's own address, not a host address.")
    return iface


def _networks(interface) -> list:
    out = []
    for text in interface.addresses or []:
        try:
            out.append(parse_interface_address(text))
        except ValueError:
            pass
    return out


def interface_errors(iface, others) -> dict[str, list[str]]:
    errors: defaultdict[str, list[str]] = defaultdict(list)
    others = list(others)
    live = inventory.host_links()
    configured = {o.name: o for o in others}
    _check_kind(iface, configured, live, errors)
    _check_addresses(iface, others, errors)
    if iface.mtu and iface.mtu < 1280 and any(a.version == 6 for a in _networks(iface)):
        errors["mtu"].append("IPv6 needs an MTU of at least 1280.")
    for o in others:
        if o.kind == ns.BOND and iface.name in (o.members or []) and iface.addresses:
            errors["addresses"].append(f"{iface.name} is a member of bond {o.name}: put the addresses on the bond.")
    return dict(errors)


def _check_kind(iface, configured, live, errors):
    known = set(configured) | set(live)
    if iface.kind == ns.VLAN:
        if iface.vlan_id is None or not 1 <= iface.vlan_id <= 4094:
            errors["vlan_id"].append("A VLAN id is 1 to 4094.")
        if not iface.parent:
            errors["parent"].append("Choose the interface the VLAN is tagged on.")
        elif iface.parent == iface.name:
            errors["parent"].append("A VLAN cannot sit on itself.")
        elif iface.parent not in known:
            errors["parent"].append(f"There is no interface {iface.parent!r} on this host.")
        elif any(iface.parent in (o.members or []) for o in configured.values() if o.kind == ns.BOND):
            errors["parent"].append(f"{iface.parent} is a bond member: tag the VLAN on the bond.")
        clash = [o.name for o in configured.values()
                 if o.kind == ns.VLAN and o.parent == iface.parent and o.vlan_id == iface.vlan_id]
        if clash:
            errors["vlan_id"].append(f"VLAN {iface.vlan_id} on {iface.parent} is already {clash[0]}.")
    else:
        if iface.vlan_id is not None:
            errors["vlan_id"].append("Only a VLAN interface has a VLAN id.")
        if iface.parent:
            errors["parent"].append("Only a VLAN interface has a parent.")
    if iface.kind == ns.BOND:
        _check_bond(iface, configured, known, errors)
    elif iface.members:
        errors["members"].append("Only a bond has members.")
    if iface.kind == ns.BOND and not iface.bond_mode:
        errors["bond_mode"].append("Choose the bond mode: active-backup or 802.3ad.")
    if iface.kind != ns.BOND and iface.bond_mode:
        errors["bond_mode"].append("Only a bond has a mode.")
    if iface.kind == ns.PHYSICAL and iface.name not in live:
        errors["name"].append(f"There is no interface {iface.name!r} on this host; "
                              f"create a VLAN or a bond instead.")


def _check_bond(iface, configured, known, errors):
    members = iface.members or []
    if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
        errors["members"].append("Give the members as a list of interface names.")
        return
    if not members:
        errors["members"].append("A bond needs at least one member.")
    if len(set(members)) != len(members):
        errors["members"].append("A member is listed twice.")
    for m in members:
        if m == iface.name:
            errors["members"].append("A bond cannot be its own member.")
        elif m not in known:
            errors["members"].append(f"There is no interface {m!r} on this host.")
        else:
            used = _use_of(m, iface.name, configured)
            if used:
                errors["members"].append(f"{m} is in use: {used}.")


def _use_of(member: str, bond: str, configured) -> str:
    for o in configured.values():
        if o.name == bond:
            continue
        if o.kind == ns.BOND and member in (o.members or []):
            return f"a member of bond {o.name}"
        if o.kind == ns.VLAN and o.parent == member:
            return f"VLAN {o.name} is tagged on it"
        if o.name == member and o.addresses:
            return "it has addresses of its own"
    return ""


def _check_addresses(iface, others, errors):
    addresses = iface.addresses or []
    if not isinstance(addresses, list):
        errors["addresses"].append("Give the addresses as a list, e.g. [\"192.0.2.10/24\"].")
        return
    mine = []
    for text in addresses:
        try:
            mine.append(parse_interface_address(text))
        except ValueError as exc:
            errors["addresses"].append(str(exc))
    if len({a.ip for a in mine}) != len(mine):
        errors["addresses"].append("An address is listed twice.")
    for a in mine:
        for o in others:
            for b in _networks(o):
                if a.version == b.version and a.network.overlaps(b.network):
                    errors["addresses"].append(
                        f"{a} overlaps {b} on {o.name}: one subnet belongs to one interface.")


def route_errors(route, interfaces) -> dict[str, list[str]]:
    errors: defaultdict[str, list[str]] = defaultdict(list)
    try:
        net = ipaddress.ip_network(route.destination, strict=True)
    except ValueError:
        try:
            hint = ipaddress.ip_network(route.destination, strict=False)
            errors["destination"].append(f"Host bits are set: did you mean {hint}?")
        except ValueError:
            errors["destination"].append("Give a network such as 198.51.100.0/24, or 0.0.0.0/0 / ::/0 "
                                         "for a default gateway.")
        return dict(errors)
    if not route.gateway and not route.interface:
        errors["gateway"].append("Give a gateway, an interface, or both.")
    interfaces = list(interfaces)
    live = inventory.host_links()
    if route.interface and route.interface not in live and route.interface not in {i.name for i in interfaces}:
        errors["interface"].append(f"There is no interface {route.interface!r} on this host.")
    if route.gateway:
        gw = ipaddress.ip_address(route.gateway)
        if gw.version != net.version:
            errors["gateway"].append(f"The gateway is IPv{gw.version}, the destination IPv{net.version}.")
        elif not _on_link(gw, route.interface, interfaces, live):
            where = f" of {route.interface}" if route.interface else ""
            errors["gateway"].append(f"{gw} is outside every subnet{where}: a gateway must be on a "
                                     f"connected subnet.")
    return dict(errors)


def _on_link(gw, interface: str, interfaces, live) -> bool:
    subnets = []
    for i in interfaces:
        if not interface or i.name == interface:
            subnets += [a.network for a in _networks(i)]
    configured = {i.name for i in interfaces}
    for name, info in live.items():
        if name not in configured and (not interface or name == interface):
            for text in info.get("addresses", []):
                subnets.append(ipaddress.ip_interface(text).network)
    return any(gw in s for s in subnets)


def known_interfaces() -> set[str]:
    """The host's real interfaces (loopback aside) and the VLANs/bonds configured here; empty when the
    host's interfaces cannot be read (then nothing is refused for naming one)."""
    from .models import Interface  # netconfig.models imports this module

    live = set(inventory.host_links()) - {"lo"}
    return live | set(Interface.objects.values_list("name", flat=True)) if live else set()


def interface_field_errors(instance, *fields: str) -> dict[str, list[str]]:
    """Each named field must be an interface this host has. A value that was already saved passes (the
    host may have lost it since; the page still shows it), so only what is being set is checked."""
    before = getattr(instance, "_audit_before", None) or {}
    errors: dict[str, list[str]] = {}
    known = None
    for field in fields:
        value = getattr(instance, field)
        if not value or value == before.get(field):
            continue
        known = known_interfaces() if known is None else known
        if known and value not in known:
            errors[field] = [f"There is no interface {value!r} on this host; choose one of "
                             f"{', '.join(sorted(known))}."]
    return errors


_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def _hostname_ok(name: str) -> bool:
    return 0 < len(name) <= 253 and all(_LABEL.match(part) for part in name.rstrip(".").split("."))


def _address_or_name(text) -> bool:
    if not isinstance(text, str):
        return False
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return _hostname_ok(text)


def _list_errors(errors, field, value, check, what: str, limit: int = 16):
    if not isinstance(value, list):
        errors[field].append("Give a list.")
        return
    if len(value) > limit:
        errors[field].append(f"At most {limit}.")
    for item in value:
        if not check(item):
            errors[field].append(f"{item!r} is not {what}.")


def _syslog_target_ok(text) -> bool:
    try:
        host, port = parse_hostport(text) if isinstance(text, str) else ("", 0)
    except ValueError:
        return False
    return _address_or_name(host) and 1 <= port <= 65535


def system_errors(s) -> dict[str, list[str]]:
    from zoneinfo import available_timezones

    from django.core.validators import validate_email

    errors: defaultdict[str, list[str]] = defaultdict(list)
    if s.hostname and not _hostname_ok(s.hostname):
        errors["hostname"].append("A host name: letters, digits and hyphens, dot-separated labels of up to 63.")

    def is_ip(x):
        try:
            ipaddress.ip_address(x)
            return True
        except (ValueError, TypeError):
            return False

    def is_email(x):
        try:
            validate_email(x)
            return True
        except ValidationError:
            return False

    _list_errors(errors, "dns_servers", s.dns_servers, is_ip, "an IP address", limit=3)
    _list_errors(errors, "search_domains", s.search_domains, lambda x: isinstance(x, str) and _hostname_ok(x),
                 "a domain name", limit=6)
    _list_errors(errors, "ntp_servers", s.ntp_servers, _address_or_name, "a host name or address")
    _list_errors(errors, "alert_emails", s.alert_emails, is_email, "an e-mail address", limit=32)
    _list_errors(errors, "syslog_targets", s.syslog_targets, _syslog_target_ok, "host:port", limit=4)
    if s.timezone not in available_timezones():
        errors["timezone"].append(f"{s.timezone!r} is not a time zone (e.g. UTC, Europe/Berlin).")
    if s.smtp_host and not _address_or_name(s.smtp_host):
        errors["smtp_host"].append("A host name or address.")
    if s.smtp_starttls and s.smtp_ssl:
        errors["smtp_ssl"].append("Choose STARTTLS or TLS, not both.")
    return dict(errors)
