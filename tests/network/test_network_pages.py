"""Local Configuration › Network pages: admins edit and apply, others only read, not-owned is read-only."""

from __future__ import annotations

import pytest
from django.test import Client

from netconfig.models import Interface, NetworkChange

pytestmark = pytest.mark.django_db
PAGE = "/local/network/"


def browser(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def test_admin_adds_an_interface_with_pick_lists_and_errors_name_the_field(admin):
    c = browser(admin)
    page = c.get("/local/network/interfaces/add/").content.decode()
    assert "eth0 — 192.0.2.10/24" in page  # real interfaces with their addresses
    r = c.post("/local/network/interfaces/add/", {"name": "eth1.20", "kind": "vlan", "parent": "eth1",
                                                   "vlan_id": "5000", "up": "on"})
    assert r.status_code == 200 and "A VLAN id is 1 to 4094." in r.content.decode()
    r = c.post("/local/network/interfaces/add/", {"name": "eth1.20", "kind": "vlan", "parent": "eth1",
                                                   "vlan_id": "20", "up": "on",
                                                   "addresses": "198.51.100.1/24\n2001:db8:20::1/64"})
    assert r.status_code == 302
    assert Interface.objects.get(name="eth1.20").addresses == ["198.51.100.1/24", "2001:db8:20::1/64"]
    r = c.post("/local/network/interfaces/add/", {"name": "bond0", "kind": "bond", "bond_mode": "active-backup",
                                                   "members": ["eth2", "eth3"], "up": "on"})
    assert r.status_code == 302 and Interface.objects.get(name="bond0").members == ["eth2", "eth3"]
    page = c.get(PAGE).content.decode()
    assert "198.51.100.1/24" in page and "Apply with rollback timer" in page


def test_apply_refuses_to_cut_the_admin_off_and_names_the_new_address(admin, django_capture_on_commit_callbacks):
    c = browser(admin)
    c.post("/local/network/interfaces/add/", {"name": "eth0", "kind": "physical", "up": "on",
                                               "addresses": "192.0.2.20/24"})
    r = c.post("/local/network/apply/", {"timeout": "0"}, HTTP_HOST="192.0.2.10", follow=True)
    assert "reconnect to 192.0.2.20" in r.content.decode()
    assert NetworkChange.objects.count() == 0
    with django_capture_on_commit_callbacks(execute=False):
        r = c.post("/local/network/apply/", {"timeout": "90"}, HTTP_HOST="192.0.2.10", follow=True)
    assert "reconnect to 192.0.2.20 and confirm within 90 s" in r.content.decode()
    change = NetworkChange.objects.get()
    NetworkChange.objects.filter(pk=change.pk).update(status=NetworkChange.AWAITING)  # as the worker leaves it
    page = c.get(PAGE).content.decode()
    assert 'id="network-countdown"' in page and "Confirm the change" in page
    # The page's 2-second check (htmx): nothing while the status is the one shown, then a reload.
    status = f"/local/network/changes/{change.pk}/status/"
    assert f'hx-get="{status}?shown=awaiting"' in page
    assert c.get(status, {"shown": "awaiting"}, HTTP_HX_REQUEST="true").status_code == 204
    r = c.post(f"/local/network/changes/{change.pk}/confirm/", follow=True)
    assert "confirmed: it stays" in r.content.decode()
    assert NetworkChange.objects.get().status == NetworkChange.CONFIRMED
    moved = c.get(status, {"shown": "awaiting"}, HTTP_HX_REQUEST="true")
    assert moved.status_code == 200 and moved["HX-Refresh"] == "true"


@pytest.mark.parametrize("role", ["operator", "readonly"])
def test_others_read_but_cannot_change(users, role):
    c = browser(users[role])
    page = c.get(PAGE)
    assert page.status_code == 200 and "Add interface" not in page.content.decode()
    assert c.post("/local/network/interfaces/add/", {"name": "eth1"}).status_code == 403
    assert c.post("/local/network/apply/", {"timeout": "30"}).status_code == 403
    assert Interface.objects.count() == 0


def test_not_owned_pages_say_why_and_stay_read_only(admin, settings):
    settings.FULCRUM_MANAGE_NETWORK = "no"
    c = browser(admin)
    page = c.get(PAGE).content.decode()
    assert "Read-only." in page and "FULCRUM_MANAGE_NETWORK=no" in page and "Add interface" not in page
    r = c.post("/local/network/interfaces/add/", {"name": "eth1"}, follow=True)
    assert "Read-only here" in r.content.decode() and Interface.objects.count() == 0


def test_changes_are_in_the_change_log(admin):
    from audit.models import ChangeRecord

    browser(admin).post("/local/network/routes/add/", {"destination": "0.0.0.0/0", "gateway": "192.0.2.1"})
    rec = ChangeRecord.objects.get(object_type="route")
    assert rec.username == admin.username and rec.after["gateway"] == "192.0.2.1"


def test_vip_autonat_and_floating_ip_interfaces_are_pick_lists(admin):
    c = browser(admin)
    page = c.get("/cluster/advanced/").content.decode()
    assert '<select name="vip_interface"' in page and "eth0 — 192.0.2.10/24" in page
    page = c.get("/cluster/floating-ips/add/").content.decode()
    assert '<select name="interface"' in page and "eth3 — no address" in page
    r = c.post("/cluster/floating-ips/add/", {"address": "192.0.2.254", "prefixlen": "24", "interface": "eth9"})
    assert "Select a valid choice" in r.content.decode()  # a name not offered is refused


def test_system_settings_page_saves_and_sends_a_test_line(admin, settings, tmp_path):
    import socket

    settings.DATA_DIR = tmp_path
    c = browser(admin)
    page = c.get("/local/network/system/").content.decode()
    assert "Send test syslog line" in page and 'name="timezone"' in page
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    port = sock.getsockname()[1]
    form = {"hostname": "lb1", "timezone": "UTC", "time_daemon": "chrony", "smtp_port": "25",
            "dns_servers": "192.0.2.53 bogus", "syslog_targets": f"127.0.0.1:{port}"}
    r = c.post("/local/network/system/", form)
    assert r.status_code == 200 and "&#x27;bogus&#x27; is not an IP address" in r.content.decode()
    form["dns_servers"] = "192.0.2.53"
    r = c.post("/local/network/system/", form, follow=True)
    assert "The host applies them now." in r.content.decode()
    assert (tmp_path / "system-apply.request").exists()
    r = c.post("/local/network/system/test-syslog/", follow=True)
    assert f"Test syslog sent to 127.0.0.1:{port}" in r.content.decode()
    assert "test syslog line from alice" in sock.recv(4096).decode()
    sock.close()


def test_system_settings_page_is_read_only_for_others(users):
    c = browser(users["readonly"])
    page = c.get("/local/network/system/").content.decode()
    assert "Save settings" not in page and "Send test mail" not in page
    assert c.post("/local/network/system/", {"hostname": "x"}).status_code == 403
    assert c.post("/local/network/system/test-mail/").status_code == 403
