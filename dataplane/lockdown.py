"""The management lockdown as netfilter rules in the appliance's chain FULCRUM-MGMT. Pure.

INPUT jumps to the chain unconditionally (like every chain the appliance owns), so the chain
itself lets through loopback, everything that is not TCP to a management port, the always-allowed
addresses (the HA peer) and the allowed networks, and drops the rest. No networks: no rules (no
lockdown). With networks of one family only, the other family's management ports are closed too:
an admin who locks IPv4 down has not said IPv6 may stay open.

The rules are written as iptables-save prints them, so reading the chain back (drift) compares
equal.
"""

from __future__ import annotations

import ipaddress

from dataplane.config import ManagementSpec
from dataplane.desired import OWNED_CHAINS, DesiredState, Rule
from dataplane.diff import Op, ReplaceRules

MGMT_CHAIN = next(iter(OWNED_CHAINS["filter"]))  # FULCRUM-MGMT
MAX_PORTS = 15  # one multiport match: a negated match cannot be split over several rules


def management_rules(spec: ManagementSpec) -> tuple[Rule, ...]:
    networks = [ipaddress.ip_network(n, strict=False) for n in spec.networks]
    if not networks:
        return ()
    if not 1 <= len(spec.ports) <= MAX_PORTS:
        raise ValueError(f"management ports: 1 to {MAX_PORTS} ports, not {len(spec.ports)}")
    ports = ",".join(str(p) for p in sorted(set(spec.ports)))
    always = [ipaddress.ip_network(a) for a in spec.always if a]
    rules = []
    for family in (4, 6):
        def rule(*args: str, family=family) -> Rule:
            return Rule(family, "filter", MGMT_CHAIN, args)

        rules += [rule("-i", "lo", "-j", "RETURN"), rule("!", "-p", "tcp", "-j", "RETURN"),
                  rule("-p", "tcp", "-m", "multiport", "!", "--dports", ports, "-j", "RETURN")]
        rules += [rule("-s", str(n), "-j", "RETURN") for n in [*always, *networks] if n.version == family]
        rules.append(rule("-j", "DROP"))
    return tuple(rules)


def lockdown_ops(current: DesiredState, rules: tuple[Rule, ...]) -> list[Op]:
    """Ops that make FULCRUM-MGMT hold ``rules`` and leave every other chain's rules as they are
    (the management lockdown acts at once, without an Apply of pending configuration)."""
    ops: list[Op] = []
    for family in (4, 6):
        have = tuple(r for r in current.rules if r.family == family)
        want = (*(r for r in have if r.chain != MGMT_CHAIN), *(r for r in rules if r.family == family))
        if want != have:
            ops.append(ReplaceRules(family, want))
    return ops
