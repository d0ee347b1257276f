"""dataplane.netstate: the host-network diff touches only what differs, in an order the kernel accepts."""

from __future__ import annotations

from dataplane import netstate as ns

ETH1 = ns.Link("eth1")
VLAN20 = ns.Link("eth1.20", ns.VLAN, parent="eth1", vlan_id=20)
BOND = ns.Link("bond0", ns.BOND, bond_mode=ns.ACTIVE_BACKUP, members=("eth2", "eth3"))
A20 = ns.IfAddress("eth1.20", "198.51.100.1", 24)
GW = ns.Route("0.0.0.0/0", "198.51.100.254")


def state(links=(), addresses=(), routes=()):
    return ns.NetworkState(frozenset(links), frozenset(addresses), frozenset(routes))


def actions(ops):
    return [str(op) for op in ops]


def test_from_nothing_parents_come_first_and_routes_last():
    ops = ns.plan(state([ns.Link("eth1", mtu=1500)]), state([ETH1, VLAN20, BOND], [A20], [GW]))
    assert actions(ops) == [
        "add-link bond0", "add-link eth1.20",
        "enslave bond0 member eth2", "enslave bond0 member eth3",
        "set-link bond0", "set-link eth1.20",
        "add-address 198.51.100.1/24 dev eth1.20",
        "add-route 0.0.0.0/0 via 198.51.100.254",
    ]  # eth1 exists, is up and keeps its MTU: nothing to do for it


def test_equal_states_need_nothing_and_an_unset_mtu_is_left_alone():
    now = state([ns.Link("eth1", mtu=9000), ns.Link("eth1.20", ns.VLAN, True, 9000, "eth1", 20)], [A20], [GW])
    assert ns.plan(now, state([ETH1, VLAN20], [A20], [GW])) == []


def test_going_back_removes_in_reverse_order():
    now = state([ETH1, VLAN20, BOND], [A20], [GW])
    assert actions(ns.plan(now, state([ETH1]))) == [
        "del-route 0.0.0.0/0 via 198.51.100.254",
        "del-address 198.51.100.1/24 dev eth1.20",
        "del-link eth1.20", "del-link bond0",
    ]


def test_a_changed_vlan_id_is_recreated_and_a_bond_member_released():
    now = state([ETH1, VLAN20, BOND])
    want = state([ETH1, ns.Link("eth1.20", ns.VLAN, parent="eth1", vlan_id=21),
                  ns.Link("bond0", ns.BOND, bond_mode=ns.ACTIVE_BACKUP, members=("eth2",))])
    assert actions(ns.plan(now, want)) == [
        "del-link eth1.20", "release bond0 member eth3", "add-link eth1.20", "set-link eth1.20"]


def test_physical_links_are_set_never_deleted():
    now = state([ns.Link("eth1", mtu=1500), ns.Link("eth4", up=True, mtu=1500)])
    ops = ns.plan(now, state([ns.Link("eth1", up=False, mtu=9000)]))
    assert actions(ops) == ["set-link eth1"]


def test_json_round_trip_and_version():
    s = state([ETH1, VLAN20, BOND], [A20], [GW])
    assert ns.NetworkState.from_json(s.to_json()) == s
    bad = {**s.to_json(), "version": 99}
    try:
        ns.NetworkState.from_json(bad)
    except ValueError as exc:
        assert "version 99" in str(exc)
    else:
        raise AssertionError("an unknown version must be refused")
