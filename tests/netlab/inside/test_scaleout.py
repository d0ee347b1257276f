"""Active-active scale-out in the kernel lab (runs inside the UML guest): three appliance members
behind a router that spreads flows by BGP ECMP (L4 hash), Maglev (mh) on every member. The lab
(topology, members, flows) is tests/netlab/inside/scaleout_lab.py, shared with bench/scaleout.py.

Checked: a real server added at runtime lands where a fresh member puts it (same kernel list, same
server per client through every member); TCP and UDP flows spread over all three members; every flow
of a client reaches the same real server whichever member carried it; a member whose bgpd dies, then
a member that goes dark (BFD), is withdrawn and the established flows it carried go on, through the
others, to the same real server with no reset.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.netlab.inside import frr_lab
from tests.netlab.inside import scaleout_lab as so

pytestmark = pytest.mark.netlab

FLOWS_PER_CLIENT = 4


@pytest.fixture(scope="module")
def cluster():
    c = so.build(Path(os.environ.get("TMPDIR", "/tmp")) / "scaleout", n_clients=24)
    yield c
    c.close()


def _spread(flows: list[so.Flow], carriers: dict) -> dict[str, set]:
    """Asserts the spread over members and one server per client; client → members that carried it."""
    by_member = Counter(carriers.get(f.key, "?") for f in flows)
    print(f"flows per member: {dict(by_member)} of {len(flows)}")
    for member in so.MEMBERS:
        assert by_member[member] >= 0.15 * len(flows), by_member
    servers_of, members_of = so.by_client(flows, carriers)
    assert all(len(v) == 1 for v in servers_of.values()), dict(servers_of)  # one server per client
    spanning = [a for a, m in members_of.items() if len(m) > 1]
    assert len(spanning) >= len(members_of) // 2, members_of  # ...whichever member carried its flows
    assert {next(iter(v)) for v in servers_of.values()} == set(so.SERVERS)
    return servers_of


def _udp_same_servers(flows: list[so.Flow]) -> None:
    got = so.udp_recovery(flows, time.monotonic(), seconds=5)
    assert len(got) == len(flows), f"{len(flows) - len(got)} UDP flows silent"
    moved = [(f.key, f.server, got[f.key][1]) for f in flows if got[f.key][1] != f.server]
    assert moved == []


def _web_list(member: str) -> list[str]:
    """The web service's destinations in the kernel's list order (the order mh fills its table in)."""
    text = so.sh("ipvsadm", "-L", "-n", "-t", f"{so.VIP}:{so.TCP_PORT}", ns=member)
    return [line.split()[1] for line in text.splitlines() if line.strip().startswith("->")
            and line.split()[1] != "RemoteAddress:Port"]


def _server_added_at_runtime_agrees_with_a_fresh_member(cluster):
    """rs0 sorts before rs1 and rs2: the kernel would put it at the head of a running member's list,
    while a member that starts afresh adds all three in order. The diff keeps the order canonical,
    so a client reaches the same real server through every member. (Part of the one test below: the
    guest's pytest may run tests in any order, and the member-loss steps leave members down.)"""
    label, address = so.SPARE
    for member in so.MEMBERS:
        cluster.tell(member, "add_server", label=label, address=address)
    cluster.tell("m3", "fresh")  # m3 as a member started after the change: empty kernel, full apply
    lists = {m: _web_list(m) for m in so.MEMBERS}
    assert len({tuple(v) for v in lists.values()}) == 1 and len(lists["m1"]) == 3, lists

    flows = so.open_tcp(cluster.net, cluster.clients, 6)
    servers_of, members_of = so.by_client(flows, so.carriers("TCP"))
    so.close(flows)
    assert {a: s for a, s in servers_of.items() if len(s) > 1} == {}
    # the check means something only if clients crossed the fresh member and a running one
    assert sum(1 for m in members_of.values() if "m3" in m and len(m) > 1) >= len(cluster.clients) // 2, members_of
    assert label in {next(iter(s)) for s in servers_of.values()}
    cluster.tell_all("remove_server", label=label)


def test_scaleout_spreads_keeps_servers_and_survives_member_loss(cluster):
    net = cluster.net
    so.wait_all_members()
    _server_added_at_runtime_agrees_with_a_fresh_member(cluster)
    for member in so.MEMBERS:  # session state as the appliance reads it from its own bgpd
        [session] = cluster.tell(member, "sessions")["sessions"]
        assert session["neighbour"] == "10.20.0.1" and session["established"], session
        assert session["remote_asn"] == 65000 and session["prefixes_sent"] == 1, session
    for member in so.MEMBERS:  # the appliance's compiled state: the VIP on lo, Maglev
        assert f"{so.VIP}/32" in so.sh("ip", "-o", "addr", "show", "dev", "lo", ns=member)
        saved = so.sh("ipvsadm", "-S", "-n", ns=member)
        assert f"-A -t {so.VIP}:80 -s mh" in saved and f"-A -u {so.VIP}:53 -s mh" in saved

    flows = so.open_tcp(net, cluster.clients, FLOWS_PER_CLIENT)
    servers_of = _spread(flows, so.carriers("TCP"))
    udp = so.open_udp(net, cluster.clients, FLOWS_PER_CLIENT)
    udp_servers = _spread(udp, so.carriers("UDP"))
    assert len(udp_servers) == len(cluster.clients)

    # 1. m1's bgpd dies: its session closes, the router withdraws it; m1's flows go on elsewhere.
    started = time.monotonic()
    frr_lab.kill("m1", "bgpd")
    so.wait(lambda: so.next_hops() == {so.MEMBERS["m2"], so.MEMBERS["m3"]}, 10, "m1 withdrawn")
    print(f"bgpd killed → route withdrawn in {time.monotonic() - started:.2f} s")
    assert so.talk(flows) == []
    _udp_same_servers(udp)

    # 2. m2 goes dark (its link down: no FIN, no NOTIFICATION): BFD finds out.
    detection = so.BFD_INTERVAL_MS * so.BFD_MULTIPLIER / 1000
    started = time.monotonic()
    so.sh("ip", "link", "set", "v-m2", "down")
    so.wait(lambda: so.next_hops() == {so.MEMBERS["m3"]}, 10, "m2 withdrawn")
    took = time.monotonic() - started
    print(f"m2 dark → route withdrawn in {took:.2f} s (BFD detection {detection:.1f} s)")
    assert took <= detection + 1.0  # the guest's timers are coarse; the hold time would be 9 s
    assert so.talk(flows) == []
    _udp_same_servers(udp)
    fresh = so.open_tcp(net, cluster.clients, 1)  # new flows too
    assert [(f.address, f.server) for f in fresh if f.server != next(iter(servers_of[f.address]))] == []
    so.close(flows + fresh + udp)
