"""Render a DesiredState as the text the classic tools read: pure, deterministic.

- `render_ipvsadm`: `ipvsadm-restore` input, numeric, services in
  `service_sort_key` order, each followed by its destinations. No `-C`
  (clear): the driver decides whether to clear or diff.
- `render_iptables`: `iptables-restore --noflush` input. Every owned chain is
  always declared (`:CHAIN - [0:0]`), even when it has no rules, because a
  declaration under --noflush flushes that chain: applying an empty state must
  empty our chains. The jumps from the built-in chains are not emitted; the
  driver adds them idempotently from `jump_rules`.
- `render_sysctls`, `render_addresses`, `render_timeouts`, `render_all`: the
  `manage.py apply --dry-run` view.
"""

from __future__ import annotations

from collections import defaultdict

from dataplane.compiler import address_sort_key, family_of, service_sort_key
from dataplane.desired import (
    MASQ,
    OWNED_CHAINS,
    ROUTE,
    TUNNEL,
    DesiredState,
    IpvsDestination,
    IpvsService,
    ServiceKey,
)

_METHOD_FLAGS = {ROUTE: "-g", MASQ: "-m", TUNNEL: "-i"}
_PROTOCOL_FLAGS = {"tcp": "-t", "udp": "-u"}


def _text(lines: list[str]) -> str:
    return "".join(f"{line}\n" for line in lines)


# --- ipvsadm -------------------------------------------------------------------------------


def _endpoint(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _service_ref(key: ServiceKey) -> str:
    """How ipvsadm names a service: `-t VIP:PORT`, `-u VIP:PORT` or `-f MARK [-6]`."""
    if key.protocol == "fwm":
        return f"-f {key.fwmark}" + (" -6" if key.family == 6 else "")
    return f"{_PROTOCOL_FLAGS[key.protocol]} {_endpoint(key.address, key.port)}"


def _service_line(svc: IpvsService) -> str:
    parts = ["-A", _service_ref(svc.key), "-s", svc.scheduler]
    if svc.persistence_timeout:
        parts += ["-p", str(svc.persistence_timeout)]
        if svc.netmask:  # already canonical: dotted mask (IPv4) or prefix length (IPv6)
            parts += ["-M", svc.netmask]
    if svc.one_packet:
        parts.append("-o")
    return " ".join(parts)


def _destination_line(dest: IpvsDestination) -> str:
    parts = ["-a", _service_ref(dest.service), "-r", _endpoint(dest.address, dest.port)]
    parts += [_METHOD_FLAGS[dest.method], "-w", str(dest.weight)]
    if dest.upper_threshold:
        parts += ["-x", str(dest.upper_threshold)]
    if dest.lower_threshold:
        parts += ["-y", str(dest.lower_threshold)]
    return " ".join(parts)


def render_ipvsadm(state: DesiredState) -> str:
    by_service: dict[ServiceKey, list[IpvsDestination]] = defaultdict(list)
    for dest in state.destinations:
        by_service[dest.service].append(dest)
    lines = []
    for svc in sorted(state.services, key=lambda s: service_sort_key(s.key)):
        lines.append(_service_line(svc))
        dests = sorted(by_service[svc.key], key=lambda d: (address_sort_key(d.address), d.port))
        lines += [_destination_line(d) for d in dests]
    return _text(lines)


def render_timeouts(state: DesiredState) -> str:
    """The ipvsadm command for the connection timeouts (not part of ipvsadm-restore/save)."""
    t = state.timeouts
    return _text([f"ipvsadm --set {t.tcp} {t.tcpfin} {t.udp}"])


# --- iptables ------------------------------------------------------------------------------


def _check_family(family: int) -> None:
    if family not in (4, 6):
        raise ValueError(f"family must be 4 or 6, not {family!r}")


def render_iptables(state: DesiredState, family: int = 4) -> str:
    """All owned tables and chains for one family (4 → iptables, 6 → ip6tables)."""
    _check_family(family)
    lines = []
    for table, chains in OWNED_CHAINS.items():
        lines.append(f"*{table}")
        lines += [f":{chain} - [0:0]" for chain in chains]
        for chain in chains:
            lines += [
                f"-A {chain} {' '.join(rule.args)}"
                for rule in state.rules
                if (rule.family, rule.table, rule.chain) == (family, table, chain)
            ]
        lines.append("COMMIT")
    return _text(lines)


def jump_rules(family: int = 4) -> list[tuple[str, str, tuple[str, ...]]]:
    """(table, built-in chain, rule args) that send packets into our chains; same for both families."""
    _check_family(family)
    return [
        (table, builtin, ("-j", chain))
        for table, chains in OWNED_CHAINS.items()
        for chain, builtin in chains.items()
    ]


# --- host settings -------------------------------------------------------------------------


def render_sysctls(state: DesiredState) -> str:
    return _text([f"{name} = {value}" for name, value in state.sysctls])


def render_addresses(state: DesiredState) -> str:
    ordered = sorted(
        state.addresses,
        key=lambda a: (a.interface, family_of(a.address), address_sort_key(a.address), a.prefixlen),
    )
    return _text([f"ip addr add {a.address}/{a.prefixlen} dev {a.interface}" for a in ordered])


def has_ipv6(state: DesiredState) -> bool:
    """Whether the state holds anything for IPv6 (services, rules or addresses)."""
    return (
        any(s.key.family == 6 for s in state.services)
        or any(r.family == 6 for r in state.rules)
        or any(family_of(a.address) == 6 for a in state.addresses)
    )


def render_all(state: DesiredState) -> str:
    """Every section with a header, for `manage.py apply --dry-run`."""
    sections = [
        ("ipvsadm-restore", render_ipvsadm(state)),
        ("ipvsadm timeouts", render_timeouts(state)),
        ("iptables-restore --noflush", render_iptables(state, 4)),
    ]
    if has_ipv6(state):
        sections.append(("ip6tables-restore --noflush", render_iptables(state, 6)))
    sections += [("sysctl", render_sysctls(state)), ("addresses", render_addresses(state))]
    empty = "# (none)\n"
    return "\n".join(f"### {title}\n{body or empty}" for title, body in sections)
