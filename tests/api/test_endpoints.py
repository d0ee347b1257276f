"""Every REST endpoint: CRUD, actions, tokens, users, bundle, AOVPN template, filters, pagination, bad input."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.utils import timezone

from accounts.models import ApiToken
from audit.models import ChangeRecord
from cluster.models import ClusterSettings, FloatingIP
from realservers.models import RealServer
from tests.conftest import error_fields
from virtualservices.models import VirtualService

pytestmark = pytest.mark.django_db

V1 = "/api/v1"


def ok(response, status=200):
    assert response.status_code == status, (response.status_code, response.content[:2000])
    return response.json() if response.content else None


# ---------------------------------------------------------------- virtual services
def test_virtual_service_crud(api):
    body = {"label": "web", "vip": "192.0.2.10", "ports": "443", "protocol": "tcp", "method": "snat",
            "scheduler": "wrr", "persistent": True, "persistence_timeout": 600, "check_type": "https",
            "check_request": "/health", "alert_email": "noc@example.com", "description": "front door"}
    created = ok(api.post(f"{V1}/virtual-services/", body, format="json"), 201)
    for key, value in body.items():
        assert created[key] == value, key
    assert created["real_servers"] == [] and created["fwmark"] is None and created["enabled"] is True
    pk = created["id"]

    assert ok(api.get(f"{V1}/virtual-services/{pk}/"))["label"] == "web"
    listing = ok(api.get(f"{V1}/virtual-services/"))
    assert listing["count"] == 1 and listing["results"][0]["id"] == pk

    put = {**body, "label": "web2", "ports": "8443", "method": "nat"}
    updated = ok(api.put(f"{V1}/virtual-services/{pk}/", put, format="json"))
    assert updated["label"] == "web2" and updated["ports"] == "8443"
    patched = ok(api.patch(f"{V1}/virtual-services/{pk}/", {"enabled": False}, format="json"))
    assert patched["enabled"] is False and patched["label"] == "web2"

    ok(api.delete(f"{V1}/virtual-services/{pk}/"), 204)
    assert api.get(f"{V1}/virtual-services/{pk}/").status_code == 404
    assert not VirtualService.objects.exists()


def test_virtual_service_defaults(api):
    data = ok(api.post(f"{V1}/virtual-services/", {"label": "x", "vip": "192.0.2.1", "ports": "80"},
                       format="json"), 201)
    assert (data["protocol"], data["method"], data["scheduler"]) == ("tcp", "dr", "wlc")
    assert data["persistence_timeout"] == 300 and data["check_type"] == "tcp"


def test_virtual_service_lists_its_real_servers_inline(api, make_service):
    svc = make_service(servers=[{"label": "a"}, {"label": "b", "address": "10.0.0.2"}])
    data = ok(api.get(f"{V1}/virtual-services/{svc.pk}/"))
    assert [rs["label"] for rs in data["real_servers"]] == ["a", "b"]
    assert set(data["real_servers"][0]) >= {"id", "address", "port", "weight", "admin_state", "health"}


def test_deleting_a_service_deletes_its_real_servers(api, make_service):
    svc = make_service(servers=[{}])
    ok(api.delete(f"{V1}/virtual-services/{svc.pk}/"), 204)
    assert not RealServer.objects.exists()


def test_unknown_ids_are_404(api):
    for url in ["virtual-services/999/", "real-servers/999/", "floating-ips/999/", "changes/999/",
                "tokens/999/", "users/999/", "virtual-services/999/real-servers/"]:
        assert api.get(f"{V1}/{url}").status_code == 404, url
    assert api.post(f"{V1}/real-servers/999/drain/").status_code == 404


# ---------------------------------------------------------------- real servers, flat and nested
def test_real_server_crud_flat(api, make_service):
    svc = make_service(ports="80")
    created = ok(api.post(f"{V1}/real-servers/", {"service": svc.pk, "label": "a", "address": "10.0.0.1",
                                                   "port": 8080, "weight": 5}, format="json"), 201)
    assert created["service"] == svc.pk and created["service_label"] == svc.label
    assert created["health"] == "unknown" and created["admin_state"] == "online"
    pk = created["id"]
    assert ok(api.get(f"{V1}/real-servers/{pk}/"))["weight"] == 5
    assert ok(api.patch(f"{V1}/real-servers/{pk}/", {"weight": 0}, format="json"))["weight"] == 0
    full = {"service": svc.pk, "label": "b", "address": "10.0.0.2", "port": 8081, "weight": 7, "min_conns": 0,
            "max_conns": 10, "admin_state": "online"}
    put = ok(api.put(f"{V1}/real-servers/{pk}/", full, format="json"))
    assert {k: put[k] for k in full} == full
    # Runtime state is not configuration: an edit cannot change it (online/drain/halt do).
    refused = api.put(f"{V1}/real-servers/{pk}/", {**full, "admin_state": "drain"}, format="json")
    assert refused.status_code == 400 and "admin_state" in error_fields(refused)
    assert RealServer.objects.get(pk=pk).admin_state == "online"
    ok(api.delete(f"{V1}/real-servers/{pk}/"), 204)
    assert not RealServer.objects.exists()


def test_real_server_health_is_read_only(api, make_service):
    svc = make_service(servers=[{}])
    rs = svc.real_servers.get()
    ok(api.patch(f"{V1}/real-servers/{rs.pk}/", {"health": "up"}, format="json"))
    rs.refresh_from_db()
    assert rs.health == "unknown"


def test_real_server_nested(api, make_service):
    svc, other = make_service(), make_service(servers=[{"label": "elsewhere"}])
    created = ok(api.post(f"{V1}/virtual-services/{svc.pk}/real-servers/",
                          {"label": "a", "address": "10.0.0.1", "service": other.pk}, format="json"), 201)
    assert created["service"] == svc.pk  # the URL decides, not the body
    listing = ok(api.get(f"{V1}/virtual-services/{svc.pk}/real-servers/"))
    assert [r["label"] for r in listing["results"]] == ["a"]
    flat = ok(api.get(f"{V1}/real-servers/?service={other.pk}"))
    assert [r["label"] for r in flat["results"]] == ["elsewhere"]
    assert api.post(f"{V1}/virtual-services/999/real-servers/", {"label": "a", "address": "10.0.0.1"},
                    format="json").status_code == 404


def test_real_server_needs_a_service(api):
    r = api.post(f"{V1}/real-servers/", {"label": "a", "address": "10.0.0.1"}, format="json")
    assert r.status_code == 400 and "service" in error_fields(r)
    r = api.post(f"{V1}/real-servers/", {"service": 999, "label": "a", "address": "10.0.0.1"}, format="json")
    assert r.status_code == 400 and "service" in error_fields(r)


# ---------------------------------------------------------------- online / drain / halt
@pytest.mark.parametrize("action, state", [("drain", "drain"), ("halt", "halt"), ("online", "online")])
def test_state_action_on_one_server(api, make_service, action, state):
    svc = make_service(servers=[{"admin_state": "drain" if action == "online" else "online"}])
    rs = svc.real_servers.get()
    data = ok(api.post(f"{V1}/real-servers/{rs.pk}/{action}/"))
    assert data["state"] == state and data["matched"] == 1 and [c["id"] for c in data["changed"]] == [rs.pk]
    rs.refresh_from_db()
    assert rs.admin_state == state
    again = ok(api.post(f"{V1}/real-servers/{rs.pk}/{action}/"))
    assert again["changed"] == [] and again["matched"] == 1  # idempotent


def test_state_action_by_address_across_services(api, make_service):
    a = make_service(servers=[{"address": "10.0.0.1", "port": 80}, {"label": "other", "address": "10.0.0.9"}])
    b = make_service(servers=[{"address": "10.0.0.1", "port": 8080}])
    data = ok(api.post(f"{V1}/real-servers/by-address/drain/", {"address": "10.0.0.1"}, format="json"))
    assert data["matched"] == 2 and len(data["changed"]) == 2
    assert set(RealServer.objects.filter(address="10.0.0.1").values_list("admin_state", flat=True)) == {"drain"}
    assert RealServer.objects.get(label="other").admin_state == "online"
    only = ok(api.post(f"{V1}/real-servers/by-address/halt/", {"address": "10.0.0.1", "port": 8080}, format="json"))
    assert only["matched"] == 1 and only["changed"][0]["service"] == b.pk
    assert a.real_servers.get(address="10.0.0.1").admin_state == "drain"
    ok(api.post(f"{V1}/real-servers/by-address/online/", {"address": "10.0.0.1"}, format="json"))
    assert set(RealServer.objects.values_list("admin_state", flat=True)) == {"online"}


def test_state_action_by_address_errors(api, make_service):
    make_service(servers=[{"address": "10.0.0.1"}])
    assert api.post(f"{V1}/real-servers/by-address/drain/", {"address": "10.9.9.9"},
                    format="json").status_code == 404
    r = api.post(f"{V1}/real-servers/by-address/drain/", {"address": "nope"}, format="json")
    assert r.status_code == 400 and "address" in error_fields(r)
    r = api.post(f"{V1}/real-servers/by-address/drain/", {"address": "10.0.0.1", "port": 70000}, format="json")
    assert r.status_code == 400 and "port" in error_fields(r)


# ---------------------------------------------------------------- floating IPs and cluster settings
def test_floating_ip_crud(api):
    created = ok(api.post(f"{V1}/floating-ips/", {"address": "10.0.0.254", "prefixlen": 24, "interface": "eth1",
                                                   "description": "gateway for NAT real servers"},
                          format="json"), 201)
    pk = created["id"]
    assert ok(api.get(f"{V1}/floating-ips/{pk}/"))["interface"] == "eth1"
    assert ok(api.patch(f"{V1}/floating-ips/{pk}/", {"prefixlen": 25}, format="json"))["prefixlen"] == 25
    ok(api.put(f"{V1}/floating-ips/{pk}/", {"address": "10.0.0.253", "prefixlen": 24, "interface": "eth1"},
               format="json"))
    assert ok(api.get(f"{V1}/floating-ips/?interface=eth1"))["count"] == 1
    assert ok(api.get(f"{V1}/floating-ips/?interface=eth0"))["count"] == 0
    ok(api.delete(f"{V1}/floating-ips/{pk}/"), 204)
    assert not FloatingIP.objects.exists()


@pytest.mark.parametrize("body, field", [
    ({"address": "10.0.0.1", "prefixlen": 33}, "prefixlen"),
    ({"address": "2001:db8::1", "prefixlen": 129}, "prefixlen"),
    ({"address": "10.0.0.1", "interface": "this-name-is-too-long"}, "interface"),
    ({"address": "10.0.0.1", "interface": "eth0; reboot"}, "interface"),
    ({"address": "bogus"}, "address"),
])
def test_floating_ip_validation(api, body, field):
    r = api.post(f"{V1}/floating-ips/", body, format="json")
    assert r.status_code == 400 and field in error_fields(r), r.content


def test_floating_ip_unique(api):
    first = ok(api.post(f"{V1}/floating-ips/", {"address": "10.0.0.1"}, format="json"), 201)
    r = api.post(f"{V1}/floating-ips/", {"address": "10.0.0.1"}, format="json")
    assert r.status_code == 409 and "address" in error_fields(r) and r.json()["existing_id"] == first["id"]


def test_cluster_settings_get_put_patch(api):
    data = ok(api.get(f"{V1}/cluster/"))
    assert data["vip_interface"] == "eth0" and data["tcp_timeout"] == 900
    full = {**{k: v for k, v in data.items() if k != "updated_at"}, "autonat_interface": "eth1",
            "tcp_timeout": 3600}
    assert ok(api.put(f"{V1}/cluster/", full, format="json"))["autonat_interface"] == "eth1"
    assert ok(api.patch(f"{V1}/cluster/", {"udp_timeout": 60}, format="json"))["udp_timeout"] == 60
    settings = ClusterSettings.load()
    assert (settings.tcp_timeout, settings.udp_timeout, settings.autonat_interface) == (3600, 60, "eth1")
    assert ClusterSettings.objects.count() == 1
    r = api.patch(f"{V1}/cluster/", {"tcp_timeout": 0, "vip_interface": "bad name"}, format="json")
    assert r.status_code == 400 and {"tcp_timeout", "vip_interface"} <= set(error_fields(r))
    assert api.delete(f"{V1}/cluster/").status_code == 405
    assert api.post(f"{V1}/cluster/", {}, format="json").status_code == 405


def test_put_replaces_what_patch_keeps(api, make_service):
    svc = make_service(description="front door", alert_email="noc@example.com")
    url = f"{V1}/virtual-services/{svc.pk}/"
    # PATCH names what changes: everything else stays
    kept = ok(api.patch(url, {"persistent": True}, format="json"))
    assert (kept["description"], kept["alert_email"], kept["persistent"]) == ("front door", "noc@example.com", True)
    # PUT is the whole object: what it leaves out goes back to its default, as if created with the body
    required = {k: kept[k] for k in ("label", "vip", "ports", "protocol", "method")}
    replaced = ok(api.put(url, {**required, "description": "lb"}, format="json"))
    assert (replaced["description"], replaced["alert_email"], replaced["persistent"]) == ("lb", "", False)
    assert replaced["version"] == kept["version"] + 1


# ---------------------------------------------------------------- change log
def test_changes_read_only_and_filters(api, make_service):
    svc = make_service()
    ok(api.patch(f"{V1}/virtual-services/{svc.pk}/", {"description": "x"}, format="json"))
    everything = ok(api.get(f"{V1}/changes/"))
    assert everything["count"] >= 2
    updates = ok(api.get(f"{V1}/changes/?action=update&object_type=virtualservice"))
    assert updates["count"] == 1 and updates["results"][0]["username"] == "alice"
    assert ok(api.get(f"{V1}/changes/?username=alice"))["count"] >= 1
    assert ok(api.get(f"{V1}/changes/?object_id={svc.pk}&object_type=virtualservice"))["count"] == 2
    assert ok(api.get(f"{V1}/changes/?search=description"))["count"] == 1
    future = (timezone.now() + dt.timedelta(days=1)).isoformat()
    assert ok(api.get(f"{V1}/changes/", {"since": future}))["count"] == 0
    assert ok(api.get(f"{V1}/changes/", {"until": future}))["count"] == everything["count"]
    pk = everything["results"][0]["id"]
    assert ok(api.get(f"{V1}/changes/{pk}/"))["id"] == pk
    for method in ("post", "put", "patch", "delete"):
        url = f"{V1}/changes/" if method == "post" else f"{V1}/changes/{pk}/"
        assert getattr(api, method)(url, {}, format="json").status_code == 405, method
    assert api.get(f"{V1}/changes/?since=yesterday").status_code == 400
    # Offsets PostgreSQL refuses (beyond ±15:59) are taken in UTC; past the year 9999 in UTC is a field error.
    assert ok(api.get(f"{V1}/changes/", {"until": "0815-08-09T04:03:05+20:17"}))["count"] == 0
    assert ok(api.get(f"{V1}/changes/", {"since": "2000-01-01T00:00:00+20:17"}))["count"] == everything["count"]
    r = api.get(f"{V1}/changes/", {"until": "9999-12-31T23:00:00-05:00"})
    assert r.status_code == 400 and "until" in str(error_fields(r)), error_fields(r)
    assert api.get(f"{V1}/changes/?action=explode").status_code == 400


# ---------------------------------------------------------------- API tokens
def test_token_lifecycle(api, admin):
    created = ok(api.post(f"{V1}/tokens/", {"name": "ansible"}, format="json"), 201)
    key = created["key"]
    assert key.startswith("flc_") and created["name"] == "ansible"
    listing = ok(api.get(f"{V1}/tokens/"))
    assert all("key" not in t and "key_hash" not in t for t in listing["results"])
    assert key not in json.dumps(listing)
    detail = ok(api.get(f"{V1}/tokens/{created['id']}/"))
    assert "key" not in detail and key not in json.dumps(detail)

    # Only a hash is stored: the secret part of the key appears nowhere in the row.
    row = ApiToken.objects.get(pk=created["id"])
    secret = key.split(".", 1)[1]
    assert secret not in json.dumps({f.name: str(getattr(row, f.attname)) for f in ApiToken._meta.fields})
    assert len(row.key_hash) == 64

    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert ok(client.get(f"{V1}/virtual-services/"))["count"] == 0
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get(f"{V1}/virtual-services/").status_code == 200
    assert ApiToken.objects.get(pk=created["id"]).last_used_at is not None

    ok(api.delete(f"{V1}/tokens/{created['id']}/"), 204)
    assert ApiToken.objects.get(pk=created["id"]).revoked_at is not None
    r = client.get(f"{V1}/virtual-services/")
    assert r.status_code == 401 and "WWW-Authenticate" in r


def test_expired_token_is_401(admin):
    from rest_framework.test import APIClient

    _, key = ApiToken.issue(admin, "old", expires_at=timezone.now() - dt.timedelta(seconds=1))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.get(f"{V1}/virtual-services/").status_code == 401


def test_token_with_future_expiry_works(api):
    expires = (timezone.now() + dt.timedelta(days=1)).isoformat()
    created = ok(api.post(f"{V1}/tokens/", {"name": "ci", "expires_at": expires}, format="json"), 201)
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {created['key']}")
    assert client.get(f"{V1}/virtual-services/").status_code == 200


@pytest.mark.parametrize("header", ["Bearer flc_nope.nope", "Bearer garbage", "Bearer flc_", "Token x",
                                    "Bearer flc_" + "a" * 5000])
def test_bad_token_is_401(anon, header):
    anon.credentials(HTTP_AUTHORIZATION=header)
    assert anon.get(f"{V1}/virtual-services/").status_code == 401


def test_wrong_secret_for_a_real_key_id_is_401(admin):
    from rest_framework.test import APIClient

    _, key = ApiToken.issue(admin, "x")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key[:-3]}abc")
    assert client.get(f"{V1}/virtual-services/").status_code == 401


def test_token_of_inactive_user_is_401(admin):
    from rest_framework.test import APIClient

    _, key = ApiToken.issue(admin, "x")
    admin.is_active = False
    admin.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.get(f"{V1}/virtual-services/").status_code == 401


def test_tokens_are_per_user(client_for, admin, operator):
    ApiToken.issue(admin, "admins-own")
    op = client_for("operator")  # any role may hold tokens
    created = ok(op.post(f"{V1}/tokens/", {"name": "mine"}, format="json"), 201)
    names = {t["name"] for t in ok(op.get(f"{V1}/tokens/"))["results"]}
    assert "admins-own" not in names and "mine" in names
    other = ApiToken.objects.get(name="admins-own")
    assert op.delete(f"{V1}/tokens/{other.pk}/").status_code == 404
    assert ApiToken.objects.get(pk=other.pk).revoked_at is None
    assert created["id"]


def test_token_name_required(api):
    r = api.post(f"{V1}/tokens/", {}, format="json")
    assert r.status_code == 400 and "name" in error_fields(r)


# ---------------------------------------------------------------- users
def test_users_admin_crud(api):
    created = ok(api.post(f"{V1}/users/", {"username": "nina", "password": "a-long-enough-pass", "role": "operator",
                                           "email": "nina@example.com"}, format="json"), 201)
    assert created["role"] == "operator" and "password" not in created
    pk = created["id"]
    from django.contrib.auth import get_user_model

    assert get_user_model().objects.get(username="nina").check_password("a-long-enough-pass")
    assert ok(api.patch(f"{V1}/users/{pk}/", {"role": "readonly"}, format="json"))["role"] == "readonly"
    assert any(u["username"] == "nina" for u in ok(api.get(f"{V1}/users/?search=nin"))["results"])
    ok(api.delete(f"{V1}/users/{pk}/"), 204)


@pytest.mark.parametrize("body, field", [
    ({"username": "x", "role": "admin"}, "password"),
    ({"username": "x", "role": "admin", "password": "short"}, "password"),
    ({"username": "x", "role": "admin", "password": "password123"}, "password"),
    ({"username": "x", "role": "god", "password": "a-long-enough-pass"}, "role"),
    ({"username": "alice", "role": "admin", "password": "a-long-enough-pass"}, "username"),
])
def test_user_validation(api, body, field):
    r = api.post(f"{V1}/users/", body, format="json")
    assert r.status_code == 400 and field in error_fields(r), r.content


# ---------------------------------------------------------------- config bundle
def test_bundle_get_and_post(api, make_service):
    make_service(label="web", servers=[{"label": "a"}])
    bundle = ok(api.get(f"{V1}/config/"))
    assert bundle["format"] == "fulcrum-config" and bundle["version"] == 1
    assert [s["label"] for s in bundle["virtual_services"]] == ["web"]
    bundle["virtual_services"].append({**bundle["virtual_services"][0], "label": "web2", "vip": "192.0.2.99"})
    result = ok(api.post(f"{V1}/config/", bundle, format="json"))
    assert {k: result[k] for k in ("virtual_services", "real_servers", "floating_ips")} == {
        "virtual_services": 2, "real_servers": 2, "floating_ips": 0}
    assert result["counts"]["virtual_services"] == {"created": 1, "updated": 0, "deleted": 0}
    assert sorted(VirtualService.objects.values_list("label", flat=True)) == ["web", "web2"]


def test_bundle_dry_run_previews_without_saving(api, make_service):
    make_service(label="web", ports="80")
    make_service(label="gone")
    bundle = ok(api.get(f"{V1}/config/"))
    bundle["virtual_services"] = [s for s in bundle["virtual_services"] if s["label"] != "gone"]
    bundle["virtual_services"][0]["ports"] = "8080"
    bundle["virtual_services"].append({**bundle["virtual_services"][0], "label": "new", "vip": "192.0.2.99"})
    before = ChangeRecord.objects.count()
    preview = ok(api.post(f"{V1}/config/?dry_run=1", bundle, format="json"))
    assert {k: preview[k] for k in ("added", "removed", "changed")} == {
        "added": ["new"], "removed": ["gone"],
        "changed": [{"label": "web", "fields": ["ports"], "changes": ["ports 80 → 8080"]}]}
    assert sorted(VirtualService.objects.values_list("label", flat=True)) == ["gone", "web"]
    assert ChangeRecord.objects.count() == before
    r = api.post(f"{V1}/config/?dry_run=1", {**bundle, "version": 99}, format="json")
    assert r.status_code == 400 and "version" in error_fields(r)


def test_bundle_bad_object_in_the_middle_saves_nothing(api, make_service):
    make_service(label="keep", servers=[{}])
    bundle = ok(api.get(f"{V1}/config/"))
    good = {k: v for k, v in bundle["virtual_services"][0].items()}
    bundle["virtual_services"] = [
        {**good, "label": "a", "vip": "192.0.2.50"},
        {**good, "label": "b", "vip": "192.0.2.51", "ports": "99999"},
        {**good, "label": "c", "vip": "192.0.2.52"},
    ]
    r = api.post(f"{V1}/config/", bundle, format="json")
    assert r.status_code == 400, r.content
    assert "virtual_services[1].ports" in error_fields(r)
    assert list(VirtualService.objects.values_list("label", flat=True)) == ["keep"]
    assert RealServer.objects.count() == 1


def test_bundle_unknown_fields_400_naming_path(api, make_service):
    make_service(label="keep", servers=[{}])
    bundle = ok(api.get(f"{V1}/config/"))
    bundle["virtual_services"][0]["real_servers"][0]["colour"] = "blue"
    r = api.post(f"{V1}/config/", bundle, format="json")
    assert r.status_code == 400
    assert "colour" in str(error_fields(r)["virtual_services[0].real_servers[0]"])


# ---------------------------------------------------------------- AOVPN template
def test_aovpn_template(api):
    body = {"vip": "192.0.2.10", "vpn_servers": ["10.0.0.11", "10.0.0.12"], "ikev2_method": "nat",
            "nps_servers": ["10.0.1.21", "10.0.1.22"], "radius_secret": "s3cret"}
    data = ok(api.post(f"{V1}/templates/aovpn/", body, format="json"), 201)
    by_label = {s["label"]: s for s in data["services"]}
    assert set(by_label) == {"AOVPN-SSTP", "AOVPN-IKEv2", "AOVPN-NPS"}
    sstp, ike, nps = by_label["AOVPN-SSTP"], by_label["AOVPN-IKEv2"], by_label["AOVPN-NPS"]
    assert (sstp["ports"], sstp["protocol"], sstp["method"], sstp["check_type"]) == ("443", "tcp", "snat", "sstp")
    assert (ike["ports"], ike["protocol"], ike["method"], ike["check_type"]) == ("500,4500", "udp", "nat", "ikev2")
    assert ike["persistent"] is True and ike["persistence_timeout"] >= 300 and ike["fwmark"]
    assert (nps["ports"], nps["protocol"], nps["method"], nps["check_type"]) == ("1812,1813", "udp", "snat",
                                                                                 "radius")
    assert nps["check_secret_set"] is True and nps["fwmark"] and nps["fwmark"] != ike["fwmark"]
    assert [rs["address"] for rs in sstp["real_servers"]] == ["10.0.0.11", "10.0.0.12"]
    assert [rs["address"] for rs in nps["real_servers"]] == ["10.0.1.21", "10.0.1.22"]
    assert all(not s["warnings"].get("method") for s in data["services"])


def test_aovpn_template_without_nps(api):
    data = ok(api.post(f"{V1}/templates/aovpn/", {"vip": "192.0.2.10", "vpn_servers": ["10.0.0.11"]},
                       format="json"), 201)
    assert sorted(s["label"] for s in data["services"]) == ["AOVPN-IKEv2", "AOVPN-SSTP"]
    assert {s["label"]: s["method"] for s in data["services"]}["AOVPN-IKEv2"] == "dr"


def test_aovpn_ikev2_on_snat_refused(api):
    r = api.post(f"{V1}/templates/aovpn/", {"vip": "192.0.2.10", "vpn_servers": ["10.0.0.11"],
                                            "ikev2_method": "snat"}, format="json")
    assert r.status_code == 400 and "ikev2_method" in error_fields(r)
    assert not VirtualService.objects.exists()


def test_aovpn_all_or_nothing(api, make_service):
    make_service(label="taken", vip="192.0.2.10", ports="1812-1813", protocol="udp")
    r = api.post(f"{V1}/templates/aovpn/", {"vip": "192.0.2.10", "vpn_servers": ["10.0.0.11"],
                                            "nps_servers": ["10.0.1.1"], "radius_secret": "x",
                                            "ikev2_method": "nat"}, format="json")
    assert r.status_code == 400, r.content
    assert "ports" in error_fields(r)
    assert list(VirtualService.objects.values_list("label", flat=True)) == ["taken"]


def test_aovpn_errors(api):
    r = api.post(f"{V1}/templates/aovpn/", {"vip": "192.0.2.10", "vpn_servers": []}, format="json")
    assert r.status_code == 400 and "vpn_servers" in error_fields(r)
    r = api.post(f"{V1}/templates/aovpn/", {"vip": "192.0.2.10", "vpn_servers": ["2001:db8::1"]}, format="json")
    assert r.status_code == 400, r.content
    r = api.post(f"{V1}/templates/aovpn/", {"vip": "192.0.2.10", "vpn_servers": ["10.0.0.1"],
                                            "nps_vip": "192.0.2.11", "nps_servers": ["10.0.1.1"]}, format="json")
    assert r.status_code == 400 and "radius_secret" in error_fields(r), r.content
    r = api.post(f"{V1}/templates/aovpn/", {"vip": "192.0.2.10", "vpn_servers": ["10.0.0.1"],
                                            "nps_servers": ["10.0.1.1"], "radius_secret": "x"}, format="json")
    assert r.status_code == 400 and "separate internal VIP" in error_fields(r)["nps_vip"][0], r.content
    assert not VirtualService.objects.exists()


# ---------------------------------------------------------------- filtering and pagination
@pytest.fixture
def many_services(db):
    VirtualService.objects.bulk_create([
        VirtualService(label=f"svc-{i:03d}", vip=f"192.0.2.{i % 200 + 1}", ports=str(1000 + i),
                       protocol="udp" if i % 3 == 0 else "tcp", method="nat" if i % 2 else "dr",
                       enabled=i % 5 != 0)
        for i in range(120)])


def test_pagination(api, many_services):
    first = ok(api.get(f"{V1}/virtual-services/"))
    assert first["count"] == 120 and len(first["results"]) == 50 and first["previous"] is None
    assert "page=2" in first["next"]
    third = ok(api.get(f"{V1}/virtual-services/?page=3"))
    assert len(third["results"]) == 20 and third["next"] is None
    small = ok(api.get(f"{V1}/virtual-services/?page_size=7"))
    assert len(small["results"]) == 7
    capped = ok(api.get(f"{V1}/virtual-services/?page_size=100000"))
    assert len(capped["results"]) == 120
    assert api.get(f"{V1}/virtual-services/?page=99").status_code == 404
    assert api.get(f"{V1}/virtual-services/?page=abc").status_code == 404
    assert ok(api.get(f"{V1}/virtual-services/?page_size=abc"))["count"] == 120


def test_filters_and_search(api, many_services):
    assert ok(api.get(f"{V1}/virtual-services/?protocol=udp"))["count"] == 40
    assert ok(api.get(f"{V1}/virtual-services/?method=dr"))["count"] == 60
    assert ok(api.get(f"{V1}/virtual-services/?enabled=false"))["count"] == 24
    assert ok(api.get(f"{V1}/virtual-services/?label__ic=SVC-01"))["count"] == 10
    assert ok(api.get(f"{V1}/virtual-services/?label=svc-01"))["count"] == 0  # exact: no such label
    assert [s["label"] for s in ok(api.get(f"{V1}/virtual-services/?label=svc-011"))["results"]] == ["svc-011"]
    assert ok(api.get(f"{V1}/virtual-services/?label__n=svc-011"))["count"] == 119
    assert ok(api.get(f"{V1}/virtual-services/?label__isw=svc-11"))["count"] == 10
    assert ok(api.get(f"{V1}/virtual-services/?search=svc-11"))["count"] == 10
    assert ok(api.get(f"{V1}/virtual-services/?vip=192.0.2.1"))["count"] == 1
    assert ok(api.get(f"{V1}/virtual-services/?protocol=udp&method=dr"))["count"] == 20
    ordered = ok(api.get(f"{V1}/virtual-services/?ordering=-label&page_size=2"))["results"]
    assert [s["label"] for s in ordered] == ["svc-119", "svc-118"]
    assert api.get(f"{V1}/virtual-services/?protocol=nope").status_code == 400


def test_real_server_filters(api, make_service):
    make_service(servers=[{"label": "web1", "address": "10.0.0.1", "admin_state": "drain"},
                          {"label": "web2", "address": "10.0.0.2"}])
    assert ok(api.get(f"{V1}/real-servers/?admin_state=drain"))["count"] == 1
    assert ok(api.get(f"{V1}/real-servers/?address=10.0.0.2"))["results"][0]["label"] == "web2"
    assert ok(api.get(f"{V1}/real-servers/?search=web"))["count"] == 2
    assert ok(api.get(f"{V1}/real-servers/?health=unknown"))["count"] == 2


# ---------------------------------------------------------------- bad input is never a 500
@pytest.mark.parametrize("url", ["virtual-services/", "real-servers/", "floating-ips/", "tokens/", "users/",
                                 "config/", "templates/aovpn/", "real-servers/by-address/drain/"])
def test_malformed_json_is_400(api, url):
    r = api.post(f"{V1}/{url}", b'{"label": "x",', content_type="application/json")
    assert r.status_code == 400, (url, r.status_code)
    r = api.post(f"{V1}/{url}", b"[1, 2, 3]", content_type="application/json")
    assert r.status_code == 400, (url, r.status_code, r.content)
    r = api.post(f"{V1}/{url}", b'"just a string"', content_type="application/json")
    assert r.status_code == 400, (url, r.status_code, r.content)
    r = api.post(f"{V1}/{url}", b'{"x": NaN}', content_type="application/json")
    assert r.status_code == 400, (url, r.status_code, r.content)


@pytest.mark.parametrize("field, value", [
    ("ports", 80), ("ports", ["80"]), ("ports", {"a": 1}), ("ports", "9" * 300), ("vip", 12), ("vip", None),
    ("fwmark", 10**30), ("fwmark", "abc"), ("fwmark", 1.5), ("persistence_timeout", -1),
    ("persistence_timeout", 10**40), ("check_interval", "nan"), ("check_interval", "1e400"),
    ("check_interval", 10**400), ("check_port", True), ("enabled", "maybe"), ("label", "x" * 1000),
    ("label", ""), ("label", "bad/label"), ("scheduler", "magic"), ("persistence_netmask", "x" * 100),
    ("alert_email", "not-an-email"), ("check_request", "x" * 600), ("fallback_port", 10**20),
])
def test_wrong_types_and_huge_numbers_are_400(api, field, value):
    body = {"label": "web", "vip": "192.0.2.10", "ports": "80", "protocol": "tcp", "method": "nat", field: value}
    r = api.post(f"{V1}/virtual-services/", body, format="json")
    assert r.status_code in (201, 400), (r.status_code, r.content)
    if r.status_code == 400:
        assert field in error_fields(r), r.content


@pytest.mark.parametrize("body", [
    {"weight": 10**30}, {"weight": "heavy"}, {"port": -5}, {"min_conns": "x", "max_conns": 5},
    {"address": ["10.0.0.1"]}, {"admin_state": "sleep"}, {"max_conns": 2**63},
])
def test_real_server_bad_values_400(api, make_service, body):
    svc = make_service()
    r = api.post(f"{V1}/virtual-services/{svc.pk}/real-servers/", {"label": "a", "address": "10.0.0.1", **body},
                 format="json")
    assert r.status_code == 400, (r.status_code, r.content)


@pytest.mark.parametrize("query", [
    "fwmark=99999999999999999999999999", "fwmark=abc", "fwmark=-1", "vip=not-an-ip", "enabled=perhaps",
    "ordering=nonexistent", "ordering=check_secret", "page_size=-1", "page_size=0", "search=%00",
    "label=%00", "id=999999999999999999999999",
])
def test_odd_query_strings_never_500(api, many_services, query):
    r = api.get(f"{V1}/virtual-services/?{query}")
    assert r.status_code in (200, 400, 404), (query, r.status_code, r.content[:500])


@pytest.mark.parametrize("query", ["service=99999999999999999999999", "port=99999999999999999999999",
                                   "address=x", "service=abc"])
def test_odd_real_server_queries_never_500(api, query):
    r = api.get(f"{V1}/real-servers/?{query}")
    assert r.status_code in (200, 400), (query, r.status_code, r.content[:500])


def test_huge_ids_in_paths_are_404(api):
    big = "9" * 30
    for url in [f"virtual-services/{big}/", f"real-servers/{big}/", f"floating-ips/{big}/", f"changes/{big}/",
                f"tokens/{big}/", f"users/{big}/", f"virtual-services/{big}/real-servers/"]:
        assert api.get(f"{V1}/{url}").status_code == 404, url
    assert api.post(f"{V1}/real-servers/{big}/drain/").status_code == 404
    assert api.delete(f"{V1}/virtual-services/{big}/").status_code == 404


@pytest.mark.parametrize("mutate, path", [
    (lambda b: b["virtual_services"][0].update(colour="red"), "virtual_services[0]"),
    (lambda b: b["virtual_services"][0].update(fwmark="abc"), "virtual_services[0].fwmark"),
    (lambda b: b["virtual_services"][0]["real_servers"][0].update(min_conns="x", max_conns=5),
     "virtual_services[0].real_servers[0].min_conns"),
    (lambda b: b["virtual_services"][0]["real_servers"][0].update(weight=10**30),
     "virtual_services[0].real_servers[0].weight"),
    (lambda b: b["virtual_services"][0].update(real_servers="nope"), "virtual_services[0].real_servers"),
    (lambda b: b["virtual_services"][0]["real_servers"].append("nope"), "virtual_services[0].real_servers[1]"),
    (lambda b: b["virtual_services"].append(7), "virtual_services[2]"),
    (lambda b: (b["virtual_services"][0].update(fwmark=None), b["virtual_services"][1].update(fwmark="abc")),
     "virtual_services[1].fwmark"),
    (lambda b: b["floating_ips"].append({"address": "10.0.0.1", "prefixlen": 40}), "floating_ips[0].prefixlen"),
    (lambda b: b.update(cluster={"tcp_timeout": "long"}), "cluster.tcp_timeout"),
    (lambda b: b.update(cluster=[]), "cluster"),
    (lambda b: b.update(virtual_services={}), "virtual_services"),
    (lambda b: b.update(format="other"), "format"),
    (lambda b: b.pop("version"), "version"),
    (lambda b: b["virtual_services"][0].update(persistence_netmask=24), None),
    (lambda b: b["virtual_services"][0].update(vip=None), "virtual_services[0].vip"),
    (lambda b: b["virtual_services"][0].update(ports=None), "virtual_services[0].ports"),
])
def test_bad_bundles_are_400_naming_the_path(api, make_service, mutate, path):
    make_service(label="keep", ports="500,4500", protocol="udp", servers=[{}])
    make_service(label="keep2", ports="8000-8001")
    bundle = ok(api.get(f"{V1}/config/"))
    mutate(bundle)
    before = json.dumps({k: v for k, v in ok(api.get(f"{V1}/config/")).items() if k != "exported_at"})
    r = api.post(f"{V1}/config/", bundle, format="json")
    if path is None:  # a harmless variant that must be accepted
        assert r.status_code == 200, r.content
        return
    assert r.status_code == 400, (r.status_code, r.content[:1000])
    assert path in error_fields(r), error_fields(r)
    after = json.dumps({k: v for k, v in ok(api.get(f"{V1}/config/")).items() if k != "exported_at"})
    assert after == before


def test_token_expiry_with_an_offset_postgresql_refuses_is_stored_in_utc(api):
    created = ok(api.post(f"{V1}/tokens/", {"name": "odd-offset", "expires_at": "2030-01-01T00:00:00+20:17"},
                          format="json"), 201)
    assert ApiToken.objects.get(pk=created["id"]).expires_at == dt.datetime(2029, 12, 31, 3, 43, tzinfo=dt.UTC)
