"""KernelDriver against a real kernel, with real packets (runs inside the UML guest).

The guest's root namespace is the load balancer; ``client`` and ``rs1``/``rs2`` are
namespaces behind it (see lab.Net). States come from the real compiler.
"""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from dataplane.compiler import compile_state
from dataplane.config import DR, NAT, SNAT, TCP, UDP, ClusterSpec, PortRange, RealServerSpec, ServiceSpec
from dataplane.desired import DesiredState, IpvsService, Rule, ServiceKey, Timeouts
from dataplane.diff import AddService, EditDest, ReplaceRules, plan, simulate
from dataplane.kernel import KernelDriver, ipvs_available
from dataplane.render import render_iptables, render_ipvsadm
from tests.netlab import lab
from tests.netlab.inside.conftest import SYSCTLS, ipvsadm_save, our_addresses, our_iptables, run

pytestmark = pytest.mark.netlab


def servers(port=None, v6=False, weight=100):
    prefix = "fd00:9::" if v6 else "10.9.0."
    return tuple(RealServerSpec(n, f"rs{n}", f"{prefix}1{n}", port, weight) for n in (1, 2))


def ports(*p):
    return tuple(PortRange(x, x) for x in p)


SSTP = ServiceSpec(1, "sstp", "10.8.0.60", ports(443), TCP, method=SNAT, scheduler="rr", snat_source="10.9.0.1",
                   real_servers=servers(8443))
IKE = ServiceSpec(2, "ike", "10.9.0.50", ports(500, 4500), UDP, fwmark=1, method=DR, scheduler="rr",
                  persistent=True, persistence_timeout=600, real_servers=servers())
WEB = ServiceSpec(3, "web", "10.9.0.60", ports(80), TCP, method=DR, scheduler="rr", real_servers=servers())
DNS = ServiceSpec(4, "dns", "10.9.0.60", ports(53), UDP, method=DR, scheduler="rr", real_servers=servers())
WEB6 = ServiceSpec(5, "web6", "fd00:7::60", ports(443), TCP, method=NAT, scheduler="rr",
                   persistent=True, persistence_timeout=60, persistence_netmask="64", real_servers=servers(v6=True))


def cluster(*services) -> ClusterSpec:
    return ClusterSpec(vip_interface="back", services=tuple(services))


def apply(driver: KernelDriver, desired: DesiredState):
    now = driver.read(SYSCTLS)
    ops = plan(now, desired)
    result = driver.apply(ops)
    assert result.ok, result.failed
    return ops


def test_ipvs_is_available_here():
    assert ipvs_available()


def test_reads_back_exactly_what_it_wrote(driver):
    desired = compile_state(cluster(SSTP, IKE, WEB, DNS, WEB6))
    desired = replace(desired, timeouts=Timeouts(3600, 60, 120))
    apply(driver, desired)

    back = driver.read(SYSCTLS)
    assert plan(back, desired) == [] and plan(desired, back) == []
    assert back.services == desired.services and back.destinations == desired.destinations
    assert back.addresses == desired.addresses
    assert dict(back.sysctls) == dict(desired.sysctls)
    assert back.timeouts == Timeouts(3600, 60, 120)
    # the classic tools agree
    assert sorted(ipvsadm_save()) == sorted(render_ipvsadm(desired).splitlines())
    assert run("ipvsadm", "-L", "--timeout").split()[-3:] == ["3600", "60", "120"]
    for family in (4, 6):
        for chain in ("FULCRUM-PREROUTING", "FULCRUM-POSTROUTING"):
            want = [x for x in render_iptables(desired, family).splitlines() if x.startswith(f"-A {chain} ")]
            got = [x for x in our_iptables(family) if x.startswith(f"-A {chain} ")]
            assert got == want, f"IPv{family}: iptables-save prints the compiler's rules differently"
        # exactly one jump into each of our chains (none at all for a family without rules)
        jumps = [x for x in our_iptables(family) if x.startswith(("-A PREROUTING", "-A POSTROUTING"))]
        expected = ["-A POSTROUTING -j FULCRUM-POSTROUTING", "-A PREROUTING -j FULCRUM-PREROUTING"]
        assert sorted(jumps) == (expected if any(r.family == family for r in desired.rules) else [])
    assert len(our_addresses()) == 4  # WEB and DNS share 10.9.0.60


def test_applying_twice_is_a_no_op_and_jumps_stay_single(driver):
    desired = compile_state(cluster(SSTP, IKE))
    apply(driver, desired)
    assert plan(driver.read(SYSCTLS), desired) == []
    # someone re-runs our rules: still one jump each
    driver.netfilter.replace(4, tuple(r for r in desired.rules if r.family == 4))
    assert len([x for x in our_iptables(4) if x == "-A POSTROUTING -j FULCRUM-POSTROUTING"]) == 1


def test_rules_we_do_not_own_are_left_alone(driver):
    run("iptables-legacy", "-t", "nat", "-A", "POSTROUTING", "-o", "front", "-j", "ACCEPT")
    try:
        apply(driver, compile_state(cluster(SSTP)))
        apply(driver, DesiredState.empty())
        assert "-A POSTROUTING -o front -j ACCEPT" in run("iptables-legacy-save", "-t", "nat")
    finally:
        run("iptables-legacy", "-t", "nat", "-D", "POSTROUTING", "-o", "front", "-j", "ACCEPT")


def test_dr_tcp_and_udp_reach_both_real_servers(driver, net):
    net.dr_vip("10.9.0.60")
    try:
        apply(driver, compile_state(cluster(WEB, DNS)))
        tcp = {net.tcp_hello("10.9.0.60", 80)[0] for _ in range(4)}
        udp = {net.udp_ask("10.9.0.60", 53)[0] for _ in range(4)}
        assert tcp == {"rs1", "rs2"} and udp == {"rs1", "rs2"}
        # DR is transparent: the real server sees the client's own address
        assert net.tcp_hello("10.9.0.60", 80)[1] == "10.8.0.100"
    finally:
        net.drop_dr_vip("10.9.0.60")


def _tunl0_rx_packets(ns: str) -> int:
    return int(lab.sh("cat", "/sys/class/net/tunl0/statistics/rx_packets", ns=ns))


def test_tun_ip_in_ip_reaches_real_servers_that_decapsulate(driver, net):
    """TUN: IPVS wraps each packet in IP-in-IP to the real server, which unwraps it on its tunl0 (the VIP
    is there) and answers the client directly. Real packets, not only the table read back."""
    vip = "10.9.0.70"
    names = [h.name for h in net.servers]
    for ns in names:
        lab.sh("sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0",
               "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2", ns=ns)
        lab.sh("ip", "link", "set", "tunl0", "up", ns=ns)
        lab.sh("sysctl", "-qw", "net.ipv4.conf.tunl0.rp_filter=0", ns=ns)
        lab.sh("ip", "addr", "replace", f"{vip}/32", "dev", "tunl0", ns=ns)
    try:
        tun = ServiceSpec(6, "tun", vip, ports(80), TCP, method="tun", scheduler="rr", real_servers=servers())
        apply(driver, compile_state(cluster(tun)))
        assert any("-i" in line.split() and "10.9.0.11:80" in line for line in ipvsadm_save()), ipvsadm_save()
        before = {ns: _tunl0_rx_packets(ns) for ns in names}
        replies = [net.tcp_hello(vip, 80) for _ in range(6)]
        assert {r[0] for r in replies} == {"rs1", "rs2"}
        assert {r[1] for r in replies} == {"10.8.0.100"}  # transparent: the client's own address
        after = {ns: _tunl0_rx_packets(ns) for ns in names}
        assert all(after[ns] >= before[ns] + 3 for ns in names), (before, after)  # they came encapsulated
    finally:
        for ns in names:
            lab.sh("ip", "addr", "del", f"{vip}/32", "dev", "tunl0", ns=ns, check=False)
            lab.sh("ip", "link", "set", "tunl0", "down", ns=ns, check=False)


def test_fwmark_udp_500_4500_persistent_same_real_server(driver, net):
    net.dr_vip("10.9.0.50")
    try:
        apply(driver, compile_state(cluster(IKE)))
        seen = set()
        for _ in range(3):
            seen.add(net.udp_ask("10.9.0.50", 500)[0])
            seen.add(net.udp_ask("10.9.0.50", 4500)[0])
        assert len(seen) == 1, f"500 and 4500 reached {seen}"
        table = driver.read_ipvs()
        assert any(d.persist_conns for d in table.destinations)
    finally:
        net.drop_dr_vip("10.9.0.50")


def test_snat_real_server_sees_the_lb_and_port_is_translated(driver, net):
    apply(driver, compile_state(cluster(SSTP)))
    replies = [net.tcp_hello("10.8.0.60", 443) for _ in range(4)]
    assert {r[0] for r in replies} == {"rs1", "rs2"}
    assert {r[1] for r in replies} == {"10.9.0.1"}  # the LB's address, not the client's
    assert {r[3] for r in replies} == {"8443"}  # VIP port 443 -> real server port 8443


def test_nat_ipv6_with_persistence_netmask(driver, net):
    apply(driver, compile_state(cluster(WEB6)))
    reply = net.tcp_hello("fd00:7::60", 443)
    assert reply[0] in ("rs1", "rs2") and reply[1] == "fd00:8::100"  # NAT is transparent
    # persistent: the same client keeps its real server
    assert {net.tcp_hello("fd00:7::60", 443)[0] for _ in range(3)} == {reply[0]}


def test_weight_edit_keeps_an_open_connection_to_another_destination(driver, net):
    desired = compile_state(cluster(SSTP))
    apply(driver, desired)
    conn = net.socket("client")
    conn.settimeout(3)
    conn.connect(("10.8.0.60", 443))
    f = conn.makefile("rwb")
    first = f.readline().decode().split()[0]
    other = "10.9.0.12" if first == "rs1" else "10.9.0.11"
    quiesced = replace(desired, destinations=frozenset(
        replace(d, weight=0) if d.address == other else d for d in desired.destinations))
    ops = apply(driver, quiesced)
    assert len(ops) == 1 and isinstance(ops[0], EditDest) and ops[0].dest.address == other
    # ... and the edit of our own destination too (drain): the connection lives on
    apply(driver, replace(quiesced, destinations=frozenset(replace(d, weight=0) for d in desired.destinations)))
    f.write(b"still there\n")
    f.flush()
    assert f.readline().decode().strip() == f"{first} still there"
    conn.close()
    # new connections avoid the quiesced server
    apply(driver, quiesced)
    assert {net.tcp_hello("10.8.0.60", 443)[0] for _ in range(3)} == {first}


def test_counters_are_read(driver, net):
    apply(driver, compile_state(cluster(SSTP)))
    time.sleep(2.1)
    # IPVS keeps a deleted destination's counters and revives them when it is added again
    dest_before = sum(d.stats["conns"] for d in driver.read_ipvs().destinations)
    for _ in range(2):
        net.tcp_hello("10.8.0.60", 443)
    deadline = time.monotonic() + 5
    while True:  # the kernel folds per-CPU counters into the totals every 2 s
        table = driver.read_ipvs()
        if table.services[0].stats["conns"] or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    (svc,) = table.services
    assert svc.stats["conns"] == 2 and svc.stats["inpkts"] > 0
    assert sum(d.stats["conns"] for d in table.destinations) - dest_before == 2


def test_deleting_everything_leaves_nothing(driver, net):
    before_addr = run("ip", "-o", "addr")
    apply(driver, compile_state(cluster(SSTP, IKE, WEB, DNS, WEB6)))
    apply(driver, DesiredState.empty())
    assert [x for x in run("ipvsadm", "-L", "-n").splitlines() if x.startswith(("TCP", "UDP", "FWM"))] == []
    assert ipvsadm_save() == []
    assert our_iptables(4) == [] and our_iptables(6) == []  # chains and jumps gone
    assert our_addresses() == []
    assert run("ip", "-o", "addr") == before_addr


def _kernel_snapshot():
    return (sorted(ipvsadm_save()), our_iptables(4), our_iptables(6), sorted(our_addresses()))


def test_fault_in_the_middle_of_ipvs_ops_rolls_back_exactly(driver, net):
    good = compile_state(cluster(SSTP, IKE))
    apply(driver, good)
    snapshot = _kernel_snapshot()
    # the change: add WEB and DNS, drop IKE, and one service whose scheduler the kernel refuses
    bad_key = ServiceKey(4, "tcp", "10.9.0.60", 81)
    target = compile_state(cluster(SSTP, WEB, DNS))
    target = replace(target, services=target.services | {IpvsService(bad_key, "nosuch")})
    ops = plan(good, target)
    k = ops.index(AddService(IpvsService(bad_key, "nosuch")))
    assert 0 < k < len(ops) - 1
    result = driver.apply(ops)
    assert not result.ok and result.failed[0][0] == ops[k]
    assert "errno" in result.failed[0][1]
    assert ops[0] in result.applied  # something was done before the failure
    now = simulate(good, result.applied)
    assert plan(driver.read(SYSCTLS), now) == []  # simulate() tells the truth
    rollback = driver.apply(plan(now, good))
    assert rollback.ok, rollback.failed
    assert _kernel_snapshot() == snapshot
    assert plan(driver.read(SYSCTLS), good) == []


def test_fault_in_a_non_ipvs_op_rolls_back_exactly(driver, net):
    good = compile_state(cluster(SSTP))
    apply(driver, good)
    snapshot = _kernel_snapshot()
    target = compile_state(cluster(SSTP, WEB))
    target = replace(target, rules=(*target.rules, Rule(4, "nat", "FULCRUM-POSTROUTING", ("-j", "NOSUCH"))))
    ops = plan(good, target)
    result = driver.apply(ops)
    assert not result.ok and isinstance(result.failed[0][0], ReplaceRules)
    assert any(isinstance(op, AddService) for op in result.applied)  # IPVS ops went in before
    rollback = driver.apply(plan(simulate(good, result.applied), good))
    assert rollback.ok, rollback.failed
    assert _kernel_snapshot() == snapshot


def test_many_services_in_batches_and_errors_mapped_to_their_op(driver):
    # 600 services: three batches; a duplicate add in the last batch is reported as that op
    keys = [ServiceKey(4, "tcp", "10.77.0.1", 1000 + i) for i in range(600)]
    desired = replace(DesiredState.empty(), services=frozenset(IpvsService(k, "wlc") for k in keys))
    ops = apply(driver, desired)
    assert len(ops) == 600 and len(driver.read().services) == 600
    dup = AddService(IpvsService(keys[550], "wlc"))
    result = driver.apply([AddService(IpvsService(ServiceKey(4, "udp", "10.77.0.1", 1), "rr")), dup])
    assert [op for op, _ in result.failed] == [dup] and "File exists" in result.failed[0][1]
    assert len(result.applied) == 1
