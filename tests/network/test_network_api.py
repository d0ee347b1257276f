"""The host-network API: validation names the field, roles are enforced, commit-confirmed rules."""

from __future__ import annotations

import pytest

from netconfig.models import Interface, NetworkChange, Route
from tests.conftest import error_fields

pytestmark = pytest.mark.django_db

IFACES = "/api/v1/system/interfaces/"
ROUTES = "/api/v1/system/routes/"
NETWORK = "/api/v1/system/network/"


def post(api, url, body, expect):
    """The answer's body; for a 400, its field errors ({field: [messages]}) read from the one error shape."""
    r = api.post(url, body, format="json")
    assert r.status_code == expect, r.content
    return error_fields(r) if expect == 400 else r.json()


def test_an_interface_with_addresses_a_vlan_and_a_bond(api):
    post(api, IFACES, {"name": "eth0", "addresses": ["192.0.2.10/24", "2001:db8::10/64"], "mtu": 1500}, 201)
    vlan = post(api, IFACES, {"name": "eth1.20", "kind": "vlan", "parent": "eth1", "vlan_id": 20,
                              "addresses": ["198.51.100.1/24"]}, 201)
    assert vlan["vlan_id"] == 20
    bond = post(api, IFACES, {"name": "bond0", "kind": "bond", "bond_mode": "active-backup",
                              "members": ["eth2", "eth3"], "addresses": ["203.0.113.1/24"]}, 201)
    assert bond["members"] == ["eth2", "eth3"]
    post(api, ROUTES, {"destination": "0.0.0.0/0", "gateway": "192.0.2.1"}, 201)
    post(api, ROUTES, {"destination": "198.18.0.0/15", "gateway": "203.0.113.254", "interface": "bond0"}, 201)
    assert Interface.objects.count() == 3


@pytest.mark.parametrize("body, field, words", [
    ({"name": "eth1.5000", "kind": "vlan", "parent": "eth1", "vlan_id": 5000}, "vlan_id", "1 to 4094"),
    ({"name": "eth1.0", "kind": "vlan", "parent": "eth1", "vlan_id": 0}, "vlan_id", "1 to 4094"),
    ({"name": "eth9.2", "kind": "vlan", "parent": "eth9", "vlan_id": 2}, "parent", "no interface 'eth9'"),
    ({"name": "eth7", "addresses": ["192.0.2.20/24"]}, "name", "no interface 'eth7'"),
    ({"name": "eth1", "addresses": ["192.0.2.300/24"]}, "addresses", "192.0.2.300/24"),
    ({"name": "eth1", "addresses": ["192.0.2.20"]}, "addresses", "prefix length"),
    ({"name": "eth1", "addresses": ["192.0.2.0/24"]}, "addresses", "network's own address"),
    ({"name": "bond1", "kind": "bond", "bond_mode": "802.3ad", "members": []}, "members", "at least one"),
    ({"name": "bond1", "kind": "bond", "members": ["eth2"]}, "bond_mode", "bond mode"),
    ({"name": "eth1", "mtu": 1000, "addresses": ["2001:db8:1::1/64"]}, "mtu", "1280"),
])
def test_bad_interfaces_are_refused_naming_the_field(api, body, field, words):
    errors = post(api, IFACES, body, 400)
    assert field in errors, errors
    assert any(words in m for m in errors[field]), errors


def test_overlapping_subnets_are_refused(api):
    post(api, IFACES, {"name": "eth0", "addresses": ["192.0.2.10/24"]}, 201)
    errors = post(api, IFACES, {"name": "eth1", "addresses": ["192.0.2.129/25"]}, 400)
    assert "overlaps 192.0.2.10/24 on eth0" in errors["addresses"][0]


def test_a_bond_member_in_use_is_refused(api):
    post(api, IFACES, {"name": "bond0", "kind": "bond", "bond_mode": "active-backup", "members": ["eth2"]}, 201)
    errors = post(api, IFACES, {"name": "bond1", "kind": "bond", "bond_mode": "802.3ad",
                                "members": ["eth2", "eth3"]}, 400)
    assert errors["members"] == ["eth2 is in use: a member of bond bond0."]
    post(api, IFACES, {"name": "eth1", "addresses": ["198.51.100.1/24"]}, 201)
    errors = post(api, IFACES, {"name": "bond2", "kind": "bond", "bond_mode": "802.3ad", "members": ["eth1"]}, 400)
    assert errors["members"] == ["eth1 is in use: it has addresses of its own."]
    errors = post(api, IFACES, {"name": "eth2.9", "kind": "vlan", "parent": "eth2", "vlan_id": 9}, 400)
    assert "bond member" in errors["parent"][0]


def test_a_gateway_outside_every_subnet_is_refused(api):
    post(api, IFACES, {"name": "eth1", "addresses": ["198.51.100.1/24"]}, 201)
    errors = post(api, ROUTES, {"destination": "0.0.0.0/0", "gateway": "203.0.113.1"}, 400)
    assert "203.0.113.1 is outside every subnet" in errors["gateway"][0]
    post(api, ROUTES, {"destination": "0.0.0.0/0", "gateway": "198.51.100.254"}, 201)  # configured subnet
    post(api, ROUTES, {"destination": "203.0.113.0/24", "gateway": "192.0.2.1"}, 201)  # the host's live eth0
    errors = post(api, ROUTES, {"destination": "::/0", "gateway": "192.0.2.1"}, 400)
    assert "IPv4" in errors["gateway"][0]
    errors = post(api, ROUTES, {"destination": "198.51.100.7/24", "gateway": "192.0.2.1"}, 400)
    assert errors["destination"] == ["Host bits are set: did you mean 198.51.100.0/24?"]
    assert Route.objects.count() == 2


@pytest.mark.parametrize("role", ["operator", "readonly"])
def test_only_admins_change_the_network(client_for, role):
    c = client_for(role)
    assert c.get(IFACES).status_code == 200
    assert c.get(NETWORK).status_code == 200
    assert c.post(IFACES, {"name": "eth1"}, format="json").status_code == 403
    assert c.post(ROUTES, {"destination": "0.0.0.0/0", "gateway": "192.0.2.1"}, format="json").status_code == 403
    assert c.post(NETWORK, {"timeout": 30}, format="json").status_code == 403
    assert Interface.objects.count() == 0 and NetworkChange.objects.count() == 0


def test_a_host_it_does_not_own_is_read_only_with_the_reason(api, settings):
    settings.FULCRUM_MANAGE_NETWORK = "no"
    r = api.post(IFACES, {"name": "eth1"}, format="json")
    assert r.status_code == 409
    assert "FULCRUM_MANAGE_NETWORK=no" in r.json()["detail"]
    body = api.get(NETWORK).json()
    assert body["managed"] is False and "outside Fulcrum" in body["reason"]


def test_moving_the_address_the_admin_uses_needs_the_timer(api, django_capture_on_commit_callbacks):
    post(api, IFACES, {"name": "eth0", "addresses": ["192.0.2.20/24"]}, 201)  # 192.0.2.10 goes away
    r = api.post(NETWORK, {"timeout": 0}, format="json", HTTP_HOST="192.0.2.10")
    assert r.status_code == 409
    assert r.json()["reconnect_to"] == ["192.0.2.20"]
    assert "reconnect to 192.0.2.20" in r.json()["detail"]
    with django_capture_on_commit_callbacks(execute=False) as queued:
        change = post(api, NETWORK, {"timeout": 30}, 202)  # with a rollback timer it may go ahead
    assert change["status"] == "queued" and len(queued) == 1
    r = api.post(NETWORK, {"timeout": 30}, format="json")
    assert r.status_code == 409  # one open change at a time
    r = api.post(f"{NETWORK}changes/{change['id']}/confirm/")
    assert r.status_code == 409 and "queued" in r.json()["detail"]


def test_an_address_that_stays_needs_no_timer(api, django_capture_on_commit_callbacks):
    post(api, IFACES, {"name": "eth0", "addresses": ["192.0.2.10/24", "192.0.2.11/24"]}, 201)
    with django_capture_on_commit_callbacks(execute=False):
        change = post(api, NETWORK, {"timeout": 0}, 202)
    assert change["timeout"] == 0


def test_timeout_is_bounded(api):
    errors = post(api, NETWORK, {"timeout": 99999}, 400)
    assert "timeout" in errors


def test_the_worker_refuses_where_it_does_not_own_the_network(api, settings, django_capture_on_commit_callbacks):
    from netconfig.apply import run_change

    post(api, IFACES, {"name": "eth1", "addresses": ["198.51.100.1/24"]}, 201)
    with django_capture_on_commit_callbacks(execute=False):
        change = post(api, NETWORK, {"timeout": 30}, 202)
    settings.FULCRUM_MANAGE_NETWORK = "no"  # e.g. the worker runs in a container without host networking
    done = run_change(change["id"])
    assert done.status == "failed" and "FULCRUM_MANAGE_NETWORK=no" in done.error


def test_interface_fields_elsewhere_choose_from_the_real_interfaces(api):
    r = api.post("/api/v1/floating-ips/", {"address": "192.0.2.254", "prefixlen": 24, "interface": "eth9"},
                 format="json")
    assert r.status_code == 400 and "There is no interface 'eth9' on this host" in error_fields(r)["interface"][0]
    post(api, IFACES, {"name": "eth1.30", "kind": "vlan", "parent": "eth1", "vlan_id": 30}, 201)
    post(api, "/api/v1/floating-ips/", {"address": "192.0.2.254", "prefixlen": 24, "interface": "eth1.30"}, 201)
    r = api.patch("/api/v1/cluster/", {"autonat_interface": "wan"}, format="json")
    assert r.status_code == 400 and "eth0, eth1, eth1.30, eth2, eth3" in error_fields(r)["autonat_interface"][0]
    assert api.patch("/api/v1/cluster/", {"vip_interface": "eth1.30"}, format="json").status_code == 200
    r = api.post("/api/v1/ha/links/", {"interface": "eth8", "peer_address": "192.0.2.3"}, format="json")
    assert r.status_code in (400, 409), r.content


def test_a_restarted_worker_re_arms_waiting_timers(api, settings, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    from netconfig import tasks

    armed = []
    monkeypatch.setattr(tasks, "schedule_expiry", lambda pk, seconds: armed.append((pk, seconds)))
    now = timezone.now()
    soon = NetworkChange.objects.create(username="alice", status=NetworkChange.AWAITING, timeout=120,
                                        deadline=now + timedelta(seconds=60), desired={})
    late = NetworkChange.objects.create(username="alice", status=NetworkChange.AWAITING, timeout=120,
                                        deadline=now - timedelta(seconds=5), desired={})
    NetworkChange.objects.create(username="alice", status=NetworkChange.CONFIRMED, timeout=120, desired={})
    tasks.resume_rollback_timers()
    assert dict(armed)[late.pk] == 0 and 55 <= dict(armed)[soon.pk] <= 61 and len(armed) == 2


def test_interfaces_routes_and_system_settings_carry_etags_and_refuse_a_stale_if_match(api):
    iface = post(api, IFACES, {"name": "eth0", "addresses": ["192.0.2.10/24"]}, 201)
    route = post(api, ROUTES, {"destination": "0.0.0.0/0", "gateway": "192.0.2.1"}, 201)
    settings_url = "/api/v1/system/settings/"
    for url, change in ((f"{IFACES}{iface['id']}/", {"mtu": 9000}), (f"{ROUTES}{route['id']}/", {"description": "x"}),
                        (settings_url, {"hostname": "lb1"})):
        read = api.get(url)
        assert read["ETag"] == f'"{read.json()["version"]}"', url
        written = api.patch(url, change, format="json", HTTP_IF_MATCH=read["ETag"])
        assert written.status_code == 200 and written.json()["version"] == read.json()["version"] + 1, written.content
        stale = api.patch(url, change, format="json", HTTP_IF_MATCH=read["ETag"])
        assert stale.status_code == 412, (url, stale.content)
    assert api.delete(f"{ROUTES}{route['id']}/", HTTP_IF_MATCH='"1"').status_code == 412
    assert api.delete(f"{ROUTES}{route['id']}/", HTTP_IF_MATCH='"2"').status_code == 204
