"""dataplane.diff: minimal ordered plans, simulate, and the rollback story. Pure: no kernel, no Django.

    .venv/bin/pytest -p no:django tests/dataplane/test_diff.py
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataplane.compiler import compile_state
from dataplane.desired import (
    MASQ,
    ROUTE,
    Address,
    DesiredState,
    IpvsDestination,
    IpvsService,
    Rule,
    ServiceKey,
    Timeouts,
)
from dataplane.diff import (
    AddAddress,
    AddDest,
    AddService,
    DelAddress,
    DelDest,
    DelService,
    EditDest,
    EditService,
    ReplaceRules,
    SetSysctl,
    SetTimeouts,
    inverse,
    plan,
    simulate,
)
from dataplane.kernel import RenderOnlyDriver
from tests.dataplane.configs import CONFIGS

EMPTY = DesiredState.empty()
K1 = ServiceKey(4, "tcp", "192.0.2.10", 443)
K2 = ServiceKey(4, "fwm", "", 0, 1)
S1 = IpvsService(K1, "wlc")
S2 = IpvsService(K2, "rr", 3600)
D1 = IpvsDestination(K1, "10.0.0.11", 443, MASQ, 100)
D2 = IpvsDestination(K1, "10.0.0.12", 443, MASQ, 100)
D3 = IpvsDestination(K2, "10.0.0.11", 0, ROUTE, 1)
VIP = Address("192.0.2.10", 32, "eth0")
SNAT = Rule(4, "nat", "FULCRUM-POSTROUTING", ("-m", "ipvs", "--vaddr", "192.0.2.10", "-j", "MASQUERADE"))


def state(services=(), dests=(), addresses=(), rules=(), sysctls=(), timeouts=None) -> DesiredState:
    return DesiredState(frozenset(services), frozenset(dests), frozenset(addresses), tuple(rules),
                        tuple(sorted(sysctls)), timeouts or EMPTY.timeouts)


FULL = state([S1, S2], [D1, D2, D3], [VIP], [SNAT], [("net.ipv4.vs.conntrack", "1")])


def test_no_change_no_ops():
    assert plan(FULL, FULL) == []
    assert plan(EMPTY, EMPTY) == []


def test_cold_apply_order():
    ops = plan(EMPTY, FULL)
    kinds = [type(o) for o in ops]
    assert kinds == [SetSysctl, AddAddress, AddService, AddService, AddDest, AddDest, AddDest, ReplaceRules]
    assert ops[-1] == ReplaceRules(4, (SNAT,))


def test_services_before_their_destinations_and_destinations_removed_first():
    add = plan(EMPTY, FULL)
    for i, op in enumerate(add):
        if isinstance(op, AddDest):
            assert any(isinstance(o, AddService) and o.service.key == op.dest.service for o in add[:i])
    remove = plan(FULL, EMPTY)
    for i, op in enumerate(remove):
        if isinstance(op, DelService):
            assert not any(isinstance(o, DelDest) and o.dest.service == op.service.key for o in remove[i:])
    assert isinstance(remove[-1], DelAddress)  # VIPs go last
    assert ReplaceRules(4, ()) in remove


def test_weight_edit_touches_only_that_destination():
    desired = state([S1, S2], [replace(D1, weight=0), D2, D3], [VIP], [SNAT], [("net.ipv4.vs.conntrack", "1")])
    assert plan(FULL, desired) == [EditDest(replace(D1, weight=0))]


def test_method_and_threshold_changes_are_edits():
    new = replace(D2, method=ROUTE, upper_threshold=10)
    assert plan(FULL, replace(FULL, destinations=frozenset([D1, new, D3]))) == [EditDest(new)]


def test_scheduler_change_is_an_edit_key_change_is_delete_and_add():
    edited = replace(S1, scheduler="rr", persistence_timeout=300)
    assert plan(FULL, replace(FULL, services=frozenset([edited, S2]))) == [EditService(edited)]

    k1b = replace(K1, port=8443)
    moved = state([replace(S1, key=k1b), S2], [replace(D1, service=k1b), replace(D2, service=k1b), D3],
                  [VIP], [SNAT], [("net.ipv4.vs.conntrack", "1")])
    ops = plan(FULL, moved)
    assert ops == [
        DelDest(D1), DelDest(D2), DelService(S1),
        AddService(replace(S1, key=k1b)),
        AddDest(replace(D1, service=k1b)), AddDest(replace(D2, service=k1b)),
    ]


def test_timeouts_sysctls_rules_addresses():
    desired = replace(FULL, timeouts=Timeouts(7200, 120, 300), sysctls=(("net.ipv4.vs.conntrack", "0"),),
                      addresses=frozenset([Address("192.0.2.11", 32, "eth0")]), rules=())
    assert plan(FULL, desired) == [
        SetTimeouts(Timeouts(7200, 120, 300)),
        SetSysctl("net.ipv4.vs.conntrack", "0"),
        AddAddress(Address("192.0.2.11", 32, "eth0")),
        ReplaceRules(4, ()),
        DelAddress(VIP),
    ]


def test_sysctls_that_disappear_are_left_alone():
    assert plan(FULL, replace(FULL, sysctls=())) == []


def test_rules_are_replaced_per_family_only_when_that_family_changes():
    mark = ("-d", "2001:db8::1/128", "-j", "MARK", "--set-xmark", "0x1/0xffffffff")
    v6 = Rule(6, "mangle", "FULCRUM-PREROUTING", mark)
    with6 = replace(FULL, rules=(SNAT, v6))
    assert plan(FULL, with6) == [ReplaceRules(6, (v6,))]
    assert plan(with6, replace(with6, rules=(v6, SNAT))) == []  # order across families is not significant


def test_rule_order_within_a_family_matters():
    other = replace(SNAT, args=("-o", "eth1", "-j", "MASQUERADE"))
    assert plan(replace(FULL, rules=(SNAT, other)), replace(FULL, rules=(other, SNAT))) == [
        ReplaceRules(4, (other, SNAT))
    ]


def test_deleting_a_service_deletes_its_destinations_in_simulate():
    after = simulate(FULL, [DelService(S1)])
    assert after.destinations == frozenset([D3])


def test_inverse_restores():
    ops = plan(FULL, EMPTY)
    assert simulate(simulate(FULL, ops), inverse(FULL, ops)) == FULL


@pytest.mark.parametrize("a,b", list(itertools.permutations(CONFIGS, 2)) + [(n, n) for n in CONFIGS])
def test_plan_between_reference_configs_converges(a, b):
    sa, sb = compile_state(CONFIGS[a]), compile_state(CONFIGS[b])
    ops = plan(sa, sb)
    assert plan(simulate(sa, ops), sb) == []
    if a == b:
        assert ops == []


@pytest.mark.parametrize("name", list(CONFIGS))
def test_rollback_after_failure_at_any_op(name):
    """Whatever op k fails, plan(simulate(before, applied), before) brings the state back."""
    before = compile_state(CONFIGS[name])
    ops = plan(before, EMPTY) + plan(EMPTY, compile_state(CONFIGS["aovpn"] if name != "aovpn" else CONFIGS["web_dr"]))
    for k in range(len(ops)):
        driver = RenderOnlyDriver(state=before, fail_on=lambda op, bad=ops[k]: op is bad)
        result = driver.apply(ops)
        assert not result.ok and result.failed[0][0] is ops[k]
        assert list(result.applied) == ops[:k] and result.attempted == k + 1
        now = simulate(before, result.applied)
        assert plan(now, driver.state) == [] == plan(driver.state, now)  # rule order across families aside
        driver.fail_on = None
        assert driver.apply(plan(now, before)).ok
        assert plan(driver.state, before) == []


# --- property: plan/simulate converge for arbitrary small states

keys = st.sampled_from([K1, K2, ServiceKey(6, "udp", "2001:db8::10", 53), replace(K1, port=80)])
services = st.builds(IpvsService, keys, st.sampled_from(["wlc", "rr", "sh"]), st.sampled_from([0, 300]))
dests = st.builds(IpvsDestination, keys, st.sampled_from(["10.0.0.11", "10.0.0.12"]), st.sampled_from([0, 443]),
                  st.sampled_from([MASQ, ROUTE]), st.integers(0, 3))
rules = st.builds(Rule, st.sampled_from([4, 6]), st.just("nat"), st.just("FULCRUM-POSTROUTING"),
                  st.sampled_from([("-j", "MASQUERADE"), ("-o", "eth1", "-j", "MASQUERADE")]))
addresses = st.builds(Address, st.sampled_from(["192.0.2.10", "192.0.2.11"]), st.just(32), st.just("eth0"))


@st.composite
def states(draw):
    svcs = {s.key: s for s in draw(st.lists(services, max_size=4))}
    ds = {(d.service, d.address, d.port): d for d in draw(st.lists(dests, max_size=6)) if d.service in svcs}
    rs = draw(st.lists(rules, max_size=3))
    return state(svcs.values(), ds.values(), draw(st.sets(addresses)),
                 [r for r in rs if r.family == 4] + [r for r in rs if r.family == 6],
                 draw(st.sets(st.sampled_from([("net.ipv4.vs.conntrack", "1"), ("net.ipv4.ip_forward", "1")]))))


@settings(max_examples=300, deadline=None)
@given(states(), states())
def test_property_plan_then_simulate_reaches_desired(a, b):
    ops = plan(a, b)
    after = simulate(a, ops)
    assert plan(after, b) == []
    assert after.services == b.services and after.destinations == b.destinations
    assert after.addresses == b.addresses and after.rules == b.rules
    # every destination added has its service in place at that point
    for i, op in enumerate(ops):
        if isinstance(op, AddDest | EditDest):
            assert op.dest.service in {s.key for s in simulate(a, ops[:i]).services}


# --- Maglev: the kernel's destination list order (mh fills its table in list order)


def kernel_lists(ops, lists=None) -> dict:
    """The kernel's destination list per service (head first) after ``ops``: an added destination goes
    to the head (ip_vs_ctl.c list_add_rcu), a deleted one leaves the others' order alone."""
    lists = {k: list(v) for k, v in (lists or {}).items()}
    for op in ops:
        match op:
            case AddService(s):
                lists[s.key] = []
            case DelService(s):
                lists.pop(s.key, None)
            case AddDest(d):
                lists[d.service].insert(0, (d.address, d.port))
            case DelDest(d):
                lists[d.service].remove((d.address, d.port))
    return lists


MH = IpvsService(K1, "mh")
RS = {n: IpvsDestination(K1, f"10.0.0.{n}", 443, ROUTE, 1) for n in range(10, 20)}


def test_maglev_server_added_at_runtime_keeps_the_fresh_order():
    before = state([MH], [RS[11], RS[13]])
    after = state([MH], [RS[11], RS[12], RS[13]])
    ops = plan(before, after)
    # 13 sorts after the newcomer 12: deleted and re-added after it; 11 stays
    assert ops == [DelDest(RS[13]), AddDest(RS[12]), AddDest(RS[13])]
    running = kernel_lists(ops, kernel_lists(plan(EMPTY, before)))
    assert running == kernel_lists(plan(EMPTY, after))  # as a member that started with all three


def test_maglev_newcomer_sorting_last_moves_nothing_and_other_schedulers_never_reseat():
    assert plan(state([MH], [RS[11]]), state([MH], [RS[11], RS[12]])) == [AddDest(RS[12])]
    wlc = IpvsService(K1, "wlc")
    assert plan(state([wlc], [RS[12]]), state([wlc], [RS[11], RS[12]])) == [AddDest(RS[11])]


def test_maglev_reseat_carries_a_weight_edit_and_a_switch_to_mh_reseats_all():
    heavier = replace(RS[13], weight=5)
    ops = plan(state([MH], [RS[11], RS[13]]), state([MH], [RS[10], RS[11], heavier]))
    assert ops == [DelDest(RS[11]), DelDest(RS[13]), AddDest(RS[10]), AddDest(RS[11]), AddDest(heavier)]
    rr = IpvsService(K1, "rr")
    ops = plan(state([rr], [RS[12], RS[11]]), state([MH], [RS[11], RS[12]]))
    assert ops == [DelDest(RS[11]), DelDest(RS[12]), EditService(MH), AddDest(RS[11]), AddDest(RS[12])]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sets(st.sampled_from(sorted(RS)), max_size=6), min_size=2, max_size=5))
def test_property_maglev_running_member_matches_a_fresh_one(history):
    """Whatever sequence of server sets a running member went through, its kernel lists equal those
    of a member that applied only the last set from scratch."""
    current, lists = EMPTY, {}
    for servers in history:
        desired = state([MH], [RS[n] for n in servers])
        lists = kernel_lists(plan(current, desired), lists)
        current = desired
    assert lists == kernel_lists(plan(EMPTY, current))
