"""The guest itself: IPVS, netfilter and namespaces are there."""

import subprocess

import pytest

pytestmark = pytest.mark.netlab


def test_ipvs_is_loaded():
    assert open("/proc/net/ip_vs").read().startswith("IP Virtual Server")


def test_iptables_legacy_works():
    out = subprocess.run(["iptables-legacy-save", "-t", "nat"], capture_output=True, text=True, check=True)
    assert "*nat" in out.stdout
