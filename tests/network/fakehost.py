"""The host the tests pretend to run on: the reader of real interfaces is swapped (never netlink mocked;
the kernel side is tested in tests/netlab), so no test depends on the NICs of the machine it runs on."""

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
def host_interfaces(host=None):
    from netconfig import inventory

    saved = inventory._reader[0]
    inventory.use_reader(lambda: HOST if host is None else host)
    try:
        yield HOST if host is None else host
    finally:
        inventory.use_reader(saved)


@contextmanager
def fake_host(settings):
    """The fake host, owned by this appliance, reachable under any Host header."""
    settings.FULCRUM_MANAGE_NETWORK = "yes"
    settings.ALLOWED_HOSTS = ["*"]
    with host_interfaces() as host:
        yield host
