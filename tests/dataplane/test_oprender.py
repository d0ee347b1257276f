"""Kernel operations read as the admin's tools: ipvsadm / iptables / ip addr / sysctl lines, grouped."""

from dataplane import diff as ops
from dataplane.desired import MASQ, ROUTE, Address, IpvsDestination, IpvsService, Rule, ServiceKey, Timeouts
from dataplane.oprender import op_lines, render_ops, render_report

TCP = ServiceKey(4, "tcp", "192.0.2.10", 443)
V6 = ServiceKey(6, "udp", "2001:db8::10", 500)
FWM = ServiceKey(4, "fwm", "", 0, fwmark=7)


def test_each_op_is_the_command_an_admin_would_type():
    svc = IpvsService(TCP, "wlc", persistence_timeout=3600)
    dest = IpvsDestination(TCP, "198.51.100.2", 443, MASQ, 75)
    assert op_lines(ops.AddService(svc)) == ["ipvsadm -A -t 192.0.2.10:443 -s wlc -p 3600"]
    assert op_lines(ops.EditService(svc)) == ["ipvsadm -E -t 192.0.2.10:443 -s wlc -p 3600"]
    assert op_lines(ops.DelService(svc)) == ["ipvsadm -D -t 192.0.2.10:443"]
    assert op_lines(ops.AddDest(dest)) == ["ipvsadm -a -t 192.0.2.10:443 -r 198.51.100.2:443 -m -w 75"]
    assert op_lines(ops.EditDest(dest)) == ["ipvsadm -e -t 192.0.2.10:443 -r 198.51.100.2:443 -m -w 75"]
    assert op_lines(ops.DelDest(dest)) == ["ipvsadm -d -t 192.0.2.10:443 -r 198.51.100.2:443"]
    assert op_lines(ops.DelDest(IpvsDestination(V6, "2001:db8::2", 500, ROUTE, 1))) == [
        "ipvsadm -d -u [2001:db8::10]:500 -r [2001:db8::2]:500"]
    assert op_lines(ops.DelService(IpvsService(FWM, "rr"))) == ["ipvsadm -D -f 7"]
    assert op_lines(ops.SetTimeouts(Timeouts(900, 120, 300))) == ["ipvsadm --set 900 120 300"]
    assert op_lines(ops.SetSysctl("net.ipv4.ip_forward", "1")) == ["sysctl -w net.ipv4.ip_forward=1"]
    assert op_lines(ops.AddAddress(Address("192.0.2.10", 32, "lo"))) == ["ip addr add 192.0.2.10/32 dev lo"]
    assert op_lines(ops.DelAddress(Address("192.0.2.10", 32, "lo"))) == ["ip addr del 192.0.2.10/32 dev lo"]


def test_a_rules_replacement_flushes_and_appends_each_owned_chain():
    rule = Rule(4, "nat", "FULCRUM-POSTROUTING", ("-d", "198.51.100.2", "-j", "MASQUERADE"))
    assert op_lines(ops.ReplaceRules(4, (rule,))) == [
        "iptables -t mangle -F FULCRUM-PREROUTING",
        "iptables -t nat -F FULCRUM-POSTROUTING",
        "iptables -t nat -A FULCRUM-POSTROUTING -d 198.51.100.2 -j MASQUERADE",
        "iptables -t filter -F FULCRUM-MGMT",  # the management lockdown's chain is owned too
    ]
    assert op_lines(ops.ReplaceRules(6, ()))[0].startswith("ip6tables -t mangle -F ")


def test_describe_is_the_command_text():
    op = ops.SetSysctl("net.ipv4.vs.conntrack", "1")
    assert op.describe() == "sysctl -w net.ipv4.vs.conntrack=1"


def test_the_report_groups_by_tool_in_apply_order_with_counts():
    dest = IpvsDestination(TCP, "198.51.100.2", 443, MASQ, 1)
    text = render_ops([
        ops.DelAddress(Address("192.0.2.9", 32, "eth0")),
        ops.AddService(IpvsService(TCP, "wlc")),
        ops.AddDest(dest),
        ops.ReplaceRules(4, ()),
        ops.SetSysctl("net.ipv4.ip_forward", "1"),
    ])
    assert text.splitlines() == [
        "# sysctl: 1 command",
        "sysctl -w net.ipv4.ip_forward=1",
        "# ip addr: 1 command",
        "ip addr del 192.0.2.9/32 dev eth0",
        "# ipvsadm: 2 commands",
        "ipvsadm -A -t 192.0.2.10:443 -s wlc",
        "ipvsadm -a -t 192.0.2.10:443 -r 198.51.100.2:443 -m -w 1",
        "# iptables: 3 commands",
        "iptables -t mangle -F FULCRUM-PREROUTING",
        "iptables -t nat -F FULCRUM-POSTROUTING",
        "iptables -t filter -F FULCRUM-MGMT",
    ]


def test_a_cut_short_list_says_how_many_operations_are_not_shown():
    text = render_report(["ipvsadm -D -f 1"], total=3)
    assert text.splitlines()[-1] == "# … and 2 more operations not shown"
    assert render_report([]) == ""
