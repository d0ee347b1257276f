"""The host-network driver (dataplane.kernel.network) against a real kernel, with real packets.

The guest's root namespace is the load balancer. Each test wires its own links to a namespace it
creates (a VLAN trunk, a bonded pair), applies a ``NetworkState`` and proves it with traffic.
"""

from __future__ import annotations

import json

import pytest

from dataplane import netstate as ns
from dataplane.compiler import compile_state
from dataplane.config import NAT, TCP, ClusterSpec, PortRange, RealServerSpec, ServiceSpec
from dataplane.diff import plan as ipvs_plan
from dataplane.kernel.network import NetworkDriver, Snapshot, restore, snapshot, sync
from tests.netlab import lab
from tests.netlab.inside.appliance_lab import wait_for
from tests.netlab.inside.conftest import SYSCTLS, run

pytestmark = pytest.mark.netlab


@pytest.fixture
def netdrv(net):
    d = NetworkDriver()
    yield d
    d.close()


def veth_to(ns_name: str, ours: str, theirs: str) -> None:
    if not (lab.sh("ip", "netns", "list", check=False) or "").count(ns_name):
        lab.sh("ip", "netns", "add", ns_name)
        lab.sh("ip", "link", "set", "lo", "up", ns=ns_name)
    lab.sh("ip", "link", "add", ours, "type", "veth", "peer", "name", theirs, "netns", ns_name)
    lab.sh("ip", "link", "set", theirs, "up", ns=ns_name)


def test_vlan_20_with_a_vip_reaches_a_real_server(net, netdrv, driver):
    veth_to("vlanc", "trunk", "eth0")
    for cmd in ("link add link eth0 name eth0.20 type vlan id 20", "link set eth0.20 up",
                "addr add 10.20.0.100/24 dev eth0.20", "route add default via 10.20.0.1"):
        lab.sh("ip", *cmd.split(), ns="vlanc")
    desired = ns.NetworkState(
        frozenset({ns.Link("trunk"), ns.Link("trunk.20", ns.VLAN, parent="trunk", vlan_id=20)}),
        frozenset({ns.IfAddress("trunk.20", "10.20.0.1", 24)}))
    before, done = sync(netdrv, desired)
    assert [op.action for op in done] == ["add-link", "set-link", "set-link", "add-address"]
    assert "vlan protocol 802.1Q id 20" in run("ip", "-d", "link", "show", "trunk.20")
    now = netdrv.read({"trunk", "trunk.20"})
    assert now.addresses == desired.addresses
    assert ns.plan(now, desired) == []  # nothing left to do

    rs = tuple(RealServerSpec(n, f"rs{n}", f"10.9.0.1{n}", 80, 100) for n in (1, 2))
    web = ServiceSpec(1, "web", "10.20.0.50", (PortRange(80, 80),), TCP, method=NAT, scheduler="rr", real_servers=rs)
    ipvs = compile_state(ClusterSpec(vip_interface="trunk.20", services=(web,)))
    result = driver.apply(ipvs_plan(driver.read(SYSCTLS), ipvs))
    assert result.ok, result.failed
    seen = {net.tcp_hello("10.20.0.50", 80, ns="vlanc")[0] for _ in range(4)}
    assert seen == {"rs1", "rs2"}

    restore(netdrv, before)
    assert not lab.sh("ip", "link", "show", "trunk.20", check=False)


def _active_member(bond: str) -> str:
    for line in open(f"/proc/net/bonding/{bond}"):
        if line.startswith("Currently Active Slave:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError("no active member")


def _bond_peer(ns_name: str, ours: tuple[str, str], bond_args: str, address: str) -> None:
    """Two veths from the load balancer to ``ns_name``, bonded there as ``bond0`` (the switch's side)."""
    veth_to(ns_name, ours[0], "m1")
    lab.sh("ip", "link", "add", ours[1], "type", "veth", "peer", "name", "m2", "netns", ns_name)
    for cmd in (f"link add bond0 type bond {bond_args}", "link set m1 down", "link set m1 master bond0",
                "link set m2 down", "link set m2 master bond0", "link set bond0 up",
                f"addr add {address} dev bond0"):
        lab.sh("ip", *cmd.split(), ns=ns_name)


def _echo(f, word: str) -> None:
    f.write(word + "\n")
    f.flush()
    assert f.readline().split()[-1] == word


def _client_flow(net, ns_name: str, address: str, port: int):
    """A TCP connection from ``ns_name`` to an echo server on the load balancer itself."""
    net.serve(None, tcp=[port], six=False)
    s = net.socket(ns_name)
    s.settimeout(15)
    s.connect((address, port))
    f = s.makefile("rw")
    assert f.readline().split()[0] == "None"  # greeting from the LB's own server
    return s, f


def test_active_backup_bond_keeps_a_flow_when_the_active_member_goes_down(net, netdrv):
    _bond_peer("bondc", ("lbm1", "lbm2"), "mode active-backup miimon 50", "10.30.0.100/24")
    desired = ns.NetworkState(
        frozenset({ns.Link("lbbond", ns.BOND, bond_mode=ns.ACTIVE_BACKUP, members=("lbm1", "lbm2"))}),
        frozenset({ns.IfAddress("lbbond", "10.30.0.1", 24)}))
    before, _ = sync(netdrv, desired)
    now = netdrv.read({"lbbond"})
    assert {x.members for x in now.links if x.name == "lbbond"} == {("lbm1", "lbm2")}
    assert now.addresses == desired.addresses
    assert ns.plan(now, desired) == []

    s, f = _client_flow(net, "bondc", "10.30.0.1", 7070)
    _echo(f, "one")
    active = _active_member("lbbond")
    lab.sh("ip", "link", "set", active, "down")  # its peer loses carrier: both bonds fail over
    _echo(f, "two")  # the same TCP connection, over the other member
    assert _active_member("lbbond") != active
    s.close()
    lab.sh("ip", "link", "set", active, "up")
    restore(netdrv, before)
    assert not lab.sh("ip", "link", "show", "lbbond", check=False)
    assert "master" not in lab.sh("ip", "link", "show", "lbm1")


def _lacp(bond: str) -> tuple[str, int, str, dict[str, str]]:
    """From /proc/net/bonding: the mode, the active aggregator's port count and partner MAC, and each
    member's aggregator id."""
    mode, ports, partner, member, aggregators = "", 0, "", "", {}
    active_info = False
    for line in open(f"/proc/net/bonding/{bond}"):
        key, _, value = (x.strip() for x in line.partition(":"))
        if key == "Bonding Mode":
            mode = value
        elif key == "Active Aggregator Info":
            active_info = True
        elif key == "Slave Interface":
            active_info, member = False, value
        elif active_info and key == "Number of ports":
            ports = int(value)
        elif active_info and key == "Partner Mac Address":
            partner = value
        elif member and key == "Aggregator ID" and member not in aggregators:
            aggregators[member] = value
    return mode, ports, partner, aggregators


def _tx_packets(link: str) -> int:
    return int(open(f"/sys/class/net/{link}/statistics/tx_packets").read())


def test_an_802_3ad_bond_negotiates_lacp_and_keeps_a_flow_when_a_member_goes_down(net, netdrv):
    # Both sides keep lacp_rate slow (a LACPDU every 30 s): each port sends one as soon as it is enabled,
    # so the aggregator forms within a second (0.5 s measured; 0.2 s with the partner at lacp_rate fast),
    # and a member that loses carrier leaves it through miimon, not a LACPDU timeout.
    _bond_peer("lacpc", ("lbl1", "lbl2"), "mode 802.3ad miimon 50", "10.31.0.100/24")
    partner_mac = json.loads(lab.sh("ip", "-j", "link", "show", "bond0", ns="lacpc"))[0]["address"]
    desired = ns.NetworkState(
        frozenset({ns.Link("lbagg", ns.BOND, bond_mode=ns.LACP, members=("lbl1", "lbl2"))}),
        frozenset({ns.IfAddress("lbagg", "10.31.0.1", 24)}))
    before, _ = sync(netdrv, desired)
    now = netdrv.read({"lbagg"})
    assert {(x.bond_mode, x.members) for x in now.links if x.name == "lbagg"} == {(ns.LACP, ("lbl1", "lbl2"))}
    assert ns.plan(now, desired) == []

    def negotiated():
        mode, ports, partner, aggregators = _lacp("lbagg")
        return (mode == "IEEE 802.3ad Dynamic link aggregation" and ports == 2 and partner == partner_mac
                and len(set(aggregators.values())) == 1 and set(aggregators) == {"lbl1", "lbl2"})
    wait_for(negotiated, 10, "LACP: one aggregator of both members with the partner's MAC")

    s, f = _client_flow(net, "lacpc", "10.31.0.1", 7071)
    tx = {m: _tx_packets(m) for m in ("lbl1", "lbl2")}
    _echo(f, "one")
    carrier = max(tx, key=lambda m: _tx_packets(m) - tx[m])  # the member this flow hashes to
    other = ({"lbl1", "lbl2"} - {carrier}).pop()
    lab.sh("ip", "link", "set", carrier, "down")  # its peer loses carrier too: both sides drop the port
    wait_for(lambda: _lacp("lbagg")[1] == 1, 5, "the aggregator to drop the member")
    tx_other = _tx_packets(other)
    _echo(f, "two")  # the same TCP connection, now over the remaining member
    assert _tx_packets(other) > tx_other
    s.close()
    lab.sh("ip", "link", "set", carrier, "up")
    restore(netdrv, before)
    assert not lab.sh("ip", "link", "show", "lbagg", check=False)


def test_a_static_route_is_added_and_used(net, netdrv):
    lab.sh("ip", "addr", "add", "10.40.0.1/32", "dev", "lo", ns="rs2")
    with pytest.raises(OSError):
        net.tcp_hello("10.40.0.1", 80, timeout=1)  # no route yet: the LB answers unreachable
    route = ns.Route("10.40.0.0/24", "10.9.0.12", "back")
    desired = ns.NetworkState(routes=frozenset({route}))
    before, done = sync(netdrv, desired)
    assert [str(op) for op in done] == ["add-route 10.40.0.0/24 via 10.9.0.12 dev back"]
    assert "10.40.0.0/24 via 10.9.0.12 dev back proto 70" in run("ip", "route")
    assert net.tcp_hello("10.40.0.1", 80)[0] == "rs2"  # the client's packets follow the route
    assert netdrv.read(()).routes == {route}
    restore(netdrv, before)
    assert "10.40.0.0/24" not in run("ip", "route")


def test_a_saved_state_comes_back_after_the_kernel_is_wiped(net, netdrv):
    veth_to("wipec", "wipe0", "eth0")
    desired = ns.NetworkState(
        frozenset({ns.Link("wipe0", mtu=1400), ns.Link("wipe0.7", ns.VLAN, parent="wipe0", vlan_id=7)}),
        frozenset({ns.IfAddress("wipe0", "10.50.0.1", 24), ns.IfAddress("wipe0.7", "10.51.0.1", 24),
                   ns.IfAddress("wipe0.7", "fd00:51::1", 64)}),
        frozenset({ns.Route("10.52.0.0/24", "10.50.0.2", "wipe0")}))
    before, _ = sync(netdrv, desired)
    saved = desired.to_json()  # what the database keeps
    lab.sh("ip", "link", "del", "wipe0.7")  # a reboot-equivalent: the kernel forgets
    lab.sh("ip", "addr", "flush", "dev", "wipe0")
    lab.sh("ip", "link", "set", "wipe0", "mtu", "1500", "down")
    assert "10.52.0.0/24" not in run("ip", "route")
    sync(netdrv, ns.NetworkState.from_json(saved))
    now = netdrv.read({"wipe0", "wipe0.7"})
    assert now.addresses == desired.addresses
    assert {(x.name, x.mtu, x.up) for x in now.links} >= {("wipe0", 1400, True), ("wipe0.7", 1400, True)}
    assert ns.plan(now, desired) == []
    assert "10.52.0.0/24 via 10.50.0.2 dev wipe0 proto 70" in run("ip", "route")
    restore(netdrv, before)


def test_a_refused_op_puts_back_what_was_done(net, netdrv):
    veth_to("failc", "fail0", "eth0")
    snap = snapshot(netdrv, ns.NetworkState(frozenset({ns.Link("fail0")})))
    desired = ns.NetworkState(
        frozenset({ns.Link("fail0")}),
        frozenset({ns.IfAddress("fail0", "10.60.0.1", 24)}),
        frozenset({ns.Route("10.61.0.0/24", "10.99.99.99", "fail0")}))  # gateway unreachable: refused
    with pytest.raises(Exception, match="add-route 10.61.0.0/24"):
        sync(netdrv, desired)
    assert netdrv.read({"fail0"}) == snap.state
    assert Snapshot.from_json(snap.to_json()) == snap


def test_the_support_archive_kernel_sections_show_ipvs_and_our_chains(net, driver):
    from dataplane.config import SNAT
    from dataplane.kernel.snapshot import kernel_sections

    rs = tuple(RealServerSpec(n, f"rs{n}", f"10.9.0.1{n}", 443, 100) for n in (1, 2))
    sstp = ServiceSpec(1, "sstp", "10.8.0.60", (PortRange(443, 443),), TCP, method=SNAT, scheduler="rr",
                       snat_source="10.9.0.1", real_servers=rs)
    result = driver.apply(ipvs_plan(driver.read(SYSCTLS), compile_state(ClusterSpec(vip_interface="front",
                                                                                      services=(sstp,)))))
    assert result.ok, result.failed
    out = kernel_sections("legacy")
    assert "TCP  10.8.0.60:443" in out["ipvsadm-Ln-stats.txt"] and "10.9.0.11:443" in out["ipvsadm-Ln-stats.txt"]
    v4 = out["iptables-legacy-save-fulcrum.txt"]
    assert "-A FULCRUM-POSTROUTING" in v4 and "--to-source 10.9.0.1" in v4
    assert all("FULCRUM" in line or line.startswith(("*", "#")) for line in v4.splitlines() if line)
