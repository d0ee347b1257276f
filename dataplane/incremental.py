"""Incremental compile: the kernel state after an edit of a few services, built from the state the
kernel holds by replacing only those services, and the ops for them alone (auto apply of one edit
at 10,000 services would otherwise compile, hash and diff the whole table).

Pure, like the compiler. It is right only while the edit stays inside those services' own IPVS
entries: their keys, VIPs, MARK and SNAT rules and what they ask of the sysctls are as before (a
weight, a scheduler, a real server added, removed or drained, ...). Rules are ordered across
services and addresses and sysctls are shared, so any other edit answers None: compile everything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import NamedTuple

from dataplane.compiler import compiled_service, needs_forwarding
from dataplane.config import SNAT, ClusterSpec, ServiceSpec
from dataplane.desired import DesiredState, Timeouts
from dataplane.diff import Op, plan, replace_destinations


class Replaced(NamedTuple):
    state: DesiredState  # the whole desired state
    ops: list[Op]  # what turns the given state into it (only the replaced services' entries)


def _reach(specs: Iterable[ServiceSpec]) -> list[tuple]:
    """What enabled services give the kernel beyond their own IPVS entries (compile_state's
    addresses, rules and sysctls read only this), in a comparable order."""
    reach = []
    for spec in specs:
        if spec.enabled:
            part = compiled_service(spec)
            reach.append((part.sort, part.key, part.marks, part.snat, spec.vip, needs_forwarding(spec),
                          spec.method == SNAT))
    return sorted(reach)


def replace_services(state: DesiredState, cluster: ClusterSpec, before: Iterable[ServiceSpec],
                     after: Iterable[ServiceSpec]) -> Replaced | None:
    """``state`` (compiled from a configuration holding the services ``before``) with them replaced
    by ``after`` (a service absent from one side is new or deleted), or None when that is not
    enough and only compile_state is right. ``cluster``: the configuration's settings, as before."""
    before, after = list(before), list(after)
    if cluster.active_active:  # a VIP on lo stays while any service on it serves: shared between them
        return None
    if state.timeouts != Timeouts(cluster.tcp_timeout, cluster.tcpfin_timeout, cluster.udp_timeout):
        return None
    if _reach(before) != _reach(after):
        return None
    keys = {compiled_service(spec).key for spec in before if spec.enabled}
    parts = [compiled_service(spec) for spec in after if spec.enabled]
    old = replace(state, services=frozenset(s for s in state.services if s.key in keys),
                  destinations=frozenset(d for d in state.destinations if d.service in keys))
    new = replace(state, services=frozenset(part.service for part in parts),
                  destinations=frozenset(d for part in parts for d in part.destinations))
    whole = replace(state, services=(state.services - old.services) | new.services,
                    destinations=replace_destinations(state.destinations, old.destinations, new.destinations))
    return Replaced(whole, plan(old, new))
