"""The pure parts: the steps text with the VIP filled in, and the frames the probes send and read."""

from __future__ import annotations

import socket
import struct

from checklists import steps
from checklists.probes import packets as P
from checklists.probes.engine import ACCEPT, ARP, ARP_VIP, AUTONAT, FORWARDING, GATEWAY, SUBNET, keys_for
from checklists.probes.host import parse_conntrack

VIP = "192.0.2.50"


def text(blocks):
    return "\n".join(s.commands for s in blocks)


def test_linux_dr_steps_have_the_vip_and_are_persistent():
    out = text(steps.linux_dr(VIP))
    assert "sysctl -w net.ipv4.conf.all.arp_ignore=1" in out
    assert "sysctl -w net.ipv4.conf.all.arp_announce=2" in out
    assert f"ip addr add {VIP}/32 dev lo" in out
    # persistent: a sysctl.d file, and the VIP in the network configuration: one block per tool
    assert f"cat > {steps.SYSCTL_FILE}" in out and "net.ipv4.conf.all.arp_ignore = 1" in out
    assert "nmcli" not in out and "netplan" not in out
    assert f"nmcli connection modify lo +ipv4.addresses {VIP}/32" in text(steps.linux_dr_nmcli(VIP))
    assert f"addresses: [{VIP}/32]" in text(steps.linux_dr_netplan(VIP))
    assert f"up ip addr add {VIP}/32 dev lo" in text(steps.linux_dr_ifupdown(VIP))


def test_blocks_one_tool_each_and_the_likely_os_first():
    assert list(steps.dr_blocks(VIP)) == ["linux", "linux_nmcli", "linux_netplan", "linux_ifupdown",
                                          "windows_powershell", "windows_netsh"]
    assert list(steps.dr_blocks(VIP, windows_first=True))[:2] == ["windows_powershell", "windows_netsh"]
    assert list(steps.nat_blocks("10.9.0.5", windows_first=True))[0] == "windows_powershell"
    for blocks in (steps.dr_blocks(VIP), steps.nat_blocks("10.9.0.5")):
        for name, block in blocks.items():
            tools = {line.split()[0] for s in block for line in s.commands.splitlines()
                     if s.lang == "sh" and line and not line.startswith((" ", "EOF", "net."))}
            assert len(tools - {"sysctl", "ip", "cat"}) <= 1, (name, tools)


def test_windows_steps_say_which_adapter_name_to_change():
    first = steps.windows_dr_powershell(VIP)[0]
    assert "Get-NetAdapter" in first.commands and '"Ethernet"' in first.note
    assert all("#" not in s.commands for s in steps.windows_dr_powershell(VIP))  # no prose in a copy block


def test_windows_dr_steps_powershell_and_netsh():
    ps = text(steps.windows_dr_powershell(VIP))
    assert "KM-TEST Loopback" in ps
    assert f'New-NetIPAddress -InterfaceAlias "Loopback" -IPAddress {VIP} -PrefixLength 32 -SkipAsSource $true' in ps
    assert 'Set-NetIPInterface -InterfaceAlias "Ethernet" -AddressFamily IPv4 -WeakHostReceive Enabled' in ps
    assert "-WeakHostReceive Enabled -WeakHostSend Enabled" in ps
    netsh = text(steps.windows_dr_netsh(VIP))
    assert f'netsh interface ipv4 add address "Loopback" {VIP} 255.255.255.255 skipassource=true' in netsh
    assert 'set interface "Ethernet" weakhostreceive=enabled' in netsh
    assert "weakhostsend=enabled" in netsh


def test_ipv6_vip_steps():
    assert "ip -6 addr add 2001:db8::50/128 dev lo" in text(steps.linux_dr("2001:db8::50"))
    assert "-PrefixLength 128" in text(steps.windows_dr_powershell("2001:db8::50"))
    assert "netsh interface ipv6 add address" in text(steps.windows_dr_netsh("2001:db8::50"))


def test_gateway_tunnel_and_radius_steps():
    assert "ip route replace default via 10.9.0.5" in text(steps.linux_gateway("10.9.0.5"))
    assert "-NextHop 10.9.0.5" in text(steps.windows_gateway("10.9.0.5"))
    tun = text(steps.linux_tun(VIP))
    assert f"ip addr add {VIP}/32 dev tunl0" in tun and "rp_filter=0" in tun
    assert "Add-RemoteAccessRadius -ServerName 192.0.2.11 -Purpose Accounting" in text(
        steps.windows_rras_radius("192.0.2.11"))


def test_keys_per_method():
    assert keys_for("dr") == ((ARP_VIP,), (SUBNET, ARP, ACCEPT))
    assert keys_for("nat") == ((FORWARDING,), (SUBNET, GATEWAY, AUTONAT))
    assert keys_for("snat") == ((FORWARDING,), ())


def test_arp_request_is_a_broadcast_who_has_and_parses_back():
    frame = P.arp_request("02:00:00:00:00:01", "10.9.0.1", VIP)
    assert frame[:6] == b"\xff" * 6 and len(frame) == 60
    pkt = P.parse(frame)
    assert pkt == P.Arp(1, "02:00:00:00:00:01", "10.9.0.1", VIP)


def test_tcp_syn_checksums_are_right_and_parse_back():
    ip = P.ipv4("10.9.0.1", VIP, P.TCP, P.tcp("10.9.0.1", VIP, 61000, 443, P.SYN, seq=7), ident=61000)
    assert P.checksum(ip[:20]) == 0  # a valid IPv4 header sums to zero
    pseudo = socket.inet_aton("10.9.0.1") + socket.inet_aton(VIP) + struct.pack("!BBH", 0, P.TCP, len(ip) - 20)
    assert P.checksum(pseudo + ip[20:]) == 0
    pkt = P.parse(P.ethernet("02:00:00:00:00:02", "02:00:00:00:00:01", P.ETH_P_IP, ip))
    assert (pkt.src, pkt.dst, pkt.sport, pkt.dport, pkt.flags, pkt.seq) == ("10.9.0.1", VIP, 61000, 443, P.SYN, 7)
    assert pkt.dst_mac == "02:00:00:00:00:02"


def test_icmp_port_unreachable_quotes_the_probe():
    probe = P.ipv4("10.9.0.1", VIP, P.UDP, P.udp("10.9.0.1", VIP, 62000, 500, b"x"))
    err = struct.pack("!BBHI", P.ICMP_UNREACH, 3, 0, 0) + probe[:28]
    pkt = P.parse_ipv4(P.ipv4("10.9.0.11", "10.9.0.1", P.ICMP, err))
    assert pkt.icmp_type == P.ICMP_UNREACH and pkt.quoted.dst == VIP and pkt.quoted.sport == 62000


def test_conntrack_lines():
    masq = parse_conntrack("ipv4     2 tcp      6 113 TIME_WAIT src=10.9.0.11 dst=10.7.0.2 sport=55260 dport=8080 "
                           "src=10.7.0.2 dst=10.7.0.1 sport=8080 dport=55260 [ASSURED] mark=0 use=2")
    assert masq.masqueraded and masq.replied and masq.reply_dst == "10.7.0.1"
    bare = parse_conntrack("ipv4     2 udp      17 29 src=10.9.0.12 dst=10.7.0.2 sport=4000 dport=123 [UNREPLIED] "
                           "src=10.7.0.2 dst=10.9.0.12 sport=123 dport=4000 mark=0 use=1")
    assert not bare.masqueraded and not bare.replied
    assert parse_conntrack("ipv6     10 udp ...") is None


def test_without_privilege_every_probe_is_not_run_and_says_why(monkeypatch):
    from checklists.probes import engine as E

    monkeypatch.setattr(E, "_privileged", lambda: False)
    svc = E.ServiceTarget(1, "web", "192.0.2.5", "nat", ("tcp",), 80, (E.ServerTarget(2, "rs1", "10.0.0.1"),))
    found = E.run_checks([svc], host=object())
    assert {(f.server_id, f.key) for f in found} == {(None, E.FORWARDING), (2, E.SUBNET), (2, E.GATEWAY),
                                                     (2, E.AUTONAT)}
    assert {f.status for f in found} == {E.NOT_RUN} and "privileged worker" in found[0].evidence
