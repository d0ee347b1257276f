"""Reference configurations for the golden tests, built by hand as ClusterSpec.

Addresses use the documentation ranges: 192.0.2.0/24 for VIPs, 10.0.0.0/8 for
the real servers' side, 2001:db8::/32 for IPv6.
"""

from __future__ import annotations

from dataplane.config import (
    DR,
    DRAIN,
    FWMARK,
    HALT,
    HEALTH_DOWN,
    HEALTH_UP,
    NAT,
    ON_DOWN_REMOVE,
    ONE_PACKET,
    SNAT,
    TCP,
    TCP_UDP,
    TUN,
    UDP,
    ClusterSpec,
    FloatingIPSpec,
    PortRange,
    RealServerSpec,
    ServiceSpec,
)


def ports(*items: int | tuple[int, int]) -> tuple[PortRange, ...]:
    """ports(500, 4500) or ports((8000, 8010)) → PortRange tuple."""
    return tuple(PortRange(*i) if isinstance(i, tuple) else PortRange(i, i) for i in items)


def servers(*addresses: str, port: int | None = None, **kwargs) -> tuple[RealServerSpec, ...]:
    """Healthy real servers rs1, rs2, ... with the same settings."""
    return tuple(
        RealServerSpec(id=n, label=f"rs{n}", address=a, port=port, health=HEALTH_UP, **kwargs)
        for n, a in enumerate(addresses, start=1)
    )


def rs(n: int, address: str, **kwargs) -> RealServerSpec:
    kwargs.setdefault("health", HEALTH_UP)
    kwargs.setdefault("port", None)
    return RealServerSpec(id=n, label=f"rs{n}", address=address, **kwargs)


# (1) Always On VPN reference deployment.
AOVPN = ClusterSpec(
    vip_interface="eth0",
    services=(
        ServiceSpec(
            id=1, label="SSTP", vip="192.0.2.10", ports=ports(443), protocol=TCP, method=SNAT,
            real_servers=servers("10.0.1.11", "10.0.1.12"),
        ),
        ServiceSpec(
            id=2, label="IKEv2", vip="192.0.2.10", ports=ports(500, 4500), protocol=UDP, fwmark=1,
            method=DR, persistent=True, persistence_timeout=3600,
            real_servers=servers("10.0.1.11", "10.0.1.12"),
        ),
        ServiceSpec(
            id=3, label="NPS", vip="10.0.1.50", ports=ports(1812, 1813), protocol=UDP, fwmark=2,
            method=SNAT, snat_source="10.0.1.5",
            real_servers=servers("10.0.1.21", "10.0.1.22"),
        ),
    ),
)  # fmt: skip

# (2) Simple DR web service: every real-server state.
WEB_DR = ClusterSpec(
    services=(
        ServiceSpec(
            id=1, label="web", vip="192.0.2.20", ports=ports(80), scheduler="wrr",
            real_servers=(
                rs(1, "10.0.1.11", weight=100),
                rs(2, "10.0.1.12", weight=50, health="unknown"),
                rs(3, "10.0.1.13", admin_state=DRAIN),
                rs(4, "10.0.1.14", admin_state=HALT),
                rs(5, "10.0.1.15", health=HEALTH_DOWN),  # quiesced
            ),
        ),
        ServiceSpec(
            id=2, label="web-tls", vip="192.0.2.20", ports=ports(443), on_down=ON_DOWN_REMOVE,
            real_servers=(
                rs(1, "10.0.1.11"),
                rs(5, "10.0.1.15", health=HEALTH_DOWN),  # removed
            ),
        ),
    ),
)  # fmt: skip

# (3) NAT with port translation; real servers reach the Internet through Autonat.
NAT_AUTONAT = ClusterSpec(
    vip_interface="eth0",
    autonat_interface="eth0",
    floating_ips=(FloatingIPSpec("10.0.2.1", 24, "eth1"),),  # the real servers' gateway
    services=(
        ServiceSpec(
            id=1, label="app", vip="192.0.2.30", ports=ports(80), method=NAT, scheduler="lc",
            real_servers=servers("10.0.2.11", "10.0.2.12", port=8080),
        ),
    ),
)  # fmt: skip

# (4) IP-in-IP tunnelling to a remote site.
TUNNEL = ClusterSpec(
    tcp_timeout=3600, tcpfin_timeout=60, udp_timeout=120,
    services=(
        ServiceSpec(
            id=1, label="remote-web", vip="192.0.2.40", ports=ports(80), method=TUN, scheduler="rr",
            real_servers=servers("198.51.100.11", "198.51.100.12"),
        ),
    ),
)  # fmt: skip

# (5) DNS-like TCP+UDP service: one firewall mark for both protocols.
DNS_TCPUDP = ClusterSpec(
    services=(
        ServiceSpec(
            id=1, label="dns", vip="192.0.2.53", ports=ports(53), protocol=TCP_UDP, fwmark=7,
            scheduler="sh", real_servers=servers("10.0.5.11", "10.0.5.12"),
        ),
    ),
)  # fmt: skip

# (6) IPv6 (and one IPv4) services with persistence netmasks, SNAT and Autonat.
IPV6 = ClusterSpec(
    autonat_interface="eth0",
    services=(
        ServiceSpec(
            id=1, label="web6", vip="2001:db8::80", ports=ports(443), method=SNAT,
            persistent=True, persistence_timeout=600, persistence_netmask="64",
            real_servers=servers("2001:db8:1::11", "2001:db8:1::12"),
        ),
        ServiceSpec(
            id=2, label="ike6", vip="2001:db8::80", ports=ports(500, 4500), protocol=UDP, fwmark=3,
            persistent=True, persistence_timeout=3600, persistence_netmask="/48",
            real_servers=servers("2001:db8:1::11", "2001:db8:1::12"),
        ),
        ServiceSpec(
            id=3, label="web4", vip="192.0.2.60", ports=ports(443), method=NAT,
            persistent=True, persistence_timeout=300, persistence_netmask="255.255.255.0",
            real_servers=servers("10.0.6.11", port=8443),
        ),
    ),
)  # fmt: skip

# (7) A port range (with more ports than one multiport rule takes) whose servers are all
# down, so the fallback server is active; a one-packet UDP service whose fallback is not.
RANGE_OPS_FALLBACK = ClusterSpec(
    services=(
        ServiceSpec(
            id=1, label="range", vip="192.0.2.70", protocol=TCP, fwmark=10,
            ports=ports((8000, 8010), *range(9001, 9015)),
            fallback_address="10.0.7.100", fallback_port=8080,
            real_servers=(rs(1, "10.0.7.11", health=HEALTH_DOWN), rs(2, "10.0.7.12", admin_state=DRAIN)),
        ),
        ServiceSpec(
            id=2, label="syslog", vip="192.0.2.70", ports=ports(514), protocol=ONE_PACKET,
            scheduler="rr", fallback_address="10.0.7.100",
            real_servers=servers("10.0.7.21", "10.0.7.22"),
        ),
    ),
)  # fmt: skip

# (8) Manual firewall marks (set by the admin's own rules), thresholds, a disabled service.
MANUAL_FWMARK = ClusterSpec(
    services=(
        ServiceSpec(
            id=1, label="marked", vip="192.0.2.80", ports=(), protocol=FWMARK, fwmark=100,
            method=SNAT, snat_source="10.0.8.5",
            real_servers=servers("10.0.8.11", "10.0.8.12", max_conns=1000, min_conns=800),
        ),
        ServiceSpec(
            id=2, label="marked-novip", vip="", ports=(), protocol=FWMARK, fwmark=101,
            real_servers=servers("10.0.8.21", max_conns=50),
        ),
        ServiceSpec(
            id=3, label="off", vip="192.0.2.81", ports=ports(80), method=SNAT, enabled=False,
            real_servers=servers("10.0.8.31"),
        ),
    ),
)  # fmt: skip

# (9) Active-active member (BGP ECMP): Maglev everywhere, VIPs on lo only while fit. The web VIP has a
# down, a halted and an up server (weights 0 kept, not removed); the second VIP has none up: not held.
ACTIVE_ACTIVE = ClusterSpec(
    vip_interface="eth0", active_active=True,
    services=(
        ServiceSpec(
            id=1, label="web", vip="192.0.2.90", ports=ports(80), method=DR, scheduler="mh",
            on_down=ON_DOWN_REMOVE,
            real_servers=(rs(1, "10.0.9.11", health=HEALTH_DOWN), rs(2, "10.0.9.12", admin_state=HALT),
                          rs(3, "10.0.9.13")),
        ),
        ServiceSpec(
            id=2, label="IKEv2", vip="192.0.2.91", ports=ports(500, 4500), protocol=UDP, fwmark=9,
            method=DR, scheduler="mh",
            real_servers=(rs(4, "10.0.9.21", health=HEALTH_DOWN),),
        ),
    ),
)  # fmt: skip

CONFIGS: dict[str, ClusterSpec] = {
    "aovpn": AOVPN,
    "web_dr": WEB_DR,
    "nat_autonat": NAT_AUTONAT,
    "tunnel": TUNNEL,
    "dns_tcpudp": DNS_TCPUDP,
    "ipv6": IPV6,
    "range_ops_fallback": RANGE_OPS_FALLBACK,
    "manual_fwmark": MANUAL_FWMARK,
    "active_active": ACTIVE_ACTIVE,
}
