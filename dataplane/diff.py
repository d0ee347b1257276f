"""Plan the minimal, ordered kernel operations that turn one DesiredState into another.

Pure: no I/O. ``plan(current, desired)`` returns a list of small frozen ``Op`` values;
``simulate(state, ops)`` computes the state the kernel holds after ``ops`` have been
applied to ``state``. Together they are the rollback story of the apply layer::

    result = driver.apply(ops)                  # stops at the first failure
    if not result.ok:
        now = simulate(before, result.applied)  # what the kernel holds now
        driver.apply(plan(now, last_good))      # back to the last good state

Order of a plan (each step only when something changed):

1. ``SetTimeouts``, ``SetSysctl``     appliance-wide settings first (forwarding, conntrack)
2. ``AddAddress``                     VIPs up before services that use them
3. ``DelDest``, ``DelService``        removals first; destinations before their service
4. ``AddService``, ``EditService``    then services ...
5. ``AddDest``, ``EditDest``          ... before their destinations
6. ``ReplaceRules(family)``           the whole set of rules in our chains, atomically
7. ``DelAddress``                     VIPs down last

A service is identified by its ``ServiceKey``: a changed key is a delete and an add; any
other change is an ``EditService``. A destination is identified by (service, address,
port): a changed weight, method or threshold is one ``EditDest`` and touches nothing else.

Maglev (``mh``) services keep their destinations in one canonical kernel order. The kernel
adds a destination at the head of the service's list and mh fills its lookup table from the
list in list order, so a server added to a running member would sit elsewhere in its list
than on a member that started afresh (which adds in ascending order), and the two would send
some clients to different servers. So when destinations join an mh service, those already
there that sort after the first newcomer are deleted (step 3) and re-added with the
newcomers in ascending order (step 5): the list then reads as if built from scratch.
Removals keep the relative order, and a service switched to mh re-adds all of its own.

Sysctls are only ever set, never "unset": a name that disappears from the desired state is
left at its value (the kernel has no "default" to go back to). Rules are replaced per
family; ``simulate`` keeps IPv4 rules before IPv6 rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from dataplane.config import MAGLEV
from dataplane.desired import (
    Address,
    DesiredState,
    IpvsDestination,
    IpvsService,
    Rule,
    ServiceKey,
    Timeouts,
)


@dataclass(frozen=True)
class Op:
    """One kernel operation. ``describe()`` is for logs and the change report: the command lines
    an admin would type for it (dataplane.oprender)."""

    def describe(self) -> str:
        from dataplane.oprender import describe  # oprender imports this module

        return describe(self)


@dataclass(frozen=True)
class SetTimeouts(Op):
    timeouts: Timeouts


@dataclass(frozen=True)
class SetSysctl(Op):
    name: str  # dotted, e.g. "net.ipv4.vs.conntrack"
    value: str


@dataclass(frozen=True)
class AddAddress(Op):
    address: Address


@dataclass(frozen=True)
class DelAddress(Op):
    address: Address


@dataclass(frozen=True)
class AddService(Op):
    service: IpvsService


@dataclass(frozen=True)
class EditService(Op):
    service: IpvsService  # the new attributes; the key is unchanged


@dataclass(frozen=True)
class DelService(Op):
    service: IpvsService  # the service as it was (its key is what counts)


@dataclass(frozen=True)
class AddDest(Op):
    dest: IpvsDestination


@dataclass(frozen=True)
class EditDest(Op):
    dest: IpvsDestination  # the new attributes; service, address and port unchanged


@dataclass(frozen=True)
class DelDest(Op):
    dest: IpvsDestination


@dataclass(frozen=True)
class ReplaceRules(Op):
    """Make our chains of one family hold exactly ``rules`` (iptables-restore --noflush)."""

    family: int
    rules: tuple[Rule, ...]


IPVS_OPS = (SetTimeouts, AddService, EditService, DelService, AddDest, EditDest, DelDest)
DEST_OPS = (AddDest, EditDest, DelDest)


def dest_id(d: IpvsDestination) -> tuple[ServiceKey, str, int]:
    return (d.service, d.address, d.port)


def _rules_of(state: DesiredState, family: int) -> tuple[Rule, ...]:
    return tuple(r for r in state.rules if r.family == family)


def plan(current: DesiredState, desired: DesiredState) -> list[Op]:
    """The minimal ordered operations that turn ``current`` into ``desired``."""
    ops: list[Op] = []

    if current.timeouts != desired.timeouts:
        ops.append(SetTimeouts(desired.timeouts))
    have_sysctls = dict(current.sysctls)
    ops += [SetSysctl(n, v) for n, v in sorted(desired.sysctls) if have_sysctls.get(n) != v]

    ops += [AddAddress(a) for a in sorted(desired.addresses - current.addresses)]

    # Set differences run in C and compare only by hash/identity for unchanged values, so a
    # one-weight change among 50,000 destinations costs little more than the change itself.
    svc_gone = {s.key: s for s in current.services - desired.services}
    svc_came = {s.key: s for s in desired.services - current.services}
    dst_gone = {dest_id(d): d for d in current.destinations - desired.destinations}
    dst_came = {dest_id(d): d for d in desired.destinations - current.destinations}

    reseat = _maglev_reseat(current, desired, svc_gone, svc_came, dst_gone, dst_came)

    # Removals: destinations first (including those of services that go), then services.
    ops += [DelDest(dst_gone[i]) for i in sorted(dst_gone.keys() - dst_came.keys())]
    ops += [DelDest(reseat[i][0]) for i in sorted(reseat)]
    ops += [DelService(svc_gone[k]) for k in sorted(svc_gone.keys() - svc_came.keys())]

    for k in sorted(svc_came):
        ops.append(EditService(svc_came[k]) if k in svc_gone else AddService(svc_came[k]))
    for i in sorted(dst_came.keys() | reseat.keys()):
        if i in reseat:
            ops.append(AddDest(reseat[i][1]))
        else:
            ops.append(EditDest(dst_came[i]) if i in dst_gone else AddDest(dst_came[i]))

    for family in (4, 6):
        want = _rules_of(desired, family)
        if _rules_of(current, family) != want:
            ops.append(ReplaceRules(family, want))

    ops += [DelAddress(a) for a in sorted(current.addresses - desired.addresses)]
    return ops


def _maglev_reseat(current, desired, svc_gone, svc_came, dst_gone, dst_came) -> dict:
    """{dest_id: (as the kernel holds it, as desired)} of the destinations of mh services that must
    be deleted and re-added so the kernel's list stays in canonical order (see the module doc)."""
    joined = [i for i in dst_came if i not in dst_gone]
    switched = [k for k, s in svc_came.items()
                if s.scheduler == MAGLEV and k in svc_gone and svc_gone[k].scheduler != MAGLEV]
    if not joined and not switched:  # the common case (weights, health): nothing to look up
        return {}
    existing = service_keys(current.services)
    scheduler = _cached("schedulers", desired.services, lambda t: {s.key: s.scheduler for s in t})
    pivot: dict[ServiceKey, tuple] = {}  # service → the first newcomer (re-add what sorts after it)
    for i in joined:
        if scheduler.get(i[0]) == MAGLEV and i[0] in existing and (i[0] not in pivot or i < pivot[i[0]]):
            pivot[i[0]] = i
    pivot.update({k: (k,) for k in switched})  # (key,) sorts before every (key, address, port)
    if not pivot:
        return {}
    want = destination_index(desired.destinations)
    by_service = _cached("by_service", current.destinations, _group_by_service)
    return {dest_id(d): (d, want[dest_id(d)]) for k, first in pivot.items() for d in by_service.get(k, ())
            if dest_id(d) > first and dest_id(d) in want}


def _group_by_service(destinations: frozenset) -> dict:
    groups: dict[ServiceKey, list] = {}
    for d in destinations:
        groups.setdefault(d.service, []).append(d)
    return groups


def simulate(state: DesiredState, ops: Iterable[Op]) -> DesiredState:
    """The state after applying ``ops`` to ``state``, with the kernel's semantics.

    Deleting a service deletes its destinations. Ops the kernel would refuse (adding what
    exists, editing what does not) are applied as if they had succeeded: feed this only
    the ops that were applied (``ApplyResult.applied``).
    """
    ops = list(ops)
    if all(isinstance(op, DEST_OPS) for op in ops):
        return _simulate_destinations(state, ops)
    services = {s.key: s for s in state.services}
    dests = {dest_id(d): d for d in state.destinations}
    addresses = set(state.addresses)
    rules = {4: _rules_of(state, 4), 6: _rules_of(state, 6)}
    sysctls = dict(state.sysctls)
    timeouts = state.timeouts
    for op in ops:
        match op:
            case SetTimeouts(t):
                timeouts = t
            case SetSysctl(name, value):
                sysctls[name] = value
            case AddAddress(a):
                addresses.add(a)
            case DelAddress(a):
                addresses.discard(a)
            case AddService(s) | EditService(s):
                services[s.key] = s
            case DelService(s):
                services.pop(s.key, None)
                for i in [i for i in dests if i[0] == s.key]:
                    del dests[i]
            case AddDest(d) | EditDest(d):
                dests[dest_id(d)] = d
            case DelDest(d):
                dests.pop(dest_id(d), None)
            case ReplaceRules(family, new_rules):
                rules[family] = tuple(new_rules)
            case _:
                raise TypeError(f"unknown op {op!r}")
    return replace(
        state,
        services=frozenset(services.values()),
        destinations=frozenset(dests.values()),
        addresses=frozenset(addresses),
        rules=rules[4] + rules[6],
        sysctls=tuple(sorted(sysctls.items())),
        timeouts=timeouts,
    )


# Indexes of the last few tables used (least recently used evicted), keyed by the table's identity
# (the table is kept referenced here, so its id cannot be reused while cached). A runtime action or a
# health batch then finds its destinations without walking 40,000 of them, and passes the index on to
# the next state.
_INDEXES: dict[tuple[str, int], tuple[frozenset, object]] = {}
_INDEXES_KEPT = 8


def _remember(kind: str, table: frozenset, index):
    while len(_INDEXES) >= _INDEXES_KEPT:
        del _INDEXES[next(iter(_INDEXES))]
    _INDEXES[(kind, id(table))] = (table, index)
    return index


def _cached(kind: str, table: frozenset, build):
    hit = _INDEXES.pop((kind, id(table)), None)
    if hit is not None and hit[0] is table:
        _INDEXES[(kind, id(table))] = hit  # most recently used last: what is evicted is the oldest unused,
        return hit[1]  # not the service table's keys, which every runtime change asks for and none changes
    return _remember(kind, table, build(table))


def destination_index(destinations: frozenset) -> dict:
    """{dest_id: destination} of a table (built once per table, then reused: treat it as read-only)."""
    return _cached("dests", destinations, lambda t: {dest_id(d): d for d in t})


def replace_destinations(table: frozenset, old: frozenset, new: frozenset) -> frozenset:
    """``table`` without ``old`` and with ``new``. Its index, when built, is carried over to the result,
    so the next runtime change does not index 40,000 destinations again."""
    result = (table - old) | new
    hit = _INDEXES.get(("dests", id(table)))
    if hit is not None and hit[0] is table:
        index = hit[1].copy()
        for d in old:
            index.pop(dest_id(d), None)
        index.update((dest_id(d), d) for d in new)
        _remember("dests", result, index)
    return result


def service_keys(services: frozenset) -> frozenset:
    """The keys of a service table (built once per table)."""
    return _cached("keys", services, lambda t: frozenset(s.key for s in t))


def _simulate_destinations(state: DesiredState, ops: list[Op]) -> DesiredState:
    """simulate() for weight changes only (runtime actions, health): touches only their destinations,
    so it costs little however large the table."""
    index = destination_index(state.destinations)
    ids = {dest_id(op.dest) for op in ops}
    old = frozenset(index[i] for i in ids if i in index)
    dests = {dest_id(d): d for d in old}
    for op in ops:
        if isinstance(op, DelDest):
            dests.pop(dest_id(op.dest), None)
        else:
            dests[dest_id(op.dest)] = op.dest
    table = (state.destinations - old) | frozenset(dests.values())
    new_index = index.copy()
    for i in ids:
        new_index.pop(i, None)
    new_index.update(dests)
    _remember("dests", table, new_index)
    return replace(state, destinations=table)


def inverse(before: DesiredState, ops: Sequence[Op]) -> list[Op]:
    """Ops that undo ``ops`` once applied to ``before``: ``plan(simulate(before, ops), before)``."""
    return plan(simulate(before, ops), before)
