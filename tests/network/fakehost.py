"""The host the network tests pretend to run on: the reader of real interfaces is swapped (never netlink
mocked; the kernel side is tested in tests/netlab)."""

from __future__ import annotations

from contextlib import contextmanager

HOST = {
    "lo": {"kind": "", "up": True, "addresses": ["127.0.0.1/8"]},
    "eth0": {"kind": "", "up": True, "addresses": ["192.0.2.10/24"]},
    "eth1": {"kind": "", "up": True, "addresses": []},
    "eth2": {"kind": "", "up": True, "addresses": []},
    "eth3": {"kind": "", "up": True, "addresses": []},
}


@contextmanager
def fake_host(settings):
    from netconfig import inventory

    settings.FULCRUM_MANAGE_NETWORK = "yes"
    settings.ALLOWED_HOSTS = ["*"]
    saved = inventory._reader[0]
    inventory.use_reader(lambda: HOST)
    try:
        yield HOST
    finally:
        inventory.use_reader(saved)
