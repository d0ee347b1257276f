"""Fixtures for tests that run inside the UML guest (see ../README.md).

Imported on the host too (collection): nothing here touches the kernel at import time.
"""

from __future__ import annotations

import subprocess

import pytest

from dataplane.desired import DesiredState
from dataplane.diff import plan
from tests.netlab import lab

SYSCTLS = (
    "net.ipv4.ip_forward",
    "net.ipv4.vs.conntrack",
    "net.ipv4.vs.expire_nodest_conn",
    "net.ipv4.vs.expire_quiescent_template",
    "net.ipv6.conf.all.forwarding",
)


def run(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


def ipvsadm_save() -> list[str]:
    """``ipvsadm -S -n``, one line per service/destination, as ipvsadm prints them."""
    return run("ipvsadm", "-S", "-n").splitlines()


def our_iptables(family: int = 4) -> list[str]:
    """Lines of iptables-save that mention our chains (declarations, jumps, rules)."""
    tool = "iptables-legacy-save" if family == 4 else "ip6tables-legacy-save"
    return [line for line in run(tool).splitlines() if "FULCRUM" in line]


LAB_VIPS = ("10.8.0.60", "10.9.0.50", "10.9.0.60", "fd00:7::60")


def our_addresses() -> list[str]:
    """``ip -o addr`` lines of the load balancer that carry one of the lab's VIPs."""
    return [line for line in run("ip", "-o", "addr").splitlines() if any(f" {v}/" in line for v in LAB_VIPS)]


@pytest.fixture(scope="module")
def net():
    n = lab.Net.build(servers=2)
    for h in n.servers:
        n.serve(h.name, tcp=[80, 443, 8443], udp=[53, 500, 4500, 1812])
    yield n
    n.close()


@pytest.fixture(scope="module")
def driver(net):
    from dataplane.kernel import KernelDriver

    d = KernelDriver(iptables_backend="legacy")
    yield d
    d.close()


@pytest.fixture(autouse=True)
def clean_kernel(request):
    """Every test starts and ends with nothing of ours in the kernel."""
    yield
    if "driver" not in request.fixturenames:
        return
    d = request.getfixturevalue("driver")
    now = d.read(SYSCTLS)
    result = d.apply(plan(now, DesiredState.empty()))
    assert result.ok, result.failed
