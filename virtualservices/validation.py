"""The domain rules for virtual services and their real servers, in one place.

Model.clean() calls these, so the REST API, the WebUI forms and the config
import all give the same messages, each keyed by the field it is about.
Functions take model instances (duck-typed) and return {field: [messages]}.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict

from django.core.exceptions import ValidationError

from appliance.hooks import Slot
from dataplane import config as dp
from dataplane.compiler import normalise_netmask
from dataplane.ports import PortSyntaxError, parse_ports, ranges_overlap

from . import choices

# Why the health checks' matcher (RE2) refuses a response pattern, or None: the checks own that rule
# and healthchecks passes it in when ready (healthchecks.checks.patterns.pattern_error).
pattern_error = Slot("virtualservices.validation.pattern_error", "healthchecks")
# Whether the appliance runs active-active (then only mh schedules): cluster owns the mode.
cluster_is_active_active = Slot("virtualservices.validation.cluster_is_active_active", "cluster")

IKE_PORTS = {500, 4500}
TRANSPARENT_METHODS = {dp.DR, dp.NAT, dp.TUN}
WEB_CHECKS = {choices.CHECK_HTTP, choices.CHECK_HTTPS, choices.CHECK_SSTP}
NO_PORT_TRANSLATION = {dp.DR: "Direct Routing", dp.TUN: "IP tunnelling"}


def family(address) -> int | None:
    try:
        return ipaddress.ip_address(str(address)).version
    except ValueError:
        return None


def _errors() -> defaultdict[str, list[str]]:
    return defaultdict(list)


class Duplicate(ValidationError):
    """A uniqueness rule refused the object: the API answers 409 and names the object already there."""

    def __init__(self, errors: dict[str, list[str]], existing_id: int | None):
        super().__init__(errors)
        self.existing_id = existing_id


def service_errors(svc) -> dict[str, list[str]]:
    """Everything but uniqueness against other services (service_conflict, checked again under a lock)."""
    errors = _errors()
    _check_ports(svc, errors)
    _check_fwmark(svc, errors)
    _check_families(svc, errors)
    _check_persistence(svc, errors)
    _check_health(svc, errors)
    if cluster_is_active_active():
        for name, messages in active_active_errors(svc).items():
            errors[name] += messages
    if not errors:
        _check_existing_real_servers(svc, errors)
    return dict(errors)


def active_active_errors(svc) -> dict[str, list[str]]:
    """Active-active (BGP ECMP): the router may send a client's next flow, or the rest of a flow, to any
    member, so every member must pick the same real server from the same inputs. Maglev hashing (mh)
    does; the others keep per-node state (connection counts, a round-robin position, persistence
    templates) that members never share. (sh is stateless too, but moves almost every client when a
    server joins; mh moves about 1/N.)"""
    errors = _errors()
    if svc.scheduler != dp.MAGLEV:
        errors["scheduler"].append(
            f"Active-active mode needs Maglev hashing (mh): every member must choose the same real server for a "
            f"flow, and '{svc.scheduler}' decides from this node's own state.")
    if svc.persistent:
        errors["persistent"].append(
            "Active-active mode cannot use persistence: its templates live on one member only. Maglev hashing "
            "already sends a client's flows (IKE 500 and 4500 too) to the same real server on every member.")
    return dict(errors)


def service_conflict(svc) -> Duplicate | None:
    errors = _errors()
    existing = _check_collisions(svc, errors)
    return Duplicate(dict(errors), existing) if errors else None


def _check_ports(svc, errors):
    if svc.protocol == dp.FWMARK:
        if svc.ports:
            errors["ports"].append("Leave ports blank for protocol 'firewall mark': the mark selects traffic.")
        return
    if not svc.ports:
        errors["ports"].append("Enter a port, a list (500,4500) or a range (8000-8010).")
        return
    try:
        parse_ports(svc.ports)
    except PortSyntaxError as exc:
        errors["ports"].append(str(exc))


def _check_fwmark(svc, errors):
    if svc.protocol == dp.FWMARK and not svc.fwmark:
        errors["fwmark"].append("Protocol 'firewall mark' needs the mark your firewall rules set (1-4294967295).")


def _check_families(svc, errors):
    vip_family = family(svc.vip)
    if vip_family is None:
        return  # the field validator already reported it
    for field in ("fallback_address", "snat_source"):
        value = getattr(svc, field)
        if value and family(value) != vip_family:
            errors[field].append(f"Must be an IPv{vip_family} address like the VIP.")
    if svc.snat_source and svc.method != dp.SNAT:
        errors["snat_source"].append("Only used with the SNAT forwarding method.")
    if svc.fallback_address and svc.pk is not None:
        port = svc.fallback_port or svc.single_port
        same_address = svc.real_servers.filter(address=svc.fallback_address)
        if any((rs.port or svc.single_port) == port for rs in same_address):
            errors["fallback_address"].append("The fallback server must not be one of the real servers.")
    if svc.fallback_port and not svc.fallback_address:
        errors["fallback_port"].append("Set a fallback address too, or leave the port blank.")


def _check_persistence(svc, errors):
    vip_family = family(svc.vip) or 4
    try:
        normalise_netmask(svc.persistence_netmask or "", vip_family)
    except ValueError:
        example = "255.255.255.0 or /24" if vip_family == 4 else "a prefix length such as 64"
        errors["persistence_netmask"].append(f"Not a valid netmask for an IPv{vip_family} VIP; use {example}.")


def _check_health(svc, errors):
    kind = svc.check_type
    if kind == choices.CHECK_RADIUS and not svc.check_secret:
        errors["check_secret"].append("A RADIUS check needs the shared secret the RADIUS server expects.")
    if kind == choices.CHECK_EXTERNAL and not svc.check_script:
        errors["check_script"].append("Name the script (a file in the external checks directory).")
    if kind in (choices.CHECK_HTTP, choices.CHECK_HTTPS) and svc.check_request \
            and not svc.check_request.startswith("/"):
        errors["check_request"].append("An HTTP check's request is a path starting with '/'.")
    if kind in WEB_CHECKS and svc.check_response:
        message = pattern_error(svc.check_response)
        if message:
            errors["check_response"].append(message)
    if kind == choices.CHECK_DNS and not svc.check_request:
        errors["check_request"].append("A DNS check needs the name to query.")
    if svc.protocol == dp.FWMARK and kind not in (choices.CHECK_NONE, choices.CHECK_DOWN, choices.CHECK_ICMP,
                                                  choices.CHECK_EXTERNAL) and not svc.check_port:
        errors["check_port"].append("A firewall-mark service has no port of its own: give the check a port.")


def named(obj) -> str:
    """'label' (id N): the id only once saved (a bundle's objects have none yet)."""
    return f"'{obj.label}' (id {obj.pk})" if obj.pk else f"'{obj.label}'"


def _check_collisions(svc, errors) -> int | None:
    """Append collisions with other services; return the id of the first one collided with."""
    ranges = parse_ports(svc.ports) if svc.ports else ()
    first = None
    for other in svc.peers():
        hit = False
        if svc.fwmark and other.fwmark == svc.fwmark:
            errors["fwmark"].append(f"Firewall mark {svc.fwmark} is already used by service {named(other)}.")
            hit = True
        shared = svc.l4_protocols & other.l4_protocols
        if str(other.vip) == str(svc.vip) and other.ports and ranges and shared \
                and ranges_overlap(ranges, parse_ports(other.ports)):
            errors["ports"].append(
                f"{'/'.join(sorted(shared)).upper()} {svc.vip} port(s) {svc.ports} overlap service "
                f"{named(other)}, which has {other.ports}.")
            hit = True
        if hit and first is None:
            first = other.pk
    return first


def _check_existing_real_servers(svc, errors):
    if svc.pk is None:
        return
    vip_family = family(svc.vip)
    for rs in svc.real_servers.all():
        if family(rs.address) != vip_family:
            errors["vip"].append(f"Real server '{rs.label}' ({rs.address}) is IPv{family(rs.address)}; "
                                 f"a service and its real servers use one address family.")
        message = port_translation_error(svc, rs.port)
        if message:
            errors["method"].append(f"Real server '{rs.label}': {message}")


def port_translation_error(svc, rs_port) -> str | None:
    """DR and TUN deliver the packet unchanged, so a real server cannot listen on another port."""
    if rs_port is None or svc.method not in NO_PORT_TRANSLATION:
        return None
    name = NO_PORT_TRANSLATION[svc.method]
    if svc.single_port is None:
        return (f"{name} cannot translate ports: leave the real server port blank "
                f"(it receives each of the service's ports unchanged).")
    if rs_port != svc.single_port:
        return (f"{name} cannot translate ports: the real server must listen on the VIP's port "
                f"{svc.single_port}; use NAT or SNAT to translate {svc.single_port} to {rs_port}.")
    return None


def real_server_errors(rs) -> dict[str, list[str]]:
    errors = _errors()
    svc = rs.service
    vip_family, rs_family = family(svc.vip), family(rs.address)
    if rs_family and vip_family and rs_family != vip_family:
        errors["address"].append(f"Must be IPv{vip_family} like the VIP {svc.vip}; IPVS cannot mix families.")
    message = port_translation_error(svc, rs.port)
    if message:
        errors["port"].append(message)
    if rs.max_conns and rs.min_conns and rs.min_conns >= rs.max_conns:
        errors["min_conns"].append("The lower threshold must be below the upper threshold (max connections).")
    if rs.min_conns and not rs.max_conns:
        errors["min_conns"].append("A lower threshold needs an upper threshold (max connections) too.")
    return dict(errors)


def shared_dr_vip_warning(vip: str, own_servers, dr_neighbours) -> str:
    """The VIP is also the VIP of a Direct Routing service: that service's real servers hold the VIP on
    their loopback, so to them it is a local address and they can never reach this service at it (e.g.
    VPN servers sending RADIUS to NPS on the VPN VIP). `dr_neighbours`: (label, server addresses) of the
    other DR services on this VIP. Real servers of both services are exempt (they are served locally)."""
    own = set(own_servers)
    stranded = [(label, [a for a in addresses if a not in own]) for label, addresses in dr_neighbours]
    stranded = [(label, addresses) for label, addresses in stranded if addresses]
    if not stranded:
        return ""
    names = "; ".join(f"{label} ({', '.join(addresses[:4])}{', …' if len(addresses) > 4 else ''})"
                      for label, addresses in stranded)
    return (f"{vip} is also the VIP of the Direct Routing service {names}: those real servers hold {vip} on "
            "their loopback, so they cannot reach this service at that address (VPN servers could not reach "
            "NPS, for example). Give this service its own VIP if they need it.")


def service_warnings(svc, own_servers=(), dr_neighbours=()) -> dict[str, list[str]]:
    """Advice that does not block saving. `own_servers` and `dr_neighbours` (the other Direct Routing
    services on this VIP, as (label, server addresses)) come from the database; see the model."""
    warnings = _errors()
    shared = shared_dr_vip_warning(str(svc.vip), own_servers, dr_neighbours) if svc.vip else ""
    if shared:
        warnings["vip"].append(shared)
    try:
        ranges = parse_ports(svc.ports) if svc.ports else ()
    except PortSyntaxError:
        ranges = ()
    ports = {p for r in ranges if r.last - r.first < 70000 for p in range(r.first, r.last + 1)}
    if svc.method not in TRANSPARENT_METHODS and "udp" in svc.l4_protocols and ports & IKE_PORTS:
        warnings["method"].append(
            "IKEv2 (UDP 500/4500) on SNAT is not transparent: every client then comes from the load "
            "balancer's address and Windows limits IPsec security associations per source address. "
            "Use DR or NAT for IKEv2.")
    if svc.check_timeout >= svc.check_interval * max(svc.check_fall, 1):
        warnings["check_timeout"].append("The timeout is longer than interval × fall: detection will be slow.")
    return dict(warnings)
