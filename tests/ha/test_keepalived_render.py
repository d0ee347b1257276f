"""The pure keepalived.conf renderer (no Django) and the compiler's HA flag."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from dataplane.compiler import compile_state
from dataplane.config import NAT, ClusterSpec, FloatingIPSpec, PortRange, RealServerSpec, ServiceSpec
from dataplane.keepalived_conf import VrrpLink, VrrpSpec, render_keepalived, vrrp_addresses

RS = (RealServerSpec(1, "rs1", "10.9.0.11", None), RealServerSpec(2, "rs2", "10.9.0.12", None))
CLUSTER = ClusterSpec(
    vip_interface="eth0",
    floating_ips=(FloatingIPSpec("10.9.0.1", 24, "eth1"), FloatingIPSpec("10.8.0.1", 24, "eth0")),
    services=(
        ServiceSpec(1, "web", "10.8.0.50", (PortRange(80, 80),), real_servers=RS),
        ServiceSpec(2, "nat", "10.8.0.51", (PortRange(80, 80),), method=NAT, real_servers=RS),
        ServiceSpec(3, "six", "fd00:8::50", (PortRange(443, 443),), method=NAT,
                    real_servers=(RealServerSpec(3, "rs6", "fd00:9::11", None),)),
        ServiceSpec(4, "off", "10.8.0.99", (PortRange(80, 80),), enabled=False),
    ),
)
SPEC = VrrpSpec(node="lb1", role="master", peer="10.8.0.3", links=(VrrpLink("eth1", "10.9.0.3", "10.9.0.2"),),
                notify=("/usr/bin/python3", "/opt/fulcrum/manage.py", "hanotify"))


def block(text: str, header: str) -> str:
    start = text.index(header)
    depth, i = 0, text.index("{", start)
    while True:
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start:i + 1]
        i += 1


def test_flag_leaves_addresses_to_keepalived_and_keeps_everything_else():
    single = compile_state(CLUSTER)
    pair = compile_state(ClusterSpec(**{**CLUSTER.__dict__, "vrrp_holds_addresses": True}))
    assert pair.addresses == frozenset() and len(single.addresses) == 5
    assert (pair.services, pair.destinations, pair.rules, pair.sysctls, pair.timeouts) == (
        single.services, single.destinations, single.rules, single.sysctls, single.timeouts)


def test_one_instance_per_interface_in_one_sync_group():
    text = render_keepalived(SPEC, CLUSTER)
    assert text.count("vrrp_instance ") == 2
    group = block(text, "vrrp_sync_group FULCRUM")
    assert "VI_eth0" in group and "VI_eth1" in group
    assert 'notify "/usr/bin/python3 /opt/fulcrum/manage.py hanotify"' in group
    eth0, eth1 = block(text, "vrrp_instance VI_eth0"), block(text, "vrrp_instance VI_eth1")
    assert "notify" not in eth0  # the group notifies once per transition
    assert "virtual_router_id 51" in eth0 and "virtual_router_id 52" in eth1


def test_vrrpv3_unicast_priority_subsecond_nopreempt():
    text = render_keepalived(SPEC, CLUSTER)
    assert "vrrp_version 3" in text
    eth0, eth1 = block(text, "vrrp_instance VI_eth0"), block(text, "vrrp_instance VI_eth1")
    assert "unicast_peer {\n        10.8.0.3\n    }" in eth0  # no link: the management address
    assert "unicast_src_ip 10.9.0.2" in eth1 and "10.9.0.3" in eth1
    for inst in (eth0, eth1):
        assert "priority 150" in inst and "advert_int 0.05" in inst
        assert "state BACKUP" in inst and "nopreempt" in inst
    backup = render_keepalived(VrrpSpec(**{**SPEC.__dict__, "role": "backup"}), CLUSTER)
    assert "priority 100" in backup and "priority 150" not in backup


def test_preempt_master_starts_as_master():
    text = render_keepalived(VrrpSpec(**{**SPEC.__dict__, "preempt": True, "preempt_delay": 5}), CLUSTER)
    assert "nopreempt" not in text and "state MASTER" in text and "preempt_delay 5" in text


def test_every_vip_and_floating_ip_exactly_once_on_its_interface():
    text = render_keepalived(SPEC, CLUSTER)
    eth0, eth1 = block(text, "vrrp_instance VI_eth0"), block(text, "vrrp_instance VI_eth1")
    for line in ("10.8.0.1/24 dev eth0", "10.8.0.50/32 dev eth0", "10.8.0.51/32 dev eth0", "fd00:8::50/128 dev eth0"):
        assert eth0.count(line) == 1 and text.count(line) == 1
    assert "10.9.0.1/24 dev eth1" in eth1
    assert "10.8.0.99" not in text  # a disabled service holds no address
    # one advertised address of the adverts' family; the rest held but not advertised
    assert block(eth0, "virtual_ipaddress {").count(" dev ") == 1
    assert "fd00:8::50/128" in block(eth0, "virtual_ipaddress_excluded")
    assert vrrp_addresses(CLUSTER)["eth1"][0].address == "10.9.0.1"


def test_no_addresses_still_one_instance_for_the_roles():
    text = render_keepalived(VrrpSpec("lb1", "backup", "192.0.2.2"), ClusterSpec(vip_interface="bond0"))
    assert "vrrp_instance VI_bond0" in text and "vrrp_sync_group" not in text
    assert "virtual_ipaddress" not in text


def test_deterministic():
    assert render_keepalived(SPEC, CLUSTER) == render_keepalived(SPEC, CLUSTER)


@pytest.mark.parametrize("change, message", [
    ({"role": "primary"}, "role"),
    ({"advert_int": 0.001}, "advert_int"),
    ({"advert_int": 50}, "advert_int"),
    ({"virtual_router_id": 0}, "virtual_router_id"),
    ({"peer": "not-an-ip"}, "does not appear"),
    ({"links": (VrrpLink("eth 1", "10.0.0.1"),)}, "interface"),
    ({"notify": ('say "hi"',)}, "double quotes"),
])
def test_bad_input_is_refused(change, message):
    with pytest.raises(ValueError, match=message):
        render_keepalived(VrrpSpec(**{**SPEC.__dict__, **change}), CLUSTER)


def test_keepalived_itself_parses_it(tmp_path):
    assert shutil.which("keepalived"), "apt-get install keepalived"
    conf = tmp_path / "k.conf"
    # interfaces that exist on any host, so keepalived's config test checks syntax only
    nic = next(n for n in sorted(os.listdir("/sys/class/net")) if n != "lo")
    spec = VrrpSpec("lb1", "master", "192.0.2.2", links=(VrrpLink(nic, "192.0.2.2", "192.0.2.1"),),
                    notify=("/bin/true",))
    conf.write_text(render_keepalived(spec, ClusterSpec(vip_interface=nic, services=CLUSTER.services[:1],
                                                        floating_ips=(FloatingIPSpec("192.0.2.9", 24, nic),))))
    res = subprocess.run(["keepalived", "-t", "-f", str(conf)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
