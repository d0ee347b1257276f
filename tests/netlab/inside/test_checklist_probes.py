"""Checklist probes against real real servers (runs inside the UML guest).

The guest's root namespace is the appliance (lab.Net): rs1/rs2 on the "back" bridge, the
client on "front", plus an "outside" namespace behind the appliance's "wan" link (no route
back to the real servers: only masqueraded traffic gets answers) and "router2", another
router on the real servers' segment. Services are applied through the real compiler and
KernelDriver; the probes are the ones the worker runs (checklists.probes.engine).
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from checklists.probes import engine as E
from dataplane.compiler import compile_state
from dataplane.config import DR, NAT, TCP, UDP, ClusterSpec, PortRange, RealServerSpec, ServiceSpec
from dataplane.diff import plan
from tests.netlab import lab
from tests.netlab.inside.conftest import SYSCTLS

pytestmark = pytest.mark.netlab

DR_VIP, NAT_VIP = "10.9.0.60", "10.8.0.70"


def spec_servers():
    return tuple(RealServerSpec(n, f"rs{n}", f"10.9.0.1{n}", None) for n in (1, 2))


WEB_DR = ServiceSpec(1, "web-dr", DR_VIP, (PortRange(80, 80),), TCP, method=DR, scheduler="rr",
                     real_servers=spec_servers())
DNS_DR = ServiceSpec(2, "dns-dr", DR_VIP, (PortRange(53, 53),), UDP, method=DR, scheduler="rr",
                     real_servers=spec_servers())
WEB_NAT = ServiceSpec(3, "web-nat", NAT_VIP, (PortRange(80, 80),), TCP, method=NAT, scheduler="rr",
                      real_servers=spec_servers())


def target(spec: ServiceSpec) -> E.ServiceTarget:
    return E.ServiceTarget(spec.id, spec.label, spec.vip, spec.method, (spec.protocol,), spec.ports[0].first,
                           tuple(E.ServerTarget(r.id, r.label, r.address) for r in spec.real_servers))


def apply(driver, *services, autonat=""):
    desired = compile_state(ClusterSpec(vip_interface="back", autonat_interface=autonat, services=services))
    result = driver.apply(plan(driver.read(SYSCTLS), desired))
    assert result.ok, result.failed


def probe(*services, autonat="") -> dict[tuple[int, int | None, str], E.Finding]:
    found = E.run_checks([target(s) for s in services], autonat_interface=autonat, iptables_backend="legacy")
    return {(f.service_id, f.server_id, f.key): f for f in found}


def mac_of(ns: str) -> str:
    return lab.sh("cat", "/sys/class/net/eth0/address", ns=ns).strip()


def rs_arp(ns: str, ignore: bool) -> None:
    lab.sh("sysctl", "-qw", f"net.ipv4.conf.all.arp_ignore={1 if ignore else 0}",
           f"net.ipv4.conf.all.arp_announce={2 if ignore else 0}", ns=ns)


def rs_vip(ns: str, vip: str, present: bool) -> None:
    if present:
        lab.sh("ip", "addr", "replace", f"{vip}/32", "dev", "lo", ns=ns)
    else:
        lab.sh("ip", "addr", "del", f"{vip}/32", "dev", "lo", ns=ns, check=False)


@pytest.fixture(scope="module")
def world(net):
    lab.sh("ip", "link", "add", "wan", "type", "veth", "peer", "name", "eth0", "netns", "outside", check=False)
    if "outside" not in lab.sh("ip", "netns", "list"):
        lab.sh("ip", "netns", "add", "outside")
        lab.sh("ip", "link", "add", "wan", "type", "veth", "peer", "name", "eth0", "netns", "outside")
    lab.sh("ip", "addr", "add", "10.7.0.1/24", "dev", "wan")
    lab.sh("ip", "link", "set", "wan", "up")
    for cmd in ("link set lo up", "link set eth0 up", "addr add 10.7.0.2/24 dev eth0"):
        lab.sh("ip", *cmd.split(), ns="outside")
    net.serve("outside", tcp=[8080], six=False)
    lab.sh("ip", "route", "replace", "default", "via", "10.7.0.2")  # "outside" is the appliance's upstream
    # another router on the real servers' segment, which does not forward
    lab.sh("ip", "netns", "add", "router2")
    lab.sh("ip", "link", "add", "v-router2", "type", "veth", "peer", "name", "eth0", "netns", "router2")
    lab.sh("ip", "link", "set", "v-router2", "master", "back", "up")
    for cmd in ("link set lo up", "link set eth0 up", "addr add 10.9.0.254/24 dev eth0"):
        lab.sh("ip", *cmd.split(), ns="router2")
    lab.sh("sysctl", "-qw", "net.ipv4.ip_forward=0", ns="router2")
    for h in net.servers:  # real servers are hosts, not routers
        lab.sh("sysctl", "-qw", "net.ipv4.ip_forward=0", ns=h.name)
        rs_arp(h.name, True)
        rs_vip(h.name, DR_VIP, True)
    return net


# ------------------------------------------------------------------ DR: the ARP problem


def test_arp_probe_names_the_real_server_that_answers_for_the_vip_then_passes_when_fixed(world, driver):
    apply(driver, WEB_DR)
    rs_arp("rs1", False)
    try:
        got = probe(WEB_DR)
        bad = got[(1, 1, E.ARP)]
        assert bad.status == E.FAIL, bad.evidence
        assert "rs1" in bad.evidence and mac_of("rs1") in bad.evidence
        assert got[(1, 2, E.ARP)].status == E.PASS, got[(1, 2, E.ARP)].evidence
        vip = got[(1, None, E.ARP_VIP)]
        assert vip.status == E.FAIL and "rs1 (10.9.0.11)" in vip.evidence and mac_of("rs1") in vip.evidence
        assert vip.facts["macs"] == [mac_of("rs1")]
    finally:
        rs_arp("rs1", True)
    got = probe(WEB_DR)
    assert {got[(1, n, E.ARP)].status for n in (1, 2)} == {E.PASS}
    assert got[(1, None, E.ARP_VIP)].status == E.PASS
    assert {got[(1, n, E.SUBNET)].status for n in (1, 2)} == {E.PASS}
    assert "back" in got[(1, 1, E.SUBNET)].evidence


def test_acceptance_probe_fails_without_the_vip_on_lo_and_passes_with_it(world, driver):
    apply(driver, WEB_DR, DNS_DR)
    rs_vip("rs2", DR_VIP, False)
    try:
        got = probe(WEB_DR, DNS_DR)
        for svc in (1, 2):
            assert got[(svc, 2, E.ACCEPT)].status == E.FAIL, got[(svc, 2, E.ACCEPT)].evidence
            assert mac_of("rs2") in got[(svc, 2, E.ACCEPT)].evidence
            assert got[(svc, 1, E.ACCEPT)].status == E.PASS, got[(svc, 1, E.ACCEPT)].evidence
        assert "SYN-ACK" in got[(1, 1, E.ACCEPT)].evidence and "UDP reply" in got[(2, 1, E.ACCEPT)].evidence
    finally:
        rs_vip("rs2", DR_VIP, True)
    got = probe(WEB_DR, DNS_DR)
    assert {got[(s, n, E.ACCEPT)].status for s in (1, 2) for n in (1, 2)} == {E.PASS}


def test_acceptance_probe_tells_vip_present_but_nothing_listening(world, driver):
    closed = ServiceSpec(4, "closed", DR_VIP, (PortRange(81, 81),), TCP, method=DR, real_servers=spec_servers())
    apply(driver, closed)
    got = probe(closed)
    assert got[(4, 1, E.ACCEPT)].status == E.WARN and "nothing listens on port 81" in got[(4, 1, E.ACCEPT)].evidence


# ------------------------------------------------------------------ NAT: return path, forwarding, Autonat


def test_nat_gateway_check_fails_when_the_default_gateway_is_another_router_then_passes(world, driver):
    apply(driver, WEB_NAT)
    lab.sh("ip", "route", "replace", "default", "via", "10.9.0.254", ns="rs1")
    try:
        got = probe(WEB_NAT)
        bad = got[(3, 1, E.GATEWAY)]
        assert bad.status == E.FAIL, bad.evidence
        assert "default gateway is not the appliance" in bad.evidence and NAT_VIP in bad.evidence
        assert got[(3, 2, E.GATEWAY)].status == E.PASS, got[(3, 2, E.GATEWAY)].evidence
        # and a client through the VIP really is broken for rs1 only: the probe told the truth
    finally:
        lab.sh("ip", "route", "replace", "default", "via", "10.9.0.1", ns="rs1")
    got = probe(WEB_NAT)
    assert {got[(3, n, E.GATEWAY)].status for n in (1, 2)} == {E.PASS}
    assert got[(3, None, E.FORWARDING)].status == E.PASS


def reach_outside(ns="rs1", timeout=1.5) -> str | None:
    """Connect from a real server to the outside namespace; the address outside saw, or None."""
    try:
        return world_net.tcp_hello("10.7.0.2", 8080, ns=ns, timeout=timeout)[1]
    except OSError:
        return None


world_net = None


def test_autonat_on_masquerades_real_servers_off_they_cannot_reach_outside_and_the_checklist_says_why(world, driver):
    global world_net
    world_net = world
    apply(driver, WEB_NAT, autonat="wan")
    assert reach_outside() == "10.7.0.1"  # masqueraded to the appliance's wan address
    got = probe(WEB_NAT, autonat="wan")
    ok = got[(3, 1, E.AUTONAT)]
    assert ok.status == E.PASS, ok.evidence
    assert "masqueraded as 10.7.0.1" in ok.evidence and "tcp to 10.7.0.2" in ok.evidence

    apply(driver, WEB_NAT)  # Autonat off
    assert reach_outside(ns="rs2") is None
    # rs2 keeps asking the outside (say NTP) while the checklist runs: bounded, 50 ms apart
    stop = threading.Event()
    asker = world.socket("rs2", socket.AF_INET, socket.SOCK_DGRAM)

    def ask():
        for _ in range(200):
            if stop.wait(0.05):
                return
            asker.sendto(b"what time is it?", ("10.7.0.2", 123))

    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    try:
        got = probe(WEB_NAT)
    finally:
        stop.set()
        thread.join()
        asker.close()
    off = got[(3, 2, E.AUTONAT)]
    assert off.status == E.FAIL, off.evidence
    assert "Autonat is off" in off.evidence and "unmasqueraded" in off.evidence and "wan" in off.evidence
    assert "udp to 10.7.0.2:123" in off.evidence
    quiet = got[(3, 1, E.AUTONAT)]  # rs1 sends nothing now: it is told what would happen
    assert quiet.status == E.WARN and "Autonat is off" in quiet.evidence and "10.9.0.11" in quiet.evidence

    apply(driver, WEB_NAT, autonat="front")  # masquerading out of the wrong interface
    got = probe(WEB_NAT, autonat="front")
    assert got[(3, 1, E.AUTONAT)].status == E.FAIL and "leaves through wan" in got[(3, 1, E.AUTONAT)].evidence


# ------------------------------------------------------------------ live traffic


def test_probes_do_not_disturb_a_client_stream_through_the_vip(world, driver):
    apply(driver, WEB_DR, DNS_DR, WEB_NAT)
    stop = threading.Event()
    runs: list[int] = []

    def keep_probing():
        while not stop.is_set() and len(runs) < 20:
            got = probe(WEB_DR, DNS_DR, WEB_NAT)
            runs.append(sum(1 for f in got.values() if f.status == E.FAIL))

    udp = world.socket("client", socket.AF_INET, socket.SOCK_DGRAM)
    udp.settimeout(1.0)
    tcp = world.socket("client", socket.AF_INET, socket.SOCK_STREAM)
    tcp.settimeout(2.0)
    tcp.connect((NAT_VIP, 80))
    reader = tcp.makefile("rb")
    reader.readline()  # greeting
    prober = threading.Thread(target=keep_probing, daemon=True)
    prober.start()
    lost = echoed = sent = 0
    started = time.monotonic()
    try:  # a bounded stream: ≥ 300 exchanges and until the probes ran 3 times (≤ 50,000 exchanges, ≤ 60 s)
        while sent < 50_000 and time.monotonic() - started < 60 and (sent < 300 or len(runs) < 3):
            seq, sent = sent, sent + 1
            udp.sendto(f"{seq}".encode(), (DR_VIP, 53))
            try:
                udp.recvfrom(512)
            except TimeoutError:
                lost += 1
            tcp.sendall(f"line {seq}\n".encode())
            if reader.readline().decode().strip().endswith(f"line {seq}"):
                echoed += 1
    finally:
        stop.set()
        prober.join(timeout=30)
        udp.close()
        tcp.close()
    assert len(runs) >= 3, f"only {len(runs)} probe runs in {time.monotonic() - started:.1f} s"
    # The point is the stream (checked above); the probes must also have worked while it ran, at least
    # once in full (a run can time out on a loaded guest without that saying anything about traffic).
    assert 0 in runs, f"no probe run passed during the stream: failures per run {runs}"
    assert lost == 0 and echoed == sent, f"lost {lost}/{sent} UDP, echoed {echoed}/{sent} TCP lines"
