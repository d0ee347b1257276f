"""dataplane.kernel without a kernel: the IPVS netlink codec and the render-only driver.

    .venv/bin/pytest -p no:django tests/dataplane/test_kernel_codec.py
"""

from __future__ import annotations

import struct

import pytest
from pyroute2.netlink.generic.ipvs import ipvsmsg

from dataplane.desired import MASQ, ROUTE, TUNNEL, DesiredState, IpvsDestination, IpvsService, ServiceKey
from dataplane.diff import AddService, plan
from dataplane.kernel import RenderOnlyDriver
from dataplane.kernel import ipvs as nl

SERVICES = [
    IpvsService(ServiceKey(4, "tcp", "192.0.2.10", 443), "wlc"),
    IpvsService(ServiceKey(4, "udp", "192.0.2.10", 53), "sh", one_packet=True),
    IpvsService(ServiceKey(4, "fwm", "", 0, 7), "rr", 3600, "255.255.255.0"),
    IpvsService(ServiceKey(6, "tcp", "2001:db8::10", 443), "mh", 60),
    IpvsService(ServiceKey(6, "fwm", "", 0, 8), "wrr", 300, "64"),
]


def _nested(attr: bytes) -> bytes:
    return attr[4:]  # drop the NLA header of IPVS_CMD_ATTR_SERVICE/_DEST


@pytest.mark.parametrize("svc", SERVICES, ids=lambda s: f"{s.key.protocol}{s.key.family}")
def test_service_roundtrip(svc):
    body = nl.encode_service(svc)
    assert nl.decode_service(body).service == svc


@pytest.mark.parametrize("svc", SERVICES, ids=lambda s: f"{s.key.protocol}{s.key.family}")
def test_service_matches_pyroute2s_description(svc):
    m = ipvsmsg.service(nl._nla(1, nl.encode_service(svc)))
    m.decode()
    attrs = dict(m["attrs"])
    assert attrs["IPVS_SVC_ATTR_AF"] == (2 if svc.key.family == 4 else 10)
    assert attrs["IPVS_SVC_ATTR_SCHED_NAME"] == svc.scheduler
    assert attrs["IPVS_SVC_ATTR_TIMEOUT"] == svc.persistence_timeout
    if svc.key.protocol == "fwm":  # what the kernel needs for a firewall-mark service
        assert attrs["IPVS_SVC_ATTR_FWMARK"] == svc.key.fwmark
        assert "IPVS_SVC_ATTR_PROTOCOL" not in attrs and "IPVS_SVC_ATTR_ADDR" not in attrs
    else:
        assert attrs["IPVS_SVC_ATTR_PORT"] == svc.key.port
    assert "IPVS_SVC_ATTR_NETMASK" in attrs and "IPVS_SVC_ATTR_FLAGS" in attrs


def test_ipv6_netmask_is_a_host_order_prefix_length():
    body = nl.encode_service(SERVICES[4])
    raw = dict((k, bytes(v)) for k, v in nl.iter_nla(body))[nl.SVC_NETMASK]
    assert struct.unpack("=I", raw)[0] == 64


@pytest.mark.parametrize("d", [
    IpvsDestination(SERVICES[0].key, "10.0.0.11", 8443, MASQ, 100, 1000, 10),
    IpvsDestination(SERVICES[2].key, "10.0.0.12", 0, ROUTE, 0),
    IpvsDestination(SERVICES[3].key, "2001:db8::11", 443, TUNNEL, 65535),
])
def test_dest_roundtrip(d):
    assert nl.decode_dest(d.service, nl.encode_dest(d)).dest == d


def test_render_only_driver_records_and_fails_on_request():
    svc = SERVICES[0]
    desired = DesiredState(frozenset([svc]), frozenset(), frozenset(), (), (), DesiredState.empty().timeouts)
    d = RenderOnlyDriver()
    r = d.apply(plan(d.read(), desired))
    assert r.ok and d.log == [AddService(svc)] and d.read() == desired
    d.fail_on = lambda op: True
    r = d.apply(plan(d.read(), DesiredState.empty()))
    assert not r.ok and r.applied == () and d.read() == desired
