"""The FRR configuration of an active-active member: golden text, and the rules it must keep."""

from __future__ import annotations

import os
from pathlib import Path

from dataplane.compiler import compile_state, fit_vips
from dataplane.frr import BgpNeighbourSpec, BgpSpec, bfd_detection_ms, render_frr, withdraw_all
from tests.dataplane.configs import ACTIVE_ACTIVE

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"

SPEC = BgpSpec(
    asn=65010, router_id="198.51.100.11", hostname="lb1",
    neighbours=(BgpNeighbourSpec("198.51.100.1", 65000, password="s3cret", description="core-a"),
                BgpNeighbourSpec("198.51.100.2", 65000),
                BgpNeighbourSpec("2001:db8::1", 65000)),
)  # fmt: skip
VIPS = ("192.0.2.91", "192.0.2.90", "2001:db8:90::1", "192.0.2.90")


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text)
    assert path.read_text() == text, f"{name} differs (UPDATE_GOLDEN=1 to regenerate)"


def test_frr_golden() -> None:
    _golden("frr_member.conf", render_frr(SPEC, VIPS))


def test_withdraw_golden_announces_nothing() -> None:
    text = withdraw_all(SPEC)
    _golden("frr_withdraw.conf", text)
    assert "  network " not in text
    assert "ip prefix-list FULCRUM-VIPS seq 5 deny any" in text  # the guard refuses everything


def test_each_vip_once_in_numeric_order_and_in_its_own_family() -> None:
    text = render_frr(SPEC, VIPS)
    networks = [line.strip() for line in text.splitlines() if line.strip().startswith("network")]
    assert networks == ["network 192.0.2.90/32", "network 192.0.2.91/32", "network 2001:db8:90::1/128"]
    v4, v6 = text.split("address-family ipv6 unicast")
    assert "2001:db8::1 activate" in v6 and "198.51.100.1 activate" not in v6
    assert "2001:db8:90::1" not in v4.split("address-family ipv4 unicast")[1]


def test_no_router_id_and_no_password_lines_when_unset() -> None:
    text = render_frr(BgpSpec(asn=65010, neighbours=(BgpNeighbourSpec("198.51.100.1", 65000),)), ["192.0.2.90"])
    assert "router-id" not in text and "password" not in text
    assert "address-family ipv6" not in text  # no IPv6 neighbour: no IPv6 address family


def test_render_is_deterministic_whatever_the_input_order() -> None:
    assert render_frr(SPEC, VIPS) == render_frr(SPEC, tuple(reversed(VIPS)))


def test_a_host_without_a_usable_name_still_renders_a_valid_hostname() -> None:
    assert "hostname none\n" in render_frr(BgpSpec(asn=65010, hostname="(none)"), ())
    assert "hostname fulcrum\n" in render_frr(BgpSpec(asn=65010, hostname="( )"), ())
    assert "hostname lb-1.example\n" in render_frr(BgpSpec(asn=65010, hostname="lb-1.example"), ())


def test_bfd_detection_time() -> None:
    assert bfd_detection_ms(SPEC) == 900
    assert "transmit-interval 300" in render_frr(SPEC, VIPS)


def test_active_active_holds_only_fit_vips_on_lo() -> None:
    state = compile_state(ACTIVE_ACTIVE)
    assert fit_vips(ACTIVE_ACTIVE.services) == ("192.0.2.90",)
    assert {(a.address, a.prefixlen, a.interface) for a in state.addresses} == {("192.0.2.90", 32, "lo")}


def test_maglev_keeps_down_and_halted_servers_at_weight_zero() -> None:
    weights = {d.address: d.weight for d in compile_state(ACTIVE_ACTIVE).destinations}
    assert weights == {"10.0.9.11": 0, "10.0.9.12": 0, "10.0.9.13": 100, "10.0.9.21": 0}


def test_active_active_sysctls() -> None:
    sysctls = dict(compile_state(ACTIVE_ACTIVE).sysctls)
    assert sysctls["net.ipv4.vs.sloppy_tcp"] == "1"
    assert sysctls["net.ipv4.conf.all.arp_ignore"] == "1"
    assert sysctls["net.ipv4.conf.all.arp_announce"] == "2"


def test_parse_summary_reads_each_neighbour_once_with_its_state_and_prefixes():
    from dataplane.frr import parse_summary

    doc = {"ipv4Unicast": {"peers": {
        "192.0.2.1": {"remoteAs": 65000, "state": "Established", "pfxSnt": 2, "pfxRcd": 0, "peerUptimeMsec": 61500},
        "192.0.2.2": {"remoteAs": 65001, "state": "Active", "pfxSnt": 0, "peerUptimeMsec": 0}}},
        "ipv6Unicast": {"peers": {"192.0.2.1": {"remoteAs": 65000, "state": "Established", "pfxSnt": 1}}}}
    one, two = parse_summary(doc)
    assert (one.neighbour, one.remote_asn, one.state, one.established) == ("192.0.2.1", 65000, "Established", True)
    assert (one.prefixes_sent, one.prefixes_received, one.uptime_s) == (3, 0, 61.5)
    assert (two.neighbour, two.state, two.established, two.prefixes_sent) == ("192.0.2.2", "Active", False, 0)
    assert parse_summary(None) == () and parse_summary({}) == () and parse_summary({"x": "y"}) == ()
