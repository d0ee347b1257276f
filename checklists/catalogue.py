"""The checklist of a service: which checks apply, their titles and fixes, merged with the stored
results (a check never run is "not run"). One shape for the API and the templates."""

from __future__ import annotations

import ipaddress

from checklists import steps
from checklists.probes import engine as E
from dataplane import config as dp

IKEV2 = "ikev2_method"  # static: IKEv2 needs a transparent method
ORDER = {E.FAIL: 0, E.WARN: 1, E.NOT_RUN: 2, E.PASS: 3}


def _ike(svc) -> bool:
    from virtualservices.validation import IKE_PORTS

    ports = {p for r in svc.port_ranges if r.last - r.first < 70000 for p in range(r.first, r.last + 1)}
    return "udp" in svc.l4_protocols and bool(ports & IKE_PORTS)


def windows_servers(svc) -> bool:
    """Whether the real servers are most likely Windows: the Always On VPN services (RRAS, NPS)."""
    from virtualservices import choices

    return svc.check_type in (choices.CHECK_SSTP, choices.CHECK_IKEV2, choices.CHECK_RADIUS)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def gateway_for(rs_address: str, floating: list, appliance_address: str | None) -> str:
    """The address a NAT real server should use as gateway: a floating IP in its subnet, else the
    appliance's own address there."""
    try:
        ip = ipaddress.ip_address(rs_address)
    except ValueError:
        return appliance_address or "the appliance's address"
    for f in floating:
        net = ipaddress.ip_network(f"{f.address}/{f.prefixlen}", strict=False)
        if ip.version == net.version and ip in net:
            return str(f.address)
    return appliance_address or "the appliance's address in its subnet"


def _title(key: str, svc, rs=None) -> str:
    vip = str(svc.vip)
    name = rs.label if rs else ""
    return {
        E.SUBNET: f"The appliance has an interface in {name}'s subnet",
        E.ARP: f"{name} does not answer ARP for {vip}",
        E.ACCEPT: f"{name} accepts traffic for {vip}",
        E.GATEWAY: f"{name} sends its replies back through the appliance (default gateway)",
        E.AUTONAT: f"{name}'s own outbound traffic leaves masqueraded (Autonat)",
        E.ARP_VIP: f"Only the appliance answers ARP for {vip}",
        E.FORWARDING: "IP forwarding is on",
        IKEV2: "IKEv2 uses a transparent method (DR or NAT)",
    }[key]


def _fix(key: str, svc, rs=None, gateway: str = "", autonat: str = "") -> tuple[str, list[str]]:
    """(fix text, step blocks that carry the commands)."""
    vip = str(svc.vip)
    if key == E.SUBNET:
        need = "DR only rewrites the MAC address" if svc.method == dp.DR else "NAT needs the appliance as gateway"
        return (f"Give the appliance an address (or a floating IP) in {rs.address}'s subnet on the interface facing "
                f"the real servers: {need}.", [])
    if key == E.ARP:
        return (f"Solve the ARP problem on {rs.label}: Linux arp_ignore=1 and arp_announce=2 (persistent in "
                f"{steps.SYSCTL_FILE}); Windows: {vip} on the loopback adapter only, with weak host send/receive.",
                ["linux", "windows_powershell", "windows_netsh"])
    if key == E.ACCEPT:
        return (f"Put {vip}/32 on {rs.label}'s loopback (Linux: ip addr add {vip}/32 dev lo, made persistent; "
                f"Windows: the loopback adapter with weak host receive/send), and listen on port "
                f"{svc.single_port or svc.ports}.", ["linux", "windows_powershell", "windows_netsh"])
    if key == E.GATEWAY:
        return (f"Make {gateway} {rs.label}'s default gateway (a floating IP survives a failover), and let it "
                "answer ping or the service port from any address.", ["linux", "windows_powershell"])
    if key == E.AUTONAT:
        if autonat:
            return (f"Autonat masquerades out of {autonat}: the real servers' outbound route must leave through "
                    "it, and the configuration must be applied.", [])
        return ("If the real servers need outbound access (updates, CRL checks, DNS), set the Autonat interface "
                "to the external interface (Cluster › Advanced) and apply.", [])
    if key == E.ARP_VIP:
        return ("Solve the ARP problem on the real servers named in the evidence; a MAC that is no real server "
                f"means another host holds {vip} (an address conflict).", ["linux", "windows_powershell"])
    if key == E.FORWARDING:
        return ("Apply the configuration on the kernel dataplane (it sets net.ipv4.ip_forward=1), or by hand: "
                "sysctl -w net.ipv4.ip_forward=1.", [])
    if key == IKEV2:
        return ("Use DR or NAT for IKEv2: on SNAT every client comes from the appliance's address and Windows "
                "limits IPsec security associations per source address.", [])
    return "", []


def _item(key, svc, stored, rs=None, **fix_kw) -> dict:
    fix, blocks = _fix(key, svc, rs, **fix_kw)
    res = stored.get((rs.id if rs else None, key))
    changed = max([t for t in (svc.updated_at, getattr(rs, "updated_at", None)) if t] or [None]) \
        if res is not None else None
    return {
        "key": key,
        "title": _title(key, svc, rs),
        "status": res.status if res else E.NOT_RUN,
        "evidence": res.evidence if res else "Not run yet: re-check, or apply the configuration.",
        "facts": res.facts if res else {},
        "fix": fix,
        "steps": blocks,
        "checked_at": res.checked_at if res else None,
        "stale": bool(res and changed and changed > res.checked_at),
    }


def worst(statuses) -> str:
    statuses = list(statuses)
    return min(statuses, key=ORDER.__getitem__) if statuses else E.NOT_RUN


def build(svc) -> dict:
    """The checklist of ``svc``: service items, per real server items, the steps, the last run."""
    from django.db.models import Q

    from cluster.models import ClusterSettings, FloatingIP

    from .models import CheckResult, CheckRun

    stored = {(r.real_server_id, r.key): r for r in CheckResult.objects.filter(service=svc)}
    servers = list(svc.real_servers.all())
    skeys, rkeys = E.keys_for(svc.method)
    items = [_item(k, svc, stored) for k in skeys]
    if _ike(svc):
        ok = svc.method in (dp.DR, dp.NAT)
        fix, _ = _fix(IKEV2, svc)
        items.append({"key": IKEV2, "title": _title(IKEV2, svc), "status": E.PASS if ok else E.WARN,
                      "evidence": (f"IKEv2 (UDP 500/4500) on {svc.get_method_display()}: "
                                   + ("transparent, clients keep their addresses." if ok else
                                      " ".join(t for ts in svc.warnings().values() for t in ts if "IKEv2" in t))),
                      "facts": {}, "fix": fix, "steps": [], "checked_at": None, "stale": False})
    autonat = ClusterSettings.load().autonat_interface if svc.method == dp.NAT else ""
    floating = list(FloatingIP.objects.all()) if svc.method == dp.NAT else []
    rs_rows, gateways = [], set()
    for rs in servers:
        mine = stored.get((rs.id, E.SUBNET))
        gw = gateway_for(str(rs.address), floating, (mine.facts or {}).get("appliance_address") if mine else None)
        gateways.add(gw)
        rows = [_item(k, svc, stored, rs, gateway=gw, autonat=autonat) for k in rkeys]
        rs_rows.append({"id": rs.id, "label": rs.label, "address": str(rs.address),
                        "status": worst(r["status"] for r in rows), "items": rows})
    blocks: dict = {}
    windows = windows_servers(svc)
    note = ""
    if svc.method == dp.DR:
        blocks = steps.dr_blocks(str(svc.vip), windows_first=windows)
    elif svc.method == dp.NAT and servers:
        gateway = sorted(gateways)[0] if len(gateways) == 1 else ""
        if not _is_ip(gateway):  # a copy block holds commands only, never prose: a placeholder, explained
            gateway, note = "GATEWAY", ("Replace GATEWAY with a floating IP (or the appliance's address) in the "
                                        "real servers' subnet: " + "; ".join(sorted(gateways)) + ".")
        blocks = steps.nat_blocks(gateway, windows_first=windows)
    everything = [i["status"] for i in items] + [i["status"] for r in rs_rows for i in r["items"]]
    last = CheckRun.objects.filter(Q(service=svc) | Q(service__isnull=True)).order_by("-id").first()
    counts = {s: everything.count(s) for s in (E.PASS, E.FAIL, E.WARN, E.NOT_RUN)}
    return {
        "service": {"id": svc.pk, "label": svc.label, "vip": str(svc.vip), "method": svc.method},
        "status": worst(everything),
        "counts": counts,
        "last_run": last.as_dict() if last else None,
        "running": bool(last and last.status in (CheckRun.QUEUED, CheckRun.RUNNING)),
        "items": items,
        "real_servers": rs_rows,
        "steps": {name: {"title": steps.BLOCK_TITLES[name], "steps": [s.as_dict() for s in block]}
                  for name, block in blocks.items()},
        "steps_note": note,
    }
