"""The kernel journal's codec: a DesiredState, and the ops applied since, as plain JSON data with a
schema version. No Django, no I/O.

JSON (never pickle) because the journal is stored where the unprivileged web process can write:
decoding it must not be able to run code in the privileged writer, and a refactor of
dataplane/desired.py must not silently misread an old row. A document of any other schema version,
or damaged, decodes to None: the writer then trusts the kernel, not the journal.
"""

from __future__ import annotations

from collections.abc import Iterable

from dataplane.desired import Address, DesiredState, IpvsDestination, IpvsService, Rule, ServiceKey, Timeouts
from dataplane.diff import (
    AddAddress,
    AddDest,
    AddService,
    DelAddress,
    DelDest,
    DelService,
    EditDest,
    EditService,
    Op,
    ReplaceRules,
    SetSysctl,
    SetTimeouts,
)

SCHEMA_VERSION = 1


# --- one value each way


def _key(k: ServiceKey) -> list:
    return [k.family, k.protocol, k.address, k.port, k.fwmark]


def _service(s: IpvsService) -> list:
    return [_key(s.key), s.scheduler, s.persistence_timeout, s.netmask, s.one_packet]


def _dest(d: IpvsDestination) -> list:
    return [_key(d.service), d.address, d.port, d.method, d.weight, d.upper_threshold, d.lower_threshold]


def _address(a: Address) -> list:
    return [a.address, a.prefixlen, a.interface]


def _rule(r: Rule) -> list:
    return [r.family, r.table, r.chain, list(r.args)]


def _list(value, width: int | None = None) -> list:
    if not isinstance(value, list) or (width is not None and len(value) != width):
        raise TypeError(f"{value!r:.40} is not a list of {width or 'any number of'} items")
    return value


def _int(value) -> int:
    if type(value) is not int:  # bool is an int subclass; "80" is text: both are damage here
        raise TypeError(f"{value!r} is not an integer")
    return value


def _str(value) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{value!r} is not text")
    return value


def _to_key(k) -> ServiceKey:
    family, protocol, address, port, fwmark = _list(k, 5)
    return ServiceKey(_int(family), _str(protocol), _str(address), _int(port), _int(fwmark))


def _to_service(row) -> IpvsService:
    k, sched, timeout, netmask, one_packet = _list(row, 5)
    return IpvsService(_to_key(k), _str(sched), _int(timeout), _str(netmask), one_packet is True)


def _to_dest(row) -> IpvsDestination:
    k, a, p, m, w, u, lo = _list(row, 7)
    return IpvsDestination(_to_key(k), _str(a), _int(p), _str(m), _int(w), _int(u), _int(lo))


def _to_address(row) -> Address:
    a, prefixlen, interface = _list(row, 3)
    return Address(_str(a), _int(prefixlen), _str(interface))


def _to_rule(row) -> Rule:
    family, table, chain, args = _list(row, 4)
    return Rule(_int(family), _str(table), _str(chain), tuple(_str(x) for x in _list(args)))


def _to_timeouts(row) -> Timeouts:
    return Timeouts(*(_int(t) for t in _list(row, 3)))


# --- whole states


def encode(state: DesiredState) -> dict:
    """The state as JSON-ready data; sorted, so equal states encode to equal documents."""
    return {
        "schema": SCHEMA_VERSION,
        "services": sorted(_service(s) for s in state.services),
        "destinations": sorted(_dest(d) for d in state.destinations),
        "addresses": sorted(_address(a) for a in state.addresses),
        "rules": [_rule(r) for r in state.rules],
        "sysctls": [[n, v] for n, v in state.sysctls],
        "timeouts": [state.timeouts.tcp, state.timeouts.tcpfin, state.timeouts.udp],
    }


def decode(doc) -> DesiredState | None:
    """The state a document holds, or None when it is not a journal of this schema version."""
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA_VERSION:
        return None
    try:
        return DesiredState(
            services=frozenset(_to_service(r) for r in _list(doc["services"])),
            destinations=frozenset(_to_dest(r) for r in _list(doc["destinations"])),
            addresses=frozenset(_to_address(r) for r in _list(doc["addresses"])),
            rules=tuple(_to_rule(r) for r in _list(doc["rules"])),
            sysctls=tuple((_str(n), _str(v)) for n, v in (_list(r, 2) for r in _list(doc["sysctls"]))),
            timeouts=_to_timeouts(doc["timeouts"]),
        )
    except (KeyError, TypeError, ValueError):
        return None  # damaged: as untrusted as an unknown version


# --- ops applied since the last whole state (runtime actions, health): small entries

_ONE_VALUE_OPS = {  # op class -> (name, field, encoder, decoder)
    SetTimeouts: ("timeouts", "timeouts", lambda t: [t.tcp, t.tcpfin, t.udp], _to_timeouts),
    AddAddress: ("add_address", "address", _address, _to_address),
    DelAddress: ("del_address", "address", _address, _to_address),
    AddService: ("add_service", "service", _service, _to_service),
    EditService: ("edit_service", "service", _service, _to_service),
    DelService: ("del_service", "service", _service, _to_service),
    AddDest: ("add_dest", "dest", _dest, _to_dest),
    EditDest: ("edit_dest", "dest", _dest, _to_dest),
    DelDest: ("del_dest", "dest", _dest, _to_dest),
}
_BY_NAME = {name: (cls, decoder) for cls, (name, _, _, decoder) in _ONE_VALUE_OPS.items()}


def encode_ops(ops: Iterable[Op]) -> dict:
    rows = []
    for op in ops:
        if isinstance(op, SetSysctl):
            rows.append(["sysctl", [op.name, op.value]])
        elif isinstance(op, ReplaceRules):
            rows.append(["rules", [op.family, [_rule(r) for r in op.rules]]])
        else:
            name, field, encoder, _ = _ONE_VALUE_OPS[type(op)]
            rows.append([name, encoder(getattr(op, field))])
    return {"schema": SCHEMA_VERSION, "ops": rows}


def decode_ops(doc) -> list[Op] | None:
    """The ops an entry holds, or None when it is not of this schema version or damaged."""
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA_VERSION:
        return None
    ops: list[Op] = []
    try:
        for name, value in (_list(r, 2) for r in _list(doc["ops"])):
            if name == "sysctl":
                n, v = _list(value, 2)
                ops.append(SetSysctl(_str(n), _str(v)))
            elif name == "rules":
                family, rules = _list(value, 2)
                ops.append(ReplaceRules(_int(family), tuple(_to_rule(r) for r in _list(rules))))
            else:
                cls, decoder = _BY_NAME[name]
                ops.append(cls(decoder(value)))
    except (KeyError, TypeError, ValueError):
        return None
    return ops
