"""Commit-confirmed network changes on a whole appliance (web + worker + Redis) in the kernel lab.

The admin sits in namespace ``admin`` behind the appliance's management link ``mgmt0`` and talks
to the WebUI's API over it, as a browser would. A change that moves the management address is
refused without a timer; applied with one and left unconfirmed it is rolled back in time and the
appliance answers on the old address again; a confirmed one stays; after the kernel forgets
everything (a reboot-equivalent) the boot command restores the saved configuration.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.netlab import lab
from tests.netlab.inside import appliance_lab
from tests.netlab.inside.appliance_lab import ROOT, server_env, wait_for

pytestmark = pytest.mark.netlab
NETLAB_TIMEOUT = 600

OLD, NEW = "10.70.0.1", "10.70.0.2"
TIMER = 4  # seconds: short, so the test is; the default is 120


@pytest.fixture(scope="module")
def app(tmp_path_factory, request):
    blocker = appliance_lab.db_blocker(request)
    if blocker is not None:
        blocker.unblock()
    os.environ["FULCRUM_MANAGE_NETWORK"] = "yes"
    lab.sh("ip", "netns", "add", "admin")
    lab.sh("ip", "link", "set", "lo", "up", ns="admin")
    lab.sh("ip", "link", "add", "mgmt0", "type", "veth", "peer", "name", "eth0", "netns", "admin")
    lab.sh("ip", "link", "set", "mgmt0", "up")
    lab.sh("ip", "addr", "add", f"{OLD}/24", "dev", "mgmt0")  # what the installer gave the host
    lab.sh("ip", "link", "set", "eth0", "up", ns="admin")
    lab.sh("ip", "addr", "add", "10.70.0.100/24", "dev", "eth0", ns="admin")
    a = appliance_lab.start(tmp_path_factory.mktemp("appliance"), bind="0.0.0.0")
    yield a
    a.stop()
    if blocker is not None:
        blocker.restore()


def from_admin(app, method, path, body=None, to=OLD, timeout=5.0):
    """A request from the admin's namespace to the appliance's address ``to``."""
    with lab.netns("admin"):
        return app.request(method, path, body, timeout=timeout, host=to)


def answers(app, address: str) -> bool:
    try:
        return from_admin(app, "GET", "/api/v1/system/network/", to=address, timeout=1.0)[0] == 200
    except OSError:
        return False


def addresses() -> str:
    return lab.sh("ip", "-o", "-4", "addr", "show", "dev", "mgmt0")


def wait_status(app, change_id: int, statuses, to: str, seconds: float) -> dict:
    def done():
        try:
            code, body = from_admin(app, "GET", f"/api/v1/system/network/changes/{change_id}/", to=to, timeout=1.0)
        except OSError:
            return None
        return body if code == 200 and body["status"] in statuses else None

    return wait_for(done, seconds, f"network change #{change_id} to be {statuses}", every=0.1)


def test_a_change_of_the_management_address_rolls_back_unless_confirmed(app):
    assert answers(app, OLD)
    code, body = from_admin(app, "POST", "/api/v1/system/interfaces/", {"name": "mgmt0", "addresses": [f"{NEW}/24"]})
    assert code == 201, body

    code, body = from_admin(app, "POST", "/api/v1/system/network/", {"timeout": 0})
    assert code == 409, body  # it would cut the admin off: only with a rollback timer
    assert body["reconnect_to"] == [NEW]

    code, change = from_admin(app, "POST", "/api/v1/system/network/", {"timeout": TIMER})
    assert code == 202, change
    waiting = wait_status(app, change["id"], {"awaiting"}, NEW, 60)
    applied_at = time.monotonic()
    assert f"{NEW}/24" in addresses() and f"{OLD}/" not in addresses()
    assert 0 < waiting["seconds_left"] <= TIMER
    assert not answers(app, OLD)

    # Not confirmed: back to exactly the state before, within timer + 5 s.
    wait_for(lambda: answers(app, OLD), TIMER + 5, f"the appliance to answer on {OLD} again")
    took = time.monotonic() - applied_at
    assert took <= TIMER + 5, took
    assert f"{OLD}/24" in addresses() and f"{NEW}/" not in addresses()
    assert wait_status(app, change["id"], {"rolled-back"}, OLD, 10)["error"] == ""

    # Applied again and confirmed from the new address: it stays past its timer.
    code, change = from_admin(app, "POST", "/api/v1/system/network/", {"timeout": TIMER})
    assert code == 202, change
    wait_status(app, change["id"], {"awaiting"}, NEW, 60)
    code, body = from_admin(app, "POST", f"/api/v1/system/network/changes/{change['id']}/confirm/", to=NEW)
    assert code == 200 and body["status"] == "confirmed", body
    time.sleep(TIMER + 2)
    assert answers(app, NEW) and not answers(app, OLD)
    assert from_admin(app, "GET", f"/api/v1/system/network/changes/{change['id']}/", to=NEW)[1]["status"] == "confirmed"


def test_the_saved_network_comes_back_after_a_reboot_equivalent(app):
    code, body = from_admin(app, "POST", "/api/v1/system/interfaces/",
                            {"name": "mgmt0.30", "kind": "vlan", "parent": "mgmt0", "vlan_id": 30,
                             "addresses": ["10.71.0.1/24"]}, to=NEW)
    assert code == 201, body
    code, change = from_admin(app, "POST", "/api/v1/system/network/", {"timeout": 0}, to=NEW)
    assert code == 202, change
    wait_status(app, change["id"], {"confirmed"}, NEW, 60)
    assert "10.71.0.1/24" in lab.sh("ip", "-o", "addr", "show", "dev", "mgmt0.30")

    app.procs.pop("worker").terminate()  # the kernel forgets; the worker is gone
    lab.sh("ip", "link", "del", "mgmt0.30")
    lab.sh("ip", "addr", "flush", "dev", "mgmt0")
    lab.sh("ip", "link", "set", "mgmt0", "down")
    assert not answers(app, NEW)

    out = subprocess.run([sys.executable, "manage.py", "network_boot"], cwd=ROOT, env=server_env(app.data_dir),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"re-applied network change #{change['id']}" in out.stdout
    app.start_worker()
    assert answers(app, NEW)
    assert "10.71.0.1/24" in lab.sh("ip", "-o", "addr", "show", "dev", "mgmt0.30")
    assert "vlan protocol 802.1Q id 30" in lab.sh("ip", "-d", "link", "show", "mgmt0.30")
