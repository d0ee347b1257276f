"""Management lockdown in a real kernel (runs inside the UML guest): the FULCRUM-MGMT chain that
operations.lockdown.push_lockdown writes through the one kernel writer keeps addresses outside the
management networks from opening the management port, lets those inside in, leaves other ports
alone, lifts when emptied, and is journalled, so a drift check sees a hand-made change to it.

    client 10.8.0.100 + 10.8.0.101, fd00:8::100 ── front ── LB 10.8.0.1 / fd00:8::1 (management port 8443)
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

from tests.netlab import lab
from tests.netlab.inside import appliance_lab as A

pytestmark = pytest.mark.netlab

MGMT, OTHER = 8443, 9000
INSIDE, OUTSIDE, LB = "10.8.0.100", "10.8.0.101", "10.8.0.1"


@pytest.fixture(scope="module")
def net():
    n = lab.Net.build(servers=1)
    dev = next(line.split()[1] for line in lab.sh("ip", "-o", "-4", "addr", "show", ns="client").splitlines()
               if f" {INSIDE}/" in line)
    lab.sh("ip", "addr", "add", f"{OUTSIDE}/24", "dev", dev, ns="client")
    listeners = []
    for port in (MGMT, OTHER):
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("::", port))
        s.listen(16)
        listeners.append(s)
        threading.Thread(target=_accept, args=(s,), daemon=True).start()
    yield n
    for s in listeners:
        s.close()
    n.close()


def _accept(server: socket.socket) -> None:
    while True:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        conn.sendall(b"hello\n")
        conn.close()


def opens(net, source: str, dest: str, port: int) -> bool:
    fam = socket.AF_INET6 if ":" in dest else socket.AF_INET
    s = net.socket("client", fam, socket.SOCK_STREAM)
    s.settimeout(1.5)
    try:
        s.bind((source, 0))
        s.connect((dest, port))
        return s.recv(16) == b"hello\n"
    except OSError:
        return False
    finally:
        s.close()


@pytest.fixture(scope="module")
def journal_db(request):
    """The kernel writer journals into the appliance database: a fresh SQLite file for this module."""
    blocker = request.getfixturevalue("django_db_blocker") if request.config.pluginmanager.has_plugin(
        "django") else None
    if blocker is not None:
        blocker.unblock()
    data = Path(os.environ.get("TMPDIR", "/tmp")) / "lockdown-db"
    data.mkdir(parents=True, exist_ok=True)
    A.use_database(data)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    yield
    if blocker is not None:
        blocker.restore()


@pytest.fixture
def policy(monkeypatch, journal_db):
    from operations import lockdown

    state = {"networks": []}
    monkeypatch.setattr(lockdown, "current_networks", lambda: list(state["networks"]))
    monkeypatch.setattr(lockdown, "management_ports", lambda: [MGMT])
    monkeypatch.setattr(lockdown, "peer_addresses", list)

    def apply(*networks):
        state["networks"] = list(networks)
        return lockdown.push_lockdown()

    yield apply
    apply()


def jumps(family: int = 4) -> list[str]:
    tool = "iptables-legacy-save" if family == 4 else "ip6tables-legacy-save"
    return [line for line in lab.sh(tool, "-t", "filter").splitlines() if line.startswith("-A INPUT") and
            "FULCRUM-MGMT" in line]


def test_outside_cannot_open_the_management_port_inside_can(net, policy):
    assert opens(net, OUTSIDE, LB, MGMT)  # no lockdown yet
    policy(f"{INSIDE}/32")
    assert opens(net, INSIDE, LB, MGMT)
    assert not opens(net, OUTSIDE, LB, MGMT)
    assert opens(net, OUTSIDE, LB, OTHER)  # only the management port is locked down
    # IPv6: no IPv6 management network, so IPv6 is closed too
    assert not opens(net, "fd00:8::100", "fd00:8::1", MGMT)


def test_ipv6_network_and_reapply_keeps_one_jump(net, policy):
    policy(f"{INSIDE}/32", "fd00:8::100/128")
    policy(f"{INSIDE}/32", "fd00:8::100/128")
    assert len(jumps(4)) == 1 and len(jumps(6)) == 1
    assert opens(net, "fd00:8::100", "fd00:8::1", MGMT)
    assert opens(net, INSIDE, LB, MGMT) and not opens(net, OUTSIDE, LB, MGMT)


def test_the_journal_covers_the_chain_drift_sees_a_hand_made_change(net, policy):
    from cluster.drift import check_drift

    policy(f"{INSIDE}/32")
    assert not check_drift(repair=False).drift  # the kernel reads back exactly what was journalled
    lab.sh("iptables-legacy", "-F", "FULCRUM-MGMT")  # by hand: the lockdown is gone
    assert opens(net, OUTSIDE, LB, MGMT)
    report = check_drift(repair=True)
    assert report.drift and report.repaired and any("FULCRUM-MGMT" in d for d in report.differences)
    assert not opens(net, OUTSIDE, LB, MGMT) and opens(net, INSIDE, LB, MGMT)


def test_a_wider_network_and_lifting_the_lockdown(net, policy):
    policy("10.8.0.0/24")
    assert opens(net, OUTSIDE, LB, MGMT) and opens(net, INSIDE, LB, MGMT)
    policy("192.0.2.0/24", f"{INSIDE}/32")
    assert not opens(net, OUTSIDE, LB, MGMT)
    policy()
    assert opens(net, OUTSIDE, LB, MGMT)
    assert opens(net, "fd00:8::100", "fd00:8::1", MGMT)


def test_the_safety_check_uses_the_address_the_appliance_sees(net, journal_db):
    """The address a management connection arrives from (as the web process sees it) decides."""
    from operations import lockdown

    seen = {}
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind((LB, 0))
    server.listen(1)
    port = server.getsockname()[1]

    def accept_once():
        conn, peer = server.accept()
        seen["peer"] = peer[0]
        conn.sendall(b"hello\n")
        conn.close()

    t = threading.Thread(target=accept_once, daemon=True)
    t.start()
    assert opens(net, OUTSIDE, LB, port)
    t.join(5)
    server.close()
    assert seen["peer"] == OUTSIDE
    assert "lock you out" in lockdown.lockout_error([f"{INSIDE}/32"], seen["peer"])
    assert lockdown.lockout_error(["10.8.0.0/24"], seen["peer"]) is None
