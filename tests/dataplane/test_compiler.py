"""Unit tests for dataplane.compiler: one rule of the compiler per test."""

from __future__ import annotations

import dataclasses

import pytest

from dataplane.compiler import compile_state, multiport_chunks, normalise_netmask
from dataplane.config import (
    DRAIN,
    FWMARK,
    HALT,
    HEALTH_DOWN,
    HEALTH_UNKNOWN,
    NAT,
    ON_DOWN_REMOVE,
    ONE_PACKET,
    SNAT,
    TCP_UDP,
    TUN,
    UDP,
    ClusterSpec,
    FloatingIPSpec,
    PortRange,
    ServiceSpec,
)
from dataplane.desired import MASQ, ROUTE, TUNNEL, Address, IpvsService, ServiceKey, Timeouts
from tests.dataplane.configs import ports, rs, servers

VIP = "192.0.2.1"


def svc(**kwargs) -> ServiceSpec:
    """A healthy DR TCP/80 service with one real server, overridden by kwargs."""
    defaults = dict(id=1, label="s", vip=VIP, ports=ports(80), real_servers=servers("10.0.0.11"))
    return ServiceSpec(**(defaults | kwargs))


def compile_one(cluster: ClusterSpec | None = None, **kwargs):
    cluster = cluster or ClusterSpec()
    return compile_state(dataclasses.replace(cluster, services=(svc(**kwargs),)))


def only(items):
    (item,) = items
    return item


def rule_args(state, table: str) -> list[tuple[str, ...]]:
    return [r.args for r in state.rules if r.table == table]


# --- services --------------------------------------------------------------------------------


def test_empty_cluster_gives_empty_state() -> None:
    state = compile_state(ClusterSpec())
    assert (state.services, state.destinations, state.addresses, state.rules, state.sysctls) == (
        frozenset(), frozenset(), frozenset(), (), (),
    )  # fmt: skip
    assert state.timeouts == Timeouts(900, 120, 300)


def test_disabled_service_contributes_nothing() -> None:
    state = compile_one(enabled=False, method=SNAT)
    assert compile_state(ClusterSpec()) == state


def test_single_port_tcp_service() -> None:
    service = only(compile_one().services)
    assert service == IpvsService(ServiceKey(4, "tcp", VIP, 80), "wlc")


def test_single_port_udp_service() -> None:
    assert only(compile_one(protocol=UDP, ports=ports(53)).services).key == ServiceKey(4, "udp", VIP, 53)


def test_one_packet_is_udp_with_ops() -> None:
    service = only(compile_one(protocol=ONE_PACKET, ports=ports(514)).services)
    assert service.key == ServiceKey(4, "udp", VIP, 514)
    assert service.one_packet


def test_family_from_vip() -> None:
    assert only(compile_one(vip="2001:db8::1").services).key.family == 6


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(ports=ports(500, 4500), protocol=UDP),
        dict(ports=ports((8000, 8010))),
        dict(ports=ports(53), protocol=TCP_UDP),
        dict(ports=(), protocol=FWMARK),
    ],
    ids=["multi-port", "range", "tcp+udp", "manual"],
)
def test_fwmark_services(kwargs) -> None:
    state = compile_one(fwmark=9, **kwargs)
    assert only(state.services).key == ServiceKey(4, "fwm", "", 0, 9)


def test_fwmark_service_without_mark_is_refused() -> None:
    with pytest.raises(ValueError, match="firewall mark"):
        compile_one(ports=ports(500, 4500))


def test_ipv6_fwmark_service_family() -> None:
    assert only(compile_one(vip="2001:db8::1", ports=ports(1, 2), fwmark=3).services).key.family == 6


def test_persistence() -> None:
    service = only(compile_one(persistent=True, persistence_timeout=3600).services)
    assert (service.persistence_timeout, service.netmask) == (3600, "")


def test_not_persistent_ignores_timeout_and_netmask() -> None:
    service = only(compile_one(persistence_timeout=3600, persistence_netmask="/24").services)
    assert (service.persistence_timeout, service.netmask) == (0, "")


def test_persistence_netmask_is_normalised() -> None:
    service = only(compile_one(persistent=True, persistence_netmask="/24").services)
    assert service.netmask == "255.255.255.0"


@pytest.mark.parametrize(
    ("text", "family", "expected"),
    [
        ("", 4, ""),
        ("255.255.255.0", 4, "255.255.255.0"),
        ("/24", 4, "255.255.255.0"),
        ("24", 4, "255.255.255.0"),
        (" 16 ", 4, "255.255.0.0"),
        ("/32", 4, ""),
        ("255.255.255.255", 4, ""),
        ("64", 6, "64"),
        ("/48", 6, "48"),
        ("128", 6, ""),
    ],
)
def test_normalise_netmask(text: str, family: int, expected: str) -> None:
    assert normalise_netmask(text, family) == expected


@pytest.mark.parametrize(("text", "family"), [("33", 4), ("255.0.255.0", 4), ("255.255.0.0", 6), ("x", 4)])
def test_normalise_netmask_rejects(text: str, family: int) -> None:
    with pytest.raises(ValueError):
        normalise_netmask(text, family)


# --- destinations ----------------------------------------------------------------------------


def test_destination_defaults_to_service_port() -> None:
    dest = only(compile_one().destinations)
    assert (dest.address, dest.port, dest.method, dest.weight) == ("10.0.0.11", 80, ROUTE, 100)


def test_destination_port_translation() -> None:
    assert (
        only(compile_one(method=NAT, real_servers=servers("10.0.0.11", port=8080)).destinations).port == 8080
    )


def test_fwmark_destination_port_is_zero_unless_set() -> None:
    state = compile_one(
        ports=ports(500, 4500), fwmark=1, real_servers=(rs(1, "10.0.0.1"), rs(2, "10.0.0.2", port=4500))
    )
    assert sorted(d.port for d in state.destinations) == [0, 4500]


@pytest.mark.parametrize(("method", "ipvs"), [("dr", ROUTE), (NAT, MASQ), (SNAT, MASQ), (TUN, TUNNEL)])
def test_method_mapping(method: str, ipvs: str) -> None:
    assert only(compile_one(method=method).destinations).method == ipvs


def test_unknown_method_is_refused() -> None:
    with pytest.raises(ValueError, match="method"):
        compile_one(method="bogus")


def test_thresholds() -> None:
    dest = only(compile_one(real_servers=servers("10.0.0.11", max_conns=500, min_conns=400)).destinations)
    assert (dest.upper_threshold, dest.lower_threshold) == (500, 400)


@pytest.mark.parametrize(
    ("state_kwargs", "on_down", "weight"),
    [
        (dict(), "quiesce", 100),
        (dict(health=HEALTH_UNKNOWN), "quiesce", 100),
        (dict(admin_state=DRAIN), "quiesce", 0),
        (dict(admin_state=HALT), "quiesce", None),
        (dict(health=HEALTH_DOWN), "quiesce", 0),
        (dict(health=HEALTH_DOWN), ON_DOWN_REMOVE, None),
        (dict(admin_state=DRAIN, health=HEALTH_DOWN), ON_DOWN_REMOVE, None),
        (dict(weight=0), "quiesce", 0),
    ],
    ids=["up", "unknown", "drain", "halt", "down-quiesce", "down-remove", "drain-down-remove", "weight-0"],
)
def test_real_server_states(state_kwargs, on_down: str, weight: int | None) -> None:
    state = compile_one(on_down=on_down, real_servers=(rs(1, "10.0.0.11", **state_kwargs),))
    assert [d.weight for d in state.destinations] == ([] if weight is None else [weight])


# --- fallback --------------------------------------------------------------------------------


def fallback_dests(real_servers, **kwargs):
    state = compile_one(fallback_address="10.0.0.99", real_servers=real_servers, **kwargs)
    return [d for d in state.destinations if d.address == "10.0.0.99"]


def test_fallback_absent_while_a_real_server_serves() -> None:
    assert fallback_dests(servers("10.0.0.11")) == []


@pytest.mark.parametrize(
    "real_servers",
    [
        (),
        (rs(1, "10.0.0.11", health=HEALTH_DOWN),),
        (rs(1, "10.0.0.11", admin_state=DRAIN),),
        (rs(1, "10.0.0.11", weight=0),),
    ],
    ids=["none", "down", "drain", "weight-0"],
)
def test_fallback_active_when_nothing_serves(real_servers) -> None:
    dest = only(fallback_dests(real_servers))
    assert (dest.port, dest.method, dest.weight) == (80, MASQ, 1)


def test_fallback_port() -> None:
    assert only(fallback_dests((), fallback_port=8080)).port == 8080


# --- mangle rules ----------------------------------------------------------------------------


def test_multiport_mark_rule() -> None:
    state = compile_one(protocol=UDP, ports=ports(500, 4500), fwmark=1)
    assert rule_args(state, "mangle") == [
        ("-d", f"{VIP}/32", "-p", "udp", "-m", "multiport", "--dports", "500,4500",
         "-j", "MARK", "--set-xmark", "0x1/0xffffffff"),
    ]  # fmt: skip
    assert only(state.rules).chain == "FULCRUM-PREROUTING"


def test_range_uses_colon_and_single_port_uses_dport() -> None:
    state = compile_one(ports=ports((8000, 8010)), fwmark=2)
    assert "8000:8010" in only(rule_args(state, "mangle"))
    state = compile_one(protocol=TCP_UDP, ports=ports(53), fwmark=2)
    assert [a[3:7] for a in rule_args(state, "mangle")] == [
        ("tcp", "-m", "tcp", "--dport"),
        ("udp", "-m", "udp", "--dport"),
    ]


def test_ipv6_mark_rule_uses_128() -> None:
    state = compile_one(vip="2001:db8::1", protocol=UDP, ports=ports(500, 4500), fwmark=1)
    rule = only(state.rules)
    assert (rule.family, rule.args[1]) == (6, "2001:db8::1/128")


def test_multiport_chunks_count_ranges_twice() -> None:
    fifteen = [PortRange(p, p) for p in range(1, 16)]
    assert [len(c) for c in multiport_chunks(fifteen)] == [15]
    # range 1:2 (two slots) + 13 single ports fill one rule; the 14th single port spills over
    with_range = [PortRange(1, 2), *(PortRange(p, p) for p in range(3, 17))]
    assert [len(c) for c in multiport_chunks(with_range)] == [14, 1]
    assert [len(c) for c in multiport_chunks([PortRange(p, p + 1) for p in range(0, 80, 10)])] == [7, 1]


def test_multiport_chunks_sorted_by_port() -> None:
    chunks = multiport_chunks([PortRange(4500, 4500), PortRange(500, 500)])
    assert chunks == [[PortRange(500, 500), PortRange(4500, 4500)]]


def test_manual_fwmark_has_no_mark_rules_but_keeps_vip() -> None:
    state = compile_one(protocol=FWMARK, ports=(), fwmark=5)
    assert state.rules == ()
    assert only(state.addresses).address == VIP


def test_mark_rules_ordered_by_fwmark_then_protocol_then_port() -> None:
    cluster = ClusterSpec(
        services=(
            svc(id=1, protocol=TCP_UDP, ports=ports(53), fwmark=7),
            svc(id=2, protocol=UDP, ports=ports(4500, 500), fwmark=3, vip="192.0.2.2"),
        )
    )
    args = rule_args(compile_state(cluster), "mangle")
    assert [(a[-1], a[3], a[7]) for a in args] == [
        ("0x3/0xffffffff", "udp", "500,4500"),
        ("0x7/0xffffffff", "tcp", "53"),
        ("0x7/0xffffffff", "udp", "53"),
    ]


# --- nat rules -------------------------------------------------------------------------------


def test_snat_masquerade_for_plain_service() -> None:
    state = compile_one(method=SNAT, ports=ports(443))
    rule = only(state.rules)
    assert (rule.table, rule.chain) == ("nat", "FULCRUM-POSTROUTING")
    assert rule.args == (
        "-m", "ipvs", "--vproto", "6", "--vaddr", VIP, "--vport", "443",
        "--vdir", "ORIGINAL", "--vmethod", "MASQ", "-j", "MASQUERADE",
    )  # fmt: skip


def test_snat_source_for_udp_service() -> None:
    args = only(compile_one(method=SNAT, protocol=UDP, ports=ports(1812), snat_source="10.0.0.5").rules).args
    assert args[2:4] == ("--vproto", "17")
    assert args[-4:] == ("-j", "SNAT", "--to-source", "10.0.0.5")


def test_snat_for_fwmark_service_matches_the_mark() -> None:
    state = compile_one(method=SNAT, protocol=UDP, ports=ports(1812, 1813), fwmark=2, snat_source="10.0.0.5")
    assert rule_args(state, "nat") == [
        ("-m", "mark", "--mark", "0x2", "-m", "ipvs", "--vdir", "ORIGINAL", "--vmethod", "MASQ",
         "-j", "SNAT", "--to-source", "10.0.0.5"),
    ]  # fmt: skip


def test_no_nat_rules_for_dr_nat_tun() -> None:
    for method in ("dr", NAT, TUN):
        assert compile_one(method=method).rules == ()


def test_autonat_after_snat_rules() -> None:
    state = compile_one(ClusterSpec(autonat_interface="eth1"), method=SNAT)
    assert [r.args[-1] for r in state.rules] == ["MASQUERADE", "MASQUERADE"]
    assert state.rules[-1].args == ("-o", "eth1", "-j", "MASQUERADE")
    assert state.rules[-1].family == 4


def test_autonat_ipv6_only_with_an_ipv6_address() -> None:
    assert [r.family for r in compile_one(ClusterSpec(autonat_interface="eth1")).rules] == [4]
    state = compile_one(ClusterSpec(autonat_interface="eth1"), vip="2001:db8::1")
    assert [r.family for r in state.rules] == [4, 6]


def test_autonat_without_services() -> None:
    state = compile_state(ClusterSpec(autonat_interface="eth1"))
    assert only(state.rules).args == ("-o", "eth1", "-j", "MASQUERADE")
    assert dict(state.sysctls) == {"net.ipv4.ip_forward": "1", "net.ipv4.vs.conntrack": "1"}


# --- addresses -------------------------------------------------------------------------------


def test_addresses_vips_and_floating_ips_deduplicated() -> None:
    cluster = ClusterSpec(
        vip_interface="eth0",
        floating_ips=(FloatingIPSpec("10.0.0.1", 24, "eth1"), FloatingIPSpec("192.0.2.9", 24, "eth0")),
        services=(
            svc(id=1),
            svc(id=2, ports=ports(443)),
            svc(id=3, vip="2001:db8::1"),
            svc(id=4, vip="192.0.2.9"),
        ),
    )
    assert compile_state(cluster).addresses == {
        Address(VIP, 32, "eth0"),
        Address("2001:db8::1", 128, "eth0"),
        Address("10.0.0.1", 24, "eth1"),
        Address("192.0.2.9", 24, "eth0"),  # the floating IP's own prefix wins
    }


# --- sysctls ---------------------------------------------------------------------------------

BASE_SYSCTLS = {"net.ipv4.vs.expire_nodest_conn": "1", "net.ipv4.vs.expire_quiescent_template": "1"}


@pytest.mark.parametrize(
    ("kwargs", "extra"),
    [
        (dict(method="dr"), {}),
        (dict(method=TUN), {}),
        (dict(method=NAT), {"net.ipv4.ip_forward": "1"}),
        (dict(method=SNAT), {"net.ipv4.ip_forward": "1", "net.ipv4.vs.conntrack": "1"}),
        (dict(method=NAT, vip="2001:db8::1"), {"net.ipv6.conf.all.forwarding": "1"}),
        (dict(fallback_address="10.0.0.99"), {"net.ipv4.ip_forward": "1"}),
    ],
    ids=["dr", "tun", "nat", "snat", "nat6", "fallback"],
)
def test_sysctls(kwargs, extra) -> None:
    state = compile_one(**kwargs)
    assert dict(state.sysctls) == BASE_SYSCTLS | extra
    assert list(state.sysctls) == sorted(state.sysctls)


def test_timeouts_from_cluster() -> None:
    state = compile_state(ClusterSpec(tcp_timeout=1, tcpfin_timeout=2, udp_timeout=3))
    assert state.timeouts == Timeouts(1, 2, 3)


def test_compile_is_pure_and_deterministic() -> None:
    cluster = ClusterSpec(services=(svc(id=2, vip="192.0.2.2", method=SNAT), svc(id=1, method=SNAT)))
    reordered = dataclasses.replace(cluster, services=cluster.services[::-1])
    assert compile_state(cluster) == compile_state(reordered)
