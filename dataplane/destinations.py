"""Runtime state in the kernel: the destination changes of one service when a real server's
administrative state (online/drain/halt) or health changes. Pure: no Django, no I/O.

Both sides are compiled by ``dataplane.compiler``, so quiesce/remove, drain/halt and the fallback
server follow the same rules as a full apply, and an apply afterwards finds nothing to undo.
"""

from __future__ import annotations

from collections.abc import Iterable

from dataplane.compiler import compile_state, family_of, fit_vips, host_prefix, service_key
from dataplane.config import LOOPBACK, ClusterSpec, ServiceSpec
from dataplane.desired import Address, DesiredState
from dataplane.diff import (
    AddAddress,
    AddDest,
    DelAddress,
    DelDest,
    EditDest,
    Op,
    dest_id,
    destination_index,
    service_keys,
)


def destination_changes(before: ServiceSpec, after: ServiceSpec) -> tuple[set, dict]:
    """The destinations a change from ``before`` to ``after`` touches, and what each must become
    (absent: removed)."""
    b = compile_state(ClusterSpec(services=(before,))).destinations
    a = compile_state(ClusterSpec(services=(after,))).destinations
    touched = {dest_id(d) for d in b ^ a}
    return touched, {dest_id(d): d for d in a if dest_id(d) in touched}


def plan_destinations(touched: set, want: dict, have: dict) -> list[Op]:
    """Ops for the touched destinations, from what the kernel holds. New weights before removals,
    so a service never passes through "no destination" while the fallback is switched."""
    ops: list[Op] = []
    for i in sorted(touched):
        if i in want and i not in have:
            ops.append(AddDest(want[i]))
        elif i in want and have[i] != want[i]:
            ops.append(EditDest(want[i]))
    ops += [DelDest(have[i]) for i in sorted(touched) if i in have and i not in want]
    return ops


def server_destination_ids(spec: ServiceSpec, server_ids: Iterable[int]) -> set:
    """Where the given real servers, and the service's fallback server, sit in IPVS."""
    key = service_key(spec)
    wanted = set(server_ids)
    ids = {(key, rs.address, key.port if rs.port is None else rs.port)
           for rs in spec.real_servers if rs.id in wanted}
    if spec.fallback_address:
        ids.add((key, spec.fallback_address, key.port if spec.fallback_port is None else spec.fallback_port))
    return ids


def runtime_ops(current: DesiredState, specs: Iterable[tuple[ServiceSpec, set[int]]]) -> list[Op]:
    """Ops that bring the named real servers of each service (and its fallback) to what their saved
    runtime state asks, from what the kernel holds. Only those destinations: a configuration
    change still waiting for Apply stays waiting. A service the kernel does not hold (never
    applied, disabled) is left to the next apply."""
    have_all = destination_index(current.destinations)
    ops: list[Op] = []
    for spec, server_ids in specs:
        if not spec.enabled or service_key(spec) not in service_keys(current.services):
            continue
        touched = server_destination_ids(spec, server_ids)
        compiled = compile_state(ClusterSpec(services=(spec,))).destinations
        want = {dest_id(d): d for d in compiled if dest_id(d) in touched}
        ops += plan_destinations(touched, want, {i: have_all[i] for i in touched if i in have_all})
    return ops



def vip_ops(current: DesiredState, services: Iterable[ServiceSpec]) -> list[Op]:
    """Active-active: add or remove the VIPs on lo so this node holds (so bgpd announces) exactly the
    VIPs it is fit to serve, after a health or runtime change; the rule is the compiler's (fit_vips), so
    the next apply finds nothing to undo. ``services``: every enabled service, since a VIP shared by
    several services stays while any of them serves."""
    services = list(services)
    want = {Address(v, host_prefix(family_of(v)), LOOPBACK) for v in fit_vips(services)}
    vips = {spec.vip for spec in services if spec.vip}
    have = {a for a in current.addresses if a.interface == LOOPBACK and a.address in vips}
    return [AddAddress(a) for a in sorted(want - have)] + [DelAddress(a) for a in sorted(have - want)]
