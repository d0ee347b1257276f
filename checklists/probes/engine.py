"""The checklist probes, run from the appliance: plain targets in, plain findings out.

Per link that reaches real servers directly (one AF_PACKET socket each), in two rounds:

1. ARP: who-has each real server's address (its MAC, preferred over the neighbour table) and
   who-has each DR VIP. Any VIP answer from a MAC that is not the appliance's fails: the MAC
   names the real server (or an unknown host) that has not solved the ARP problem.
2. IP, each packet in an Ethernet frame addressed to one real server's MAC:
   - DR acceptance: a TCP SYN (or UDP datagram) to VIP:port from the appliance's address on
     that link. A SYN-ACK (or a UDP answer) from the VIP proves the server accepts VIP traffic;
     a RST or port-unreachable proves it too, but nothing listens. Silence: no VIP on its
     loopback. Our SYN-ACKs are reset at once, so the server keeps no half-open connection.
   - NAT return path: a TCP SYN / UDP datagram to the real server's own port plus a ping, from
     an appliance address OUTSIDE its subnet (the VIP when held here). The server must route
     its answer through its default gateway; it reaches this link addressed to the appliance's
     MAC, straight from the server's MAC, only if that gateway is the appliance.

Then the host facts: IP forwarding, and Autonat (the route the kernel picks for a real server's
outbound packets, the MASQUERADE rule on that interface, and conntrack's record of what real
servers really sent: masqueraded or not). With Autonat off, conntrack may not be tracking at all
(no rule needs it), so the egress interface is also watched for one timeout: real servers'
packets leaving there with their own address are the evidence that they need Autonat.

Nothing here changes the host; the probes only send the frames described above.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterable
from dataclasses import dataclass, field

from . import packets as P
from .host import HostNet, Link

PASS, FAIL, WARN, NOT_RUN = "pass", "fail", "warn", "not_run"

# Check keys. Per real server:
SUBNET = "subnet"  # DR, NAT: the appliance has an interface in the real server's subnet
ARP = "arp"  # DR: the real server does not answer ARP for the VIP
ACCEPT = "dr_accept"  # DR: the real server accepts packets for the VIP
GATEWAY = "nat_gateway"  # NAT: replies return through the appliance
AUTONAT = "autonat"  # NAT: the real server's own outbound traffic leaves masqueraded
# Per service:
ARP_VIP = "arp_vip"  # DR: nobody but the appliance answers ARP for the VIP
FORWARDING = "ip_forward"  # NAT, SNAT: IPv4 forwarding on

OUTSIDE_PROBE = "198.51.100.1"  # TEST-NET-2: only a route lookup key, never sent to
PROBE_PORTS = (61000, 64999)


@dataclass(frozen=True)
class ServerTarget:
    id: int
    label: str
    address: str
    port: int | None = None  # None: the VIP's port


@dataclass(frozen=True)
class ServiceTarget:
    id: int
    label: str
    vip: str
    method: str  # dr / nat / snat / tun
    protocols: tuple[str, ...] = ("tcp",)  # l4 protocols ("tcp", "udp"); empty for firewall-mark only
    port: int | None = None  # the first VIP port; None for a firewall-mark service without ports
    real_servers: tuple[ServerTarget, ...] = ()


@dataclass(frozen=True)
class Finding:
    service_id: int
    server_id: int | None
    key: str
    status: str
    evidence: str
    facts: dict = field(default_factory=dict, compare=False)

    def as_dict(self) -> dict:
        return {"service_id": self.service_id, "server_id": self.server_id, "key": self.key,
                "status": self.status, "evidence": self.evidence, "facts": self.facts}


def keys_for(method: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(service keys, real-server keys) the probes produce for a method."""
    if method == "dr":
        return (ARP_VIP,), (SUBNET, ARP, ACCEPT)
    if method == "nat":
        return (FORWARDING,), (SUBNET, GATEWAY, AUTONAT)
    if method == "snat":
        return (FORWARDING,), ()
    return (), ()


def _v4(ip: str) -> bool:
    return ipaddress.ip_address(ip).version == 4


class _Run:
    def __init__(self, services, autonat_interface, timeout, host):
        self.services = [s for s in services if keys_for(s.method) != ((), ())]
        self.autonat = autonat_interface
        self.timeout = timeout
        self.host = host
        self.findings: list[Finding] = []
        self.ports = random.Random()
        self.used_ports: set[int] = set()

    def add(self, svc, rs, key, status, evidence, **facts):
        self.findings.append(Finding(svc.id, rs.id if rs else None, key, status, evidence, facts))

    def sport(self, avoid: Iterable[int] = ()) -> int:
        avoid = set(avoid)
        while True:
            p = self.ports.randint(*PROBE_PORTS)
            if p not in self.used_ports and p not in avoid:
                self.used_ports.add(p)
                return p

    # ------------------------------------------------------------------ the run

    def run(self) -> list[Finding]:
        if not _privileged():
            for svc in self.services:
                self._not_run_all(svc, NO_PRIVILEGE)
            return self.findings
        by_link: dict[str, list[tuple[ServiceTarget, ServerTarget, Link]]] = {}
        for svc in self.services:
            if not _v4(svc.vip):
                self._not_run_all(svc, "IPv6 services are not probed yet: work through the steps by hand.")
                continue
            if svc.method in ("dr", "nat"):
                for rs in svc.real_servers:
                    link = self._subnet(svc, rs)
                    if link is not None:
                        by_link.setdefault(link.name, []).append((svc, rs, link))
        links = {name: items[0][2] for name, items in by_link.items()}
        for name, items in by_link.items():
            self._probe_link(links[name], items)
        for svc in self.services:
            if _v4(svc.vip) and svc.method in ("nat", "snat"):
                self._forwarding(svc)
            if _v4(svc.vip) and svc.method == "nat":
                self._autonat(svc)
        return self.findings

    def _not_run_all(self, svc, why):
        skeys, rkeys = keys_for(svc.method)
        for key in skeys:
            self.add(svc, None, key, NOT_RUN, why)
        for rs in svc.real_servers:
            for key in rkeys:
                self.add(svc, rs, key, NOT_RUN, why)

    def _subnet(self, svc, rs) -> Link | None:
        """SUBNET for one real server; the link that reaches it directly, or None."""
        rkeys = keys_for(svc.method)[1]
        later = [k for k in rkeys if k not in (SUBNET, AUTONAT)]
        if not _v4(rs.address):
            for key in rkeys:
                self.add(svc, rs, key, NOT_RUN, f"{rs.address} is IPv6: not probed yet.")
            return None
        route = self.host.route(rs.address)
        link = self.host.link(route.oif) if route else None
        if route is None or link is None:
            why = f"The appliance has no route to {rs.address}."
        elif route.gateway:
            why = (f"{rs.address} is reached through the router {route.gateway} on {route.oif}, not on a "
                   f"directly attached network.")
        elif not link.address_in(rs.address):
            why = f"{rs.address} is routed out of {link.name}, but no address of {link.name} is in its subnet."
        else:
            mine = link.address_in(rs.address)
            self.add(svc, rs, SUBNET, PASS, f"{rs.address} is on {link.name}, directly attached "
                     f"({', '.join(link.subnets())}); the appliance is {mine} there.", interface=link.name,
                     appliance_address=mine)
            return link
        self.add(svc, rs, SUBNET, FAIL, why, route_via=route.gateway if route else None)
        for key in later:
            self.add(svc, rs, key, NOT_RUN, "Not probed: the real server is not on a directly attached network.")
        return None

    # ------------------------------------------------------------------ per link

    def _probe_link(self, link: Link, items):
        from .wire import Wire

        try:
            wire = Wire(link.name)
        except PermissionError:
            for svc, rs, _ in items:
                for key in keys_for(svc.method)[1]:
                    if key not in (SUBNET, AUTONAT):
                        self.add(svc, rs, key, NOT_RUN, NO_PRIVILEGE)
            return
        try:
            macs = self._arp_round(wire, link, items)
            self._ip_round(wire, link, items, macs)
        finally:
            wire.close()

    def _arp_round(self, wire, link, items) -> dict[str, str]:
        rips = sorted({rs.address for _, rs, _ in items})
        dr = {svc.id: svc for svc, _, _ in items if svc.method == "dr"}
        vips = sorted({svc.vip for svc in dr.values()})
        src = link.addresses[0][0] if link.addresses else "0.0.0.0"
        frames = [P.arp_request(link.mac, link.address_in(ip) or src, ip) for ip in rips + vips]
        got = wire.exchange(frames, timeout=self.timeout, tries=3)
        answers: dict[str, set[str]] = {}
        for pkt in got:
            if isinstance(pkt, P.Arp) and pkt.op == 2:
                answers.setdefault(pkt.sender_ip, set()).add(pkt.sender_mac)
        macs = {}
        for ip in rips:
            found = sorted(answers.get(ip, ()))
            macs[ip] = found[0] if found else self.host.neighbour(ip, link)
        who: dict[str, list[str]] = {}  # MAC -> real servers (labels) it belongs to, any service
        for _svc, rs, _ in items:
            if macs.get(rs.address):
                name = f"{rs.label} ({rs.address})"
                if name not in who.setdefault(macs[rs.address], []):
                    who[macs[rs.address]].append(name)
        own = self.host.own_macs()
        tries = f"3 ARP requests over {self.timeout:.1f} s on {link.name}"
        for svc in dr.values():
            foreign = sorted(m for m in answers.get(svc.vip, ()) if m not in own)
            unknown = [m for m in foreign if m not in who]
            if unknown:
                self.add(svc, None, ARP_VIP, FAIL,
                         f"{', '.join(unknown)} answered ARP who-has {svc.vip} and is not a real server of the "
                         f"appliance's services: an address conflict on {link.name}.", macs=unknown)
            elif foreign:
                names = "; ".join(f"{m} = {', '.join(who[m])}" for m in foreign)
                self.add(svc, None, ARP_VIP, FAIL, f"Real servers answered ARP who-has {svc.vip}: {names}. Clients "
                         "would send VIP traffic straight to them.", macs=foreign)
            else:
                self.add(svc, None, ARP_VIP, PASS, f"Only the appliance may answer for {svc.vip}: no other host "
                         f"answered {tries}.")
        for svc, rs, _ in items:
            if svc.method != "dr":
                continue
            mac = macs.get(rs.address)
            answered = answers.get(svc.vip, set())
            if mac is None:
                self.add(svc, rs, ARP, NOT_RUN, f"{rs.address} did not answer ARP on {link.name} and is not in the "
                         "neighbour table: is it up?")
            elif mac in answered:
                self.add(svc, rs, ARP, FAIL, f"{rs.label} ({rs.address}, MAC {mac}) answered ARP who-has {svc.vip}: "
                         "it does not ignore ARP for the VIP.", mac=mac)
            else:
                self.add(svc, rs, ARP, PASS, f"{rs.label} (MAC {mac}) did not answer ARP who-has {svc.vip} "
                         f"({tries}).", mac=mac)
        return {ip: m for ip, m in macs.items() if m}

    def _ip_round(self, wire, link, items, macs):
        local = self.host.local_addresses()
        probes = []  # (svc, rs, key, mac, description, match(pkt) -> str | None, frames)
        for svc, rs, _ in items:
            mac = macs.get(rs.address)
            key = ACCEPT if svc.method == "dr" else GATEWAY
            if mac is None:
                self.add(svc, rs, key, FAIL if key == GATEWAY else NOT_RUN,
                         f"{rs.address} did not answer ARP on {link.name}: it is down, or not on this network.")
                continue
            probe = self._dr_probe(svc, rs, link, mac) if key == ACCEPT else self._nat_probe(svc, rs, link, mac, local)
            if probe is not None:
                probes.append(probe)
        if not probes:
            return
        frames = [f for p in probes for f in p["frames"]]
        got = wire.exchange(frames, timeout=self.timeout, tries=2,
                            done=lambda rx: all(any(p["match"](x) for x in rx) for p in probes))
        for p in probes:
            hits = [x for x in got if isinstance(x, P.IPv4Packet) and p["match"](x)]
            for x in hits:
                if x.proto == P.TCP and x.flags & P.SYN and x.flags & P.ACK:
                    rst = P.tcp(x.dst, x.src, x.dport, x.sport, P.RST, x.ack)
                    wire.send(P.ethernet(x.src_mac, link.mac, P.ETH_P_IP, P.ipv4(x.dst, x.src, P.TCP, rst)))
                    break
            p["judge"](hits)

    def _dr_probe(self, svc, rs, link, mac):
        if svc.port is None or not svc.protocols:
            self.add(svc, rs, ACCEPT, NOT_RUN, "A firewall-mark service has no port to probe.")
            return None
        src = link.address_in(rs.address)
        proto = "tcp" if "tcp" in svc.protocols else "udp"
        sport = self.sport([svc.port])
        if proto == "tcp":
            l4 = P.tcp(src, svc.vip, sport, svc.port, P.SYN, seq=random.getrandbits(32))
        else:
            l4 = P.udp(src, svc.vip, sport, svc.port, b"fulcrum-checklist")
        frame = P.ethernet(mac, link.mac, P.ETH_P_IP,
                           P.ipv4(src, svc.vip, P.TCP if proto == "tcp" else P.UDP, l4, ident=sport))
        what = (f"a {proto.upper()} {'SYN' if proto == 'tcp' else 'datagram'} to {svc.vip}:{svc.port} "
                f"sent to {rs.label}'s MAC {mac}")

        def match(x):
            if not isinstance(x, P.IPv4Packet) or x.src_mac != mac:
                return False
            if x.src == svc.vip and x.sport == svc.port and x.dport == sport:
                return True
            q = x.quoted
            return x.icmp_type == P.ICMP_UNREACH and q is not None and q.dst == svc.vip and q.sport == sport

        def judge(hits):
            if not hits:
                self.add(svc, rs, ACCEPT, FAIL, f"No answer to {what} within {self.timeout:.1f} s: it does not accept "
                         f"traffic for the VIP (no {svc.vip} on its loopback), or a firewall drops it.", mac=mac)
                return
            x = hits[0]
            if x.proto == P.TCP and x.flags & P.RST:
                self.add(svc, rs, ACCEPT, WARN, f"{rs.label} answered {what} with a TCP reset: it accepts traffic for "
                         f"the VIP, but nothing listens on port {svc.port}.", mac=mac)
            elif x.proto == P.ICMP:
                self.add(svc, rs, ACCEPT, WARN, f"{rs.label} answered {what} with ICMP port unreachable from "
                         f"{x.src}: it accepts traffic for the VIP, but nothing listens on UDP {svc.port}.", mac=mac)
            else:
                kind = "a SYN-ACK" if x.proto == P.TCP else "a UDP reply"
                self.add(svc, rs, ACCEPT, PASS, f"{rs.label} answered {what} with {kind} from {svc.vip}: it accepts "
                         "traffic for the VIP.", mac=mac)

        return {"frames": [frame], "match": match, "judge": judge}

    def _nat_probe(self, svc, rs, link, mac, local):
        subnets = [n for a, p in link.addresses
                   if ipaddress.ip_address(rs.address) in (n := ipaddress.IPv4Network(f"{a}/{p}", strict=False))]

        def outside(ip):
            a = ipaddress.ip_address(ip)
            return a.version == 4 and not a.is_loopback and not any(a in n for n in subnets)

        candidates = ([svc.vip] if svc.vip in local else []) + sorted(a for a in local if a != svc.vip)
        src = next((a for a in candidates if outside(a)), None)
        if src is None:
            self.add(svc, rs, GATEWAY, NOT_RUN, "The appliance has no address outside the real servers' subnet to "
                     "test their return path from (the VIP is not held here yet: apply first).")
            return None
        port = rs.port or svc.port
        sport, ident = self.sport([svc.port or 0]), self.sport()
        frames = [P.ethernet(mac, link.mac, P.ETH_P_IP, P.ipv4(src, rs.address, P.ICMP, P.icmp_echo(ident, 1)))]
        asked = "a ping"
        if port and svc.protocols:
            proto = P.TCP if "tcp" in svc.protocols else P.UDP
            l4 = (P.tcp(src, rs.address, sport, port, P.SYN, seq=random.getrandbits(32)) if proto == P.TCP
                  else P.udp(src, rs.address, sport, port, b"fulcrum-checklist"))
            frames.insert(0, P.ethernet(mac, link.mac, P.ETH_P_IP, P.ipv4(src, rs.address, proto, l4, ident=sport)))
            asked = f"a {'TCP SYN' if proto == P.TCP else 'UDP datagram'} to port {port} and a ping"

        def match(x):
            if not isinstance(x, P.IPv4Packet) or x.src != rs.address or x.dst != src:
                return False
            if x.icmp_type == P.ICMP_ECHO_REPLY:
                return x.sport == ident
            if x.icmp_type == P.ICMP_UNREACH:
                return x.quoted is not None and x.quoted.sport == sport
            return x.proto in (P.TCP, P.UDP) and x.dport == sport

        what = f"{asked} from {src} (outside its subnet) to {rs.label} ({rs.address}, MAC {mac})"

        def judge(hits):
            direct = [x for x in hits if x.src_mac == mac]
            if direct:
                self.add(svc, rs, GATEWAY, PASS, f"{rs.label} answered {what}; the reply came straight back to the "
                         f"appliance's MAC {link.mac} on {link.name}: its gateway is the appliance.", mac=mac)
            elif hits:
                via = hits[0].src_mac
                self.add(svc, rs, GATEWAY, WARN, f"{rs.label}'s reply to {what} reached the appliance through "
                         f"another router ({via}): its default gateway is not the appliance.", mac=mac, via=via)
            else:
                self.add(svc, rs, GATEWAY, FAIL, f"No reply reached the appliance within {self.timeout:.1f} s to "
                         f"{what}: its default gateway is not the appliance (replies go elsewhere), or its "
                         "firewall drops both.", mac=mac)

        return {"frames": frames, "match": match, "judge": judge}

    # ------------------------------------------------------------------ host facts

    def _forwarding(self, svc):
        value = self.host.sysctl("net.ipv4.ip_forward")
        if value == "1":
            self.add(svc, None, FORWARDING, PASS, "net.ipv4.ip_forward = 1 on the appliance.")
        else:
            self.add(svc, None, FORWARDING, FAIL, f"net.ipv4.ip_forward = {value}: the appliance does not forward "
                     "the real servers' replies. An apply on the kernel dataplane sets it.")

    def _watch_egress(self, links: set[str], rips: set[str]) -> dict[str, list]:
        """Watch the egress links for ``timeout`` s: packets real servers send out unmasqueraded."""
        from .wire import Wire

        seen: dict[str, list] = {}
        for name in sorted(links):
            try:
                wire = Wire(name)
            except (PermissionError, OSError):
                continue
            try:
                for x in wire.exchange([], timeout=self.timeout, tries=0, outgoing=True):
                    if isinstance(x, P.IPv4Packet) and x.src in rips:
                        seen.setdefault(x.src, []).append(x)
            finally:
                wire.close()
        return seen

    def _autonat(self, svc):
        flows = self.host.conntrack()
        local = self.host.local_addresses()
        masq = self.host.masquerade_interfaces() if self.autonat else set()
        forwarding = self.host.sysctl("net.ipv4.ip_forward") == "1"
        routes = {}
        for rs in svc.real_servers:
            if _v4(rs.address):
                route_in = self.host.route(rs.address)
                routes[rs.id] = (self.host.route(OUTSIDE_PROBE, src=rs.address, iif=route_in.oif)
                                 if route_in and not route_in.gateway else None)
        watched = {}
        if not self.autonat:
            egress = {r.oif for r in routes.values() if r is not None}
            watched = self._watch_egress(egress, {rs.address for rs in svc.real_servers})
        for rs in svc.real_servers:
            if not _v4(rs.address):
                continue  # reported by _subnet
            out = routes[rs.id]
            mine = [f for f in flows or () if f.orig_src == rs.address and f.orig_dst not in local
                    and f.reply_src == f.orig_dst]
            masked = [f for f in mine if f.masqueraded]
            bare = [f for f in mine if not f.masqueraded]
            seen = _flows_text(masked, bare)
            if not self.autonat:
                where = f" (its outbound traffic leaves through {out.oif})" if out else ""
                if watched.get(rs.address):
                    pkts = watched[rs.address]
                    x = pkts[0]
                    proto = {P.TCP: "tcp", P.UDP: "udp", P.ICMP: "icmp"}.get(x.proto, str(x.proto))
                    seen = (f"During a {self.timeout:.1f} s watch, {len(pkts)} packet(s) from {rs.label} left "
                            f"through {out.oif} unmasqueraded (e.g. {proto} to {x.dst}"
                            f"{f':{x.dport}' if x.dport else ''}). {seen}").strip()
                if bare or watched.get(rs.address):
                    self.add(svc, rs, AUTONAT, FAIL, f"Autonat is off, and {rs.label} sends outbound traffic that "
                             f"leaves unmasqueraded with its own address {rs.address}{where}, so outside hosts "
                             f"cannot answer it. {seen}", flows=len(bare), packets=len(watched.get(rs.address, ())))
                else:
                    self.add(svc, rs, AUTONAT, WARN, f"Autonat is off: {rs.label}'s own outbound traffic (updates, "
                             f"CRL checks) would leave with its address {rs.address}{where} and get no answer. "
                             f"{seen or 'Conntrack shows no outbound traffic from it now.'}")
                continue
            if out is None:
                self.add(svc, rs, AUTONAT, FAIL, f"The appliance has no route (no default route) for {rs.label}'s "
                         "outbound traffic: it has nowhere to go.")
            elif out.oif != self.autonat:
                self.add(svc, rs, AUTONAT, FAIL, f"{rs.label}'s outbound traffic leaves through {out.oif}, but "
                         f"Autonat masquerades only out of {self.autonat}.", interface=out.oif)
            elif self.autonat not in masq:
                self.add(svc, rs, AUTONAT, FAIL, f"Autonat is set to {self.autonat}, but the kernel has no "
                         f"MASQUERADE rule out of it: apply the configuration.")
            elif not forwarding:
                self.add(svc, rs, AUTONAT, FAIL, "net.ipv4.ip_forward is 0: the appliance does not forward "
                         f"{rs.label}'s outbound traffic.")
            elif bare and not masked:
                self.add(svc, rs, AUTONAT, WARN, f"{rs.label}'s outbound traffic left unmasqueraded although "
                         f"Autonat is on ({self.autonat}); flows opened before Autonat was on keep their "
                         f"addresses until they end. {seen}", flows=len(bare))
            else:
                self.add(svc, rs, AUTONAT, PASS, f"{rs.label}'s outbound traffic routes out of {self.autonat} and is "
                         f"masqueraded there. {seen or 'Conntrack shows no outbound traffic from it now.'}",
                         interface=self.autonat, masqueraded=len(masked))


def _flows_text(masked, bare) -> str:
    parts = []
    if masked:
        f = masked[0]
        parts.append(f"Conntrack: {len(masked)} flow(s) left masqueraded as {f.reply_dst} "
                     f"(e.g. {f.proto} to {f.orig_dst}).")
    if bare:
        f = bare[0]
        no_answer = sum(1 for x in bare if not x.replied)
        parts.append(f"Conntrack: {len(bare)} flow(s) left unmasqueraded (e.g. {f.proto} to {f.orig_dst}), "
                     f"{no_answer} never answered.")
    return " ".join(parts)


NO_PRIVILEGE = ("The probes need root (CAP_NET_RAW, CAP_NET_ADMIN): they run in the privileged worker, not in "
                "the web process.")


def _privileged() -> bool:
    import socket

    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0).close()
        return True
    except PermissionError:
        return False


def run_checks(services: Iterable[ServiceTarget], *, autonat_interface: str = "", timeout: float = 0.6,
               host: HostNet | None = None, iptables_backend: str | None = None) -> list[Finding]:
    """Probe every service's real servers; one finding per (service, real server, key)."""
    own = host is None
    host = host or HostNet(iptables_backend)
    try:
        return _Run(list(services), autonat_interface, timeout, host).run()
    finally:
        if own:
            host.close()
