"""Compiler input: the appliance configuration as immutable plain data.

The Django side (cluster/compile.py) builds these from the database; tests and
benchmarks build them by hand. Values are already validated and normalised:
addresses are canonical strings, ports are resolved, firewall marks assigned.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dataplane.desired import cached_hash

# Protocol choices of a virtual service.
TCP, UDP, TCP_UDP, ONE_PACKET, FWMARK = "tcp", "udp", "tcpudp", "ops", "fwm"
# Forwarding methods.
DR, NAT, SNAT, TUN = "dr", "nat", "snat", "tun"
# Administrative states of a real server.
ONLINE, DRAIN, HALT = "online", "drain", "halt"
# Health states (written by healthcheckd).
HEALTH_UP, HEALTH_DOWN, HEALTH_UNKNOWN = "up", "down", "unknown"
# What a failed health check does to a destination.
ON_DOWN_QUIESCE, ON_DOWN_REMOVE = "quiesce", "remove"


@dataclass(frozen=True)
class PortRange:
    first: int
    last: int  # == first for a single port

    def __str__(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"


@cached_hash
@dataclass(frozen=True)
class RealServerSpec:
    id: int
    label: str
    address: str
    port: int | None  # None: the VIP's port (no translation)
    weight: int = 100
    min_conns: int = 0  # IPVS lower threshold (0 = none)
    max_conns: int = 0  # IPVS upper threshold (0 = unlimited)
    admin_state: str = ONLINE
    health: str = HEALTH_UNKNOWN


@cached_hash
@dataclass(frozen=True)
class ServiceSpec:
    id: int
    label: str
    vip: str
    ports: tuple[PortRange, ...]  # empty for protocol FWMARK
    protocol: str = TCP
    fwmark: int | None = None  # set for FWMARK, multi-port and TCP+UDP services
    method: str = DR
    scheduler: str = "wlc"
    persistent: bool = False
    persistence_timeout: int = 300
    persistence_netmask: str = ""  # "" = host granularity (/32 or /128)
    fallback_address: str = ""
    fallback_port: int | None = None
    snat_source: str = ""  # "" = MASQUERADE (source chosen by the outgoing interface)
    on_down: str = ON_DOWN_QUIESCE
    enabled: bool = True
    real_servers: tuple[RealServerSpec, ...] = ()


@dataclass(frozen=True)
class FloatingIPSpec:
    address: str
    prefixlen: int
    interface: str


@dataclass(frozen=True)
class ManagementSpec:
    """The management lockdown: only these source networks reach the management ports.
    No networks: no lockdown. ``always``: addresses always let in (the HA peer); loopback is too."""

    networks: tuple[str, ...] = ()  # canonical network text, either family
    ports: tuple[int, ...] = (443,)
    always: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClusterSpec:
    vip_interface: str = "eth0"
    autonat_interface: str = ""  # "" = Autonat off
    tcp_timeout: int = 900
    tcpfin_timeout: int = 120
    udp_timeout: int = 300
    floating_ips: tuple[FloatingIPSpec, ...] = ()
    services: tuple[ServiceSpec, ...] = field(default=())
    # HA pair: keepalived (VRRP) adds and removes the VIPs and floating IPs, only on the master,
    # so the apply must neither add nor remove them (it would fight keepalived on every apply).
    vrrp_holds_addresses: bool = False
    management: ManagementSpec = ManagementSpec()
    # Active-active (BGP ECMP, issue 17): each VIP sits on lo while this node is fit to serve it (its
    # presence is what bgpd announces), never ARP-answered; TCP flows that change member are picked up.
    active_active: bool = False


# The one scheduler every active-active member computes alike: Maglev hashing of the source address.
MAGLEV = "mh"
LOOPBACK = "lo"
