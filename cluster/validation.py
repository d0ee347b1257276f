"""The rules for the cluster mode and the BGP speaker of active-active mode, in one place.

Model.clean() calls these, so the API, the WebUI and the CLI give the same messages, each keyed by
the field it is about. Text itself (control characters, length) is the input gate's business.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict

from appliance.hooks import Slot

AS_TRANS = 23456  # RFC 6793: stands in for a 4-byte ASN on old speakers; never a real one
MAX_ASN = 4294967294  # 4294967295 is reserved (RFC 7300)

member_count = Slot("cluster.validation.member_count", "ha")  # () -> int: active-active members listed here


def asn_error(asn) -> str | None:
    if asn is None or not 1 <= asn <= MAX_ASN or asn == AS_TRANS:
        return f"An AS number is 1-{MAX_ASN}, and not {AS_TRANS} (AS_TRANS)."
    return None


def _unusable_address(address) -> str | None:
    ip = ipaddress.ip_address(str(address))
    if ip.is_unspecified or ip.is_multicast or ip.is_loopback:
        return "Give a router's unicast address (not unspecified, multicast or loopback)."
    return None


def bgp_errors(bgp) -> dict[str, list[str]]:
    errors: defaultdict[str, list[str]] = defaultdict(list)
    if message := asn_error(bgp.asn):
        errors["asn"].append(message)
    if bgp.router_id and ipaddress.ip_address(str(bgp.router_id)) in (ipaddress.ip_address("0.0.0.0"),
                                                                       ipaddress.ip_address("255.255.255.255")):
        errors["router_id"].append("A router id is a unique, non-zero IPv4 address, e.g. this member's own.")
    return dict(errors)


def neighbour_errors(neighbour) -> dict[str, list[str]]:
    errors: defaultdict[str, list[str]] = defaultdict(list)
    if message := asn_error(neighbour.asn):
        errors["asn"].append(message)
    if neighbour.address and (message := _unusable_address(neighbour.address)):
        errors["address"].append(message)
    password = neighbour.password or ""
    if any(not ("!" <= ch <= "~") for ch in password):
        # bgpd reads it as one word of its configuration: no spaces, plain ASCII.
        errors["password"].append("Use printable ASCII without spaces.")
    if any(ch.isspace() for ch in neighbour.description or ""):
        errors["description"].append("One word (letters, digits, - _ .): bgpd reads it as one token.")
    return dict(errors)


def mode_errors(settings) -> dict[str, list[str]]:
    """What stops this appliance from running in the mode chosen, named on the `mode` field."""
    from virtualservices.models import VirtualService
    from virtualservices.validation import active_active_errors

    from .compile import vrrp_holds_addresses  # compile and models import this module
    from .models import ACTIVE_ACTIVE, FloatingIP

    if settings.mode != ACTIVE_ACTIVE:
        return _leaving_errors(settings)
    problems = []
    if vrrp_holds_addresses():
        problems.append("This appliance is in an HA pair: unpair it first (active-active has no VRRP).")
    if FloatingIP.objects.exists():
        problems.append("Delete the floating IPs first: in active-active every member would hold them.")
    refused = []
    for svc in VirtualService.objects.order_by("label").only("label", "scheduler", "persistent"):
        fields = active_active_errors(svc)
        if fields:
            refused.append(f"{svc.label} ({', '.join(sorted(fields))})")
    if refused:
        problems.append("These services need the Maglev scheduler (mh) without persistence first: "
                        + "; ".join(refused[:20]) + (f"; and {len(refused) - 20} more" if len(refused) > 20 else ""))
    return {"mode": problems} if problems else {}


def _leaving_errors(settings) -> dict[str, list[str]]:
    """Leaving active-active while members are listed would strand them: they keep the last configuration
    and go on announcing its VIPs, and no sync reaches them any more."""
    from .models import ACTIVE_ACTIVE, ClusterSettings

    was = ClusterSettings.objects.filter(pk=settings.pk).values_list("mode", flat=True).first()
    members = member_count() if was == ACTIVE_ACTIVE else 0
    if not members:
        return {}
    return {"mode": [f"{members} active-active member{'s are' if members > 1 else ' is'} still listed here: remove "
                     "them first (Active-active: BGP › Members), so none keeps announcing this configuration's VIPs."]}


MAX_MEMBERS = 16  # active-active members, the edited one included


def member_errors(member, *, mode_active_active: bool, others: int, taken: bool) -> dict[str, list[str]]:
    """Whether `member` may join the active-active cluster edited here; each problem named on its field.

    `others`: members already in the list; `taken`: another member has this address and port."""
    errors: defaultdict[str, list[str]] = defaultdict(list)
    if not mode_active_active:
        errors["address"].append("Members are for active-active mode: choose it under Cluster → Advanced first.")
    ip = ipaddress.ip_address(str(member.address))
    if ip.is_unspecified or ip.is_multicast:
        errors["address"].append(f"{member.address} is not an appliance's address.")
    if taken:
        errors["address"].append(f"{member.address} port {member.port} is a member already.")
    if others >= MAX_MEMBERS - 1:
        errors["address"].append(f"An active-active cluster has at most {MAX_MEMBERS} members, this one included.")
    return dict(errors)
