"""What an admin must do outside the appliance for a service to work, derived from its settings."""

from __future__ import annotations

from checklists import steps
from cluster.models import ClusterSettings, FloatingIP
from dataplane import config as dp
from virtualservices import choices
from virtualservices.models import VirtualService

OK, TODO, WARN = "ok", "todo", "warn"


def _item(status, title, detail, commands=None):
    return {"status": status, "title": title, "detail": detail, "commands": commands or []}


def appliance_source(address: str) -> str:
    """The address the appliance sends from towards `address`: what a real server behind SNAT sees.
    A route lookup only (no packet is sent); "" when there is no route."""
    from pyroute2.netlink.exceptions import NetlinkError

    from checklists.probes.host import HostNet

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
        _item(TODO, f"Add the load balancer ({me}) as a RADIUS client on each NPS",
              f"With SNAT every request, the VPN servers' too, reaches NPS from {me}. Use the shared secret "
              "set in this service's health check."),
        _item(TODO, f"Set the NPS VIP {vip} as the RADIUS server on each VPN server",
              (f"On {', '.join(rras)}" if rras else "On each RRAS server")
              + f": authentication and accounting go to {vip} with the same shared secret.",
              steps.commands(steps.windows_rras_radius(vip))),
    ]


def checklist(svc, servers) -> list[dict]:
    items = []
    vip, ports = str(svc.vip), svc.ports or "all ports"
    if servers:
        items.append(_item(OK, f"{len(servers)} real server{'' if len(servers) == 1 else 's'} defined",
                           ", ".join(f"{s.label} {s.address}" for s in servers)))
    else:
        items.append(_item(WARN, "Add real servers", "The service has no real server, so nothing answers on "
                                                     f"{vip}."))
    if svc.method == dp.DR:
        # The commands live once, in checklists.steps, shown below with the probes' results.
        items.append(_item(TODO, "Solve the ARP problem on every real server",
                           "Direct Routing delivers packets addressed to the VIP: each real server must accept "
                           "them (VIP on a loopback) and must never answer ARP for the VIP, or clients bypass "
                           "the load balancer. Windows: a loopback adapter with weak host send/receive; Linux: "
                           "sysctls and the VIP on lo. The numbered steps below have the VIP filled in."))
        items.append(_item(TODO, "Real servers listen on the VIP's port",
                           f"DR cannot translate ports: services on the real servers must listen on {ports}."))
        items.append(_item(TODO, "The appliance has an interface in the real servers' subnet",
                           "DR rewrites only the MAC address, so real servers must be on a directly attached "
                           "network."))
    elif svc.method == dp.NAT:
        floating = [str(f) for f in FloatingIP.objects.all()[:5]]
        items.append(_item(TODO, "Make the load balancer each real server's default gateway",
                           "NAT is transparent only if replies return through the load balancer (numbered steps "
                           "below). "
                           + (f"Use a floating IP as gateway: {', '.join(floating)}." if floating else
                              "Add a floating IP on the internal side so the gateway survives a failover.")))
        autonat = ClusterSettings.load().autonat_interface
        items.append(_item(OK if autonat else TODO, "Autonat for the real servers' own traffic",
                           f"Autonat masquerades their outbound traffic out of {autonat}." if autonat else
                           "Real servers that must reach the Internet (updates, CRL checks) need Autonat: "
                           "Cluster Configuration › Advanced."))
    elif svc.method == dp.SNAT:
        items.append(_item(OK, "No change needed on the real servers",
                           "They see connections from the load balancer's address and reply to it. Their logs "
                           "show the load balancer, not the client."))
    elif svc.method == dp.TUN:
        items.append(_item(TODO, "Terminate the IP-in-IP tunnel on every real server",
                           "Each real server decapsulates and holds the VIP on the tunnel interface; reverse-path "
                           "filtering must allow it.",
                           ["modprobe ipip", f"ip addr add {vip}/32 dev tunl0", "ip link set tunl0 up",
                            "sysctl -w net.ipv4.conf.tunl0.rp_filter=0", "sysctl -w net.ipv4.conf.all.rp_filter=0"]))
    for field, texts in svc.warnings().items():
        for text in texts:
            items.append(_item(WARN, f"Review {field.replace('_', ' ')}", text))
    if svc.needs_fwmark and svc.fwmark:
        items.append(_item(OK, f"Ports {ports} share firewall mark {svc.fwmark}",
                           "One IPVS service for all of them, so a client's packets reach the same server."
                           + ("" if svc.persistent else " Turn persistence on if a client must stay on one "
                                                        "server across ports.")))
    check = svc.check_type
    check_text = dict(choices.CHECK_TYPES).get(check, check)
    if check == choices.CHECK_NONE:
        items.append(_item(WARN, "No health check", "A failed real server keeps receiving connections."))
    else:
        port = f"port {svc.check_port}" if svc.check_port else "each real server's own port"
        items.append(_item(TODO, f"Allow the health check: {check_text} on {port}",
                           "Firewalls on the real servers must accept it from the appliance's own address."))
    if check == choices.CHECK_SSTP:
        items.append(_item(TODO, "SSTP: the TLS certificate and the SSTP URL",
                           f"Each RRAS server answers https://…{choices.SSTP_PATH} with its VPN certificate "
                           "(the name clients use). The health check expects 401 Unauthorized there: that is how "
                           "RRAS answers a request that is not an SSTP handshake, so 401 means SSTP is up."))
    if check == choices.CHECK_RADIUS:
        items += _radius_items(svc, servers)
    if check == choices.CHECK_IKEV2:
        items.append(_item(OK if svc.persistent else WARN, "IKEv2: persistence keeps IKE and NAT-T together",
                           f"Persistence is {'on' if svc.persistent else 'off'}"
                           f"{f' ({svc.persistence_timeout} s)' if svc.persistent else ''}."))
    items.append(_item(TODO, "Apply, then test from a client",
                       "Maintenance › Apply pushes the configuration to the kernel; the overview then shows "
                       "the real servers' health."))
    return items
