"""Desired kernel state: what IPVS, netfilter, addresses and sysctls must hold.

Plain, immutable, hashable values so two states can be compared and diffed
without any I/O. Families are 4 or 6.
"""

from __future__ import annotations

from dataclasses import dataclass


def cached_hash(cls):
    """Remember a frozen dataclass's hash on first use. A table of 40,000 destinations is hashed
    again by every set it enters (compile, plan, simulate); values are immutable, so the hash
    never changes. Stored in the instance's __dict__, which no field, comparison or copy reads."""
    compute = cls.__hash__

    def __hash__(self) -> int:
        d = self.__dict__
        h = d.get("_hash")
        if h is None:
            h = d["_hash"] = compute(self)
        return h

    cls.__hash__ = __hash__
    return cls


# IPVS forwarding methods as the kernel names them (ipvsadm -g / -m / -i).
ROUTE, MASQ, TUNNEL = "route", "masq", "tunnel"


@cached_hash
@dataclass(frozen=True, order=True)
class ServiceKey:
    """Identifies one IPVS virtual service: (protocol, address, port) or a firewall mark."""

    family: int
    protocol: str  # "tcp", "udp" or "fwm"
    address: str  # "" for fwm
    port: int  # 0 for fwm
    fwmark: int = 0


@cached_hash
@dataclass(frozen=True, order=True)
class IpvsService:
    key: ServiceKey
    scheduler: str
    persistence_timeout: int = 0  # 0 = not persistent
    netmask: str = ""  # persistence granularity; "" = host
    one_packet: bool = False


@cached_hash
@dataclass(frozen=True, order=True)
class IpvsDestination:
    service: ServiceKey
    address: str
    port: int
    method: str  # ROUTE / MASQ / TUNNEL
    weight: int
    upper_threshold: int = 0
    lower_threshold: int = 0


@cached_hash
@dataclass(frozen=True, order=True)
class Address:
    address: str
    prefixlen: int
    interface: str


@cached_hash
@dataclass(frozen=True, order=True)
class Rule:
    """One netfilter rule in a chain the appliance owns, as iptables arguments."""

    family: int  # 4 → iptables, 6 → ip6tables
    table: str  # "mangle" or "nat"
    chain: str  # one of OWNED_CHAINS[table]
    args: tuple[str, ...]


# Chains Fulcrum owns, and the built-in chain each is jumped to from (unconditionally: each
# chain matches what it is for itself; FULCRUM-MGMT RETURNs everything but the management ports).
OWNED_CHAINS: dict[str, dict[str, str]] = {
    "mangle": {"FULCRUM-PREROUTING": "PREROUTING"},
    "nat": {"FULCRUM-POSTROUTING": "POSTROUTING"},
    "filter": {"FULCRUM-MGMT": "INPUT"},
}


@dataclass(frozen=True)
class Timeouts:
    tcp: int
    tcpfin: int
    udp: int


@dataclass(frozen=True)
class DesiredState:
    services: frozenset[IpvsService]
    destinations: frozenset[IpvsDestination]
    addresses: frozenset[Address]
    rules: tuple[Rule, ...]  # ordered: netfilter rule order matters
    sysctls: tuple[tuple[str, str], ...]  # sorted (name, value)
    timeouts: Timeouts

    @staticmethod
    def empty() -> DesiredState:
        return DesiredState(frozenset(), frozenset(), frozenset(), (), (), Timeouts(900, 120, 300))
