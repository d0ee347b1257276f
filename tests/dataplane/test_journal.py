"""The kernel journal's codec: JSON with a schema version; anything else is not trusted."""

from __future__ import annotations

import json
import pickle

from dataplane.compiler import compile_state
from dataplane.config import FWMARK, TCP_UDP, ClusterSpec, PortRange, RealServerSpec, ServiceSpec
from dataplane.desired import DesiredState
from dataplane.journal import SCHEMA_VERSION, decode, encode


def a_state() -> DesiredState:
    servers = (RealServerSpec(1, "a", "10.0.0.1", 8080), RealServerSpec(2, "b", "10.0.0.2", None, weight=5,
                                                                        max_conns=9, admin_state="drain"))
    return compile_state(ClusterSpec(autonat_interface="eth1", services=(
        ServiceSpec(1, "web", "192.0.2.1", (PortRange(80, 80),), method="nat", real_servers=servers,
                    persistent=True, persistence_netmask="255.255.255.0", snat_source=""),
        ServiceSpec(2, "ike", "2001:db8::1", (PortRange(500, 500), PortRange(4500, 4500)), protocol=TCP_UDP,
                    fwmark=7, method="tun", real_servers=servers),
        ServiceSpec(3, "mark", "192.0.2.3", (), protocol=FWMARK, fwmark=9, real_servers=servers),
    )))


def test_round_trip_through_json_text():
    state = a_state()
    assert state.services and state.destinations and state.rules and state.sysctls and state.addresses
    doc = json.loads(json.dumps(encode(state)))
    assert doc["schema"] == SCHEMA_VERSION
    assert decode(doc) == state


def test_equal_states_encode_equally():
    assert encode(a_state()) == encode(a_state())
    assert decode(encode(DesiredState.empty())) == DesiredState.empty()


def test_other_versions_and_damage_are_not_trusted():
    doc = encode(a_state())
    assert decode({**doc, "schema": SCHEMA_VERSION + 1}) is None
    assert decode({**doc, "schema": 0}) is None
    assert decode({k: v for k, v in doc.items() if k != "schema"}) is None
    assert decode({**doc, "destinations": [["not", "a", "destination"]]}) is None
    assert decode({**doc, "timeouts": "900"}) is None
    assert decode(None) is None
    assert decode(pickle.dumps(a_state())) is None  # an old pickled row is data, never unpickled


def test_compiler_sysctls_are_all_named():
    """A writer that reads the kernel afresh reads SYSCTL_NAMES: every sysctl the compiler sets is there."""
    from dataplane.compiler import SYSCTL_NAMES

    state = compile_state(ClusterSpec(autonat_interface="eth1", active_active=True, services=(
        ServiceSpec(1, "a", "192.0.2.1", (PortRange(80, 80),), method="snat"),
        ServiceSpec(2, "b", "2001:db8::1", (PortRange(80, 80),), method="nat"))))
    assert {n for n, _ in state.sysctls} == set(SYSCTL_NAMES)


def test_ops_round_trip_and_damage():
    from dataplane.diff import plan
    from dataplane.journal import decode_ops, encode_ops

    ops = plan(DesiredState.empty(), a_state())
    assert {type(op).__name__ for op in ops} >= {"AddDest", "AddService", "AddAddress", "ReplaceRules", "SetSysctl"}
    ops += plan(a_state(), DesiredState.empty())
    doc = json.loads(json.dumps(encode_ops(ops)))
    assert decode_ops(doc) == ops
    assert decode_ops({**doc, "schema": 2}) is None
    assert decode_ops({**doc, "ops": [["add_dest", [1, 2]]]}) is None
    assert decode_ops({**doc, "ops": [["exec", "rm -rf /"]]}) is None


def test_weight_only_simulate_matches_the_general_one():
    import random

    from dataplane.desired import Timeouts
    from dataplane.diff import AddDest, DelDest, EditDest, SetTimeouts, simulate

    state = a_state()
    rng = random.Random(12)
    for _ in range(50):
        dests = sorted(state.destinations)
        picks = rng.sample(dests, k=min(3, len(dests)))
        ops = [rng.choice([EditDest(replace_weight(d, rng.randint(0, 9))), DelDest(d)]) for d in picks]
        ops.append(AddDest(replace_weight(picks[0], 42)))
        fast = simulate(state, ops)
        general = simulate(state, [*ops, SetTimeouts(state.timeouts)])  # any non-weight op: the general path
        assert fast.destinations == general.destinations
        assert replace_dests(fast, state) == state  # nothing else touched
        state = fast
    assert simulate(state, [SetTimeouts(Timeouts(1, 2, 3))]).timeouts == Timeouts(1, 2, 3)


def replace_weight(dest, weight):
    from dataclasses import replace

    return replace(dest, weight=weight)


def replace_dests(state, like):
    from dataclasses import replace

    return replace(state, destinations=like.destinations)
