"""The checklist of a service, the one in the appliance: what must be true outside it for the service
to work. Three kinds of item in one list: probed checks merged with their stored results (a check
never run is "not run"), checks read from the configuration (pass / warn), and steps only the admin
can take ("todo": no probe can see a health-check firewall rule). Then the numbered steps to copy.
One shape for the API and the templates."""

from __future__ import annotations

import ipaddress

from django.db.models import Q
from pyroute2.netlink.exceptions import NetlinkError

from checklists import steps
from checklists.probes import engine as E
from checklists.probes.host import HostNet
from cluster.models import ClusterSettings, FloatingIP
from dataplane import config as dp
from virtualservices import choices
from virtualservices.models import VirtualService
from virtualservices.validation import IKE_PORTS, family

from .models import STATUSES, CheckResult, CheckRun

IKEV2 = "ikev2_method"  # static: IKEv2 needs a transparent method
TODO = "todo"  # a step only the admin can take and no probe sees; never part of the overall status
ORDER = {E.FAIL: 0, E.WARN: 1, E.NOT_RUN: 2, E.PASS: 3}
WORDS = dict(STATUSES) | {TODO: "To do"}


def _ike(svc) -> bool:
    ports = {p for r in svc.port_ranges if r.last - r.first < 70000 for p in range(r.first, r.last + 1)}
    return "udp" in svc.l4_protocols and bool(ports & IKE_PORTS)


def windows_servers(svc) -> bool:
    """Whether the real servers are most likely Windows: the Always On VPN services (RRAS, NPS)."""
    return svc.check_type in (choices.CHECK_SSTP, choices.CHECK_IKEV2, choices.CHECK_RADIUS)


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
    statuses = [s for s in statuses if s != TODO]
    return min(statuses, key=ORDER.__getitem__) if statuses else E.NOT_RUN


def _known(key: str, status: str, title: str, text: str, blocks: tuple[str, ...] = ()) -> dict:
    """An item read from the configuration (pass / warn: ``text`` is the evidence) or a step for the
    admin (todo: ``text`` says what to do and why)."""
    todo = status == TODO
    return {"key": key, "title": title, "status": status, "evidence": "" if todo else text, "facts": {},
            "fix": text if todo else "", "steps": list(blocks), "checked_at": None, "stale": False}


def appliance_source(address: str) -> str:
    """The address the appliance sends from towards `address`: what a real server behind SNAT sees.
    A route lookup only (no packet is sent); "" when there is no route."""
    host = HostNet()
    try:
        route = host.route(address)
    except (OSError, NetlinkError):
        route = None
    finally:
        host.close()
    return (route.prefsrc or "") if route else ""


def _radius_items(svc, servers) -> list[dict]:
    """NPS behind the load balancer: NPS knows the load balancer as its RADIUS client, and every VPN
    server sends RADIUS to the NPS VIP (never to the VPN VIP it holds itself with DR)."""
    sources = sorted({appliance_source(str(s.address)) for s in servers} - {""})
    me = ", ".join(sources) or "the appliance's address facing the NPS servers (no route to them now)"
    vip = str(svc.vip)
    vpn = (VirtualService.objects.filter(check_type__in=(choices.CHECK_SSTP, choices.CHECK_IKEV2))
           .exclude(pk=svc.pk).prefetch_related("real_servers"))
    labels: dict[str, list[str]] = {}
    for rs in (rs for v in vpn for rs in v.real_servers.all()):
        labels.setdefault(str(rs.address), []).append(rs.label)
    rras = [f"{address} ({', '.join(sorted(names))})" for address, names in sorted(labels.items())]
    return [
        _known("radius_client", TODO, f"Add the load balancer ({me}) as a RADIUS client on each NPS",
               f"With SNAT every request, the VPN servers' too, reaches NPS from {me}. Use the shared secret "
               "set in this service's health check."),
        _known("radius_server", TODO, f"Set the NPS VIP {vip} as the RADIUS server on each VPN server",
               (f"On {', '.join(rras)}" if rras else "On each RRAS server")
               + f": authentication and accounting go to {vip} with the same shared secret.", ("windows_rras",)),
    ]


def _method_items(svc, servers) -> list[dict]:
    """What the forwarding method asks of the real servers; the probes verify the parts they can see."""
    ports = svc.ports or "all ports"
    if svc.method == dp.DR:
        return [
            _known("arp_problem", TODO, "Solve the ARP problem on every real server",
                   "Direct Routing delivers packets addressed to the VIP: each real server must accept them (VIP "
                   "on a loopback) and must never answer ARP for the VIP, or clients bypass the load balancer. "
                   "Windows: a loopback adapter with weak host send/receive; Linux: sysctls and the VIP on lo.",
                   ("linux", "windows_powershell", "windows_netsh")),
            _known("listen_port", TODO, "Real servers listen on the VIP's port",
                   f"DR cannot translate ports: services on the real servers must listen on {ports}."),
        ]
    if svc.method == dp.NAT:
        floating = [str(f) for f in FloatingIP.objects.all()[:5]]
        return [_known("gateway", TODO, "Make the load balancer each real server's default gateway",
                       "NAT is transparent only if replies return through the load balancer. "
                       + (f"Use a floating IP as gateway: {', '.join(floating)}." if floating else
                          "Add a floating IP on the internal side so the gateway survives a failover."),
                       ("linux", "windows_powershell") if servers else ())]
    if svc.method == dp.SNAT:
        return [_known("snat", E.PASS, "No change needed on the real servers",
                       "They see connections from the load balancer's address and reply to it. Their logs show the "
                       "load balancer, not the client.")]
    if svc.method == dp.TUN:
        return [_known("tunnel", TODO, "Terminate the IP-in-IP tunnel on every real server",
                       "Each real server decapsulates and holds the VIP on the tunnel interface; reverse-path "
                       "filtering must allow it.", ("linux",))]
    return []


def configuration_items(svc, servers) -> list[dict]:
    """The items read from the configuration and the admin's steps, in the order they are done."""
    vip, ports = str(svc.vip), svc.ports or "all ports"
    if servers:
        items = [_known("real_servers", E.PASS, f"{len(servers)} real server{'' if len(servers) == 1 else 's'} "
                        "defined", ", ".join(f"{s.label} {s.address}" for s in servers))]
    else:
        items = [_known("real_servers", E.WARN, "Add real servers",
                        f"The service has no real server, so nothing answers on {vip}.")]
    items += _method_items(svc, servers)
    for field, texts in svc.warnings().items():
        items += [_known(f"review_{field}", E.WARN, f"Review {field.replace('_', ' ')}", text) for text in texts]
    if svc.needs_fwmark and svc.fwmark:
        items.append(_known("fwmark", E.PASS, f"Ports {ports} share firewall mark {svc.fwmark}",
                            "One IPVS service for all of them, so a client's packets reach the same server."
                            + ("" if svc.persistent else " Turn persistence on if a client must stay on one "
                                                         "server across ports.")))
    check = svc.check_type
    if check == choices.CHECK_NONE:
        items.append(_known("health_check", E.WARN, "No health check",
                            "A failed real server keeps receiving connections."))
    else:
        port = f"port {svc.check_port}" if svc.check_port else "each real server's own port"
        items.append(_known("health_check", TODO,
                            f"Allow the health check: {dict(choices.CHECK_TYPES).get(check, check)} on {port}",
                            "Firewalls on the real servers must accept it from the appliance's own address."))
    if check == choices.CHECK_SSTP:
        items.append(_known("sstp", TODO, "SSTP: the TLS certificate and the SSTP URL",
                            f"Each RRAS server answers https://…{choices.SSTP_PATH} with its VPN certificate (the "
                            "name clients use). The health check expects 401 Unauthorized there: that is how RRAS "
                            "answers a request that is not an SSTP handshake, so 401 means SSTP is up."))
    if check == choices.CHECK_RADIUS:
        items += _radius_items(svc, servers)
    if check == choices.CHECK_IKEV2:
        on = f"on ({svc.persistence_timeout} s)" if svc.persistent else "off"
        items.append(_known("ikev2_persistence", E.PASS if svc.persistent else E.WARN,
                            "IKEv2: persistence keeps IKE and NAT-T together", f"Persistence is {on}."))
    items.append(_known("apply", TODO, "Apply, then test from a client",
                        "Maintenance › Apply pushes the configuration to the kernel; the overview then shows the "
                        "real servers' health."))
    return items


def _blocks(svc, gateway: str) -> dict[str, list[steps.Step]]:
    windows = windows_servers(svc)
    blocks: dict[str, list[steps.Step]] = {}
    if svc.method == dp.DR:
        blocks = steps.dr_blocks(str(svc.vip), windows_first=windows)
    elif svc.method == dp.NAT and gateway:
        blocks = steps.nat_blocks(gateway, windows_first=windows)
    elif svc.method == dp.TUN:
        blocks = steps.tun_blocks(str(svc.vip))
    if svc.check_type == choices.CHECK_RADIUS:
        blocks = steps.radius_blocks(str(svc.vip)) | blocks
    return blocks


def _purpose(name: str, svc) -> str:
    """What a step block is for, after its title."""
    if name == "windows_rras":
        return f"RADIUS to the NPS VIP {svc.vip}"
    return {dp.DR: f"the ARP problem for {svc.vip}", dp.NAT: "the appliance as default gateway",
            dp.TUN: f"the IP-in-IP tunnel for {svc.vip}"}.get(svc.method, "")


def build(svc) -> dict:
    """The checklist of ``svc``: service items, per real server items, the steps, the last run."""
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
    gateway, note = "", ""
    if svc.method == dp.NAT and servers:
        gateway = sorted(gateways)[0] if len(gateways) == 1 else ""
        if family(gateway) is None:  # a copy block holds commands only, never prose: a placeholder, explained
            gateway, note = "GATEWAY", ("Replace GATEWAY with a floating IP (or the appliance's address) in the "
                                        "real servers' subnet: " + "; ".join(sorted(gateways)) + ".")
    blocks = _blocks(svc, gateway)
    items = configuration_items(svc, servers) + items
    everything = [i["status"] for i in items] + [i["status"] for r in rs_rows for i in r["items"]]
    last = CheckRun.objects.filter(Q(service=svc) | Q(service__isnull=True)).order_by("-id").first()
    counts = {s: everything.count(s) for s in (E.PASS, E.FAIL, E.WARN, E.NOT_RUN, TODO)}
    return {
        "service": {"id": svc.pk, "label": svc.label, "vip": str(svc.vip), "method": svc.method},
        "status": worst(everything),
        "counts": counts,
        "last_run": last.as_dict() if last else None,
        "running": bool(last and last.status in (CheckRun.QUEUED, CheckRun.RUNNING)),
        "items": items,
        "real_servers": rs_rows,
        "steps": {name: {"title": steps.BLOCK_TITLES[name], "purpose": _purpose(name, svc),
                         "steps": [s.as_dict() for s in block]}
                  for name, block in blocks.items()},
        "steps_note": note,
    }
