"""Every change lands in the change log: user, time, object, before/after; the API-token user is the actor."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from audit.models import ChangeRecord

pytestmark = pytest.mark.django_db

V1 = "/api/v1"


def ok(response, status=200):
    assert response.status_code == status, (response.status_code, response.content[:1000])
    return response.json() if response.content else None


def last(object_type=None, action=None):
    query = ChangeRecord.objects.all()
    if object_type:
        query = query.filter(object_type=object_type)
    if action:
        query = query.filter(action=action)
    return query.first()  # ordering is newest first


def assert_fresh(rec, user):
    assert rec is not None
    assert rec.user_id == user.pk and rec.username == user.username
    assert abs(timezone.now() - rec.time) < dt.timedelta(seconds=30)


def test_virtual_service_create_update_delete(api, admin):
    svc = ok(api.post(f"{V1}/virtual-services/", {"label": "web", "vip": "192.0.2.1", "ports": "80",
                                                   "method": "nat"}, format="json"), 201)
    rec = last("virtualservice", "create")
    assert_fresh(rec, admin)
    assert rec.object_id == str(svc["id"]) and rec.object_repr == "web"
    assert rec.before is None and rec.after["label"] == "web" and rec.after["vip"] == "192.0.2.1"

    ok(api.patch(f"{V1}/virtual-services/{svc['id']}/", {"ports": "8080"}, format="json"))
    rec = last("virtualservice", "update")
    assert_fresh(rec, admin)
    assert rec.before["ports"] == "80" and rec.after["ports"] == "8080"
    assert "ports" in rec.summary

    ok(api.delete(f"{V1}/virtual-services/{svc['id']}/"), 204)
    rec = last("virtualservice", "delete")
    assert_fresh(rec, admin)
    assert rec.before["label"] == "web" and rec.after is None


def test_no_record_for_a_save_that_changes_nothing(api, make_service):
    svc = make_service()
    before = ChangeRecord.objects.count()
    svc.refresh_from_db()
    svc.save(update_fields=["label"])
    assert ChangeRecord.objects.count() == before


def test_real_server_create_update_delete(api, admin, make_service):
    svc = make_service()
    rs = ok(api.post(f"{V1}/virtual-services/{svc.pk}/real-servers/", {"label": "a", "address": "10.0.0.1"},
                     format="json"), 201)
    rec = last("realserver", "create")
    assert_fresh(rec, admin)
    assert rec.after["address"] == "10.0.0.1" and rec.object_repr == f"{svc.label}/a"
    ok(api.patch(f"{V1}/real-servers/{rs['id']}/", {"weight": 7}, format="json"))
    rec = last("realserver", "update")
    assert (rec.before["weight"], rec.after["weight"]) == (100, 7)
    ok(api.delete(f"{V1}/real-servers/{rs['id']}/"), 204)
    assert last("realserver", "delete").before["label"] == "a"


def test_floating_ip_and_cluster_settings(api, admin):
    fip = ok(api.post(f"{V1}/floating-ips/", {"address": "10.0.0.254"}, format="json"), 201)
    assert_fresh(last("floatingip", "create"), admin)
    ok(api.patch(f"{V1}/floating-ips/{fip['id']}/", {"prefixlen": 16}, format="json"))
    rec = last("floatingip", "update")
    assert (rec.before["prefixlen"], rec.after["prefixlen"]) == (24, 16)
    ok(api.delete(f"{V1}/floating-ips/{fip['id']}/"), 204)
    assert_fresh(last("floatingip", "delete"), admin)

    ok(api.get(f"{V1}/cluster/"))
    ok(api.patch(f"{V1}/cluster/", {"autonat_interface": "eth1"}, format="json"))
    rec = last("clustersettings", "update")
    assert_fresh(rec, admin)
    assert (rec.before["autonat_interface"], rec.after["autonat_interface"]) == ("", "eth1")
    assert rec.changes == ['autonat_interface "" → eth1']


def test_state_actions_recorded_with_the_operator(client_for, operator, make_service):
    svc = make_service(servers=[{"address": "10.0.0.1"}])
    other = make_service(servers=[{"address": "10.0.0.1"}])
    op = client_for("operator")
    rs = svc.real_servers.get()
    ok(op.post(f"{V1}/real-servers/{rs.pk}/drain/"))
    rec = last("realserver-state", "update")  # runtime state: logged, but not a configuration change
    assert_fresh(rec, operator)
    assert rec.object_id == str(rs.pk)
    assert (rec.before["admin_state"], rec.after["admin_state"]) == ("online", "drain")

    ok(op.post(f"{V1}/real-servers/by-address/halt/", {"address": "10.0.0.1"}, format="json"))
    halts = ChangeRecord.objects.filter(object_type="realserver-state", after__admin_state="halt")
    assert {r.object_id for r in halts} == {str(rs.pk), str(other.real_servers.get().pk)}
    assert {r.username for r in halts} == {"oscar"}


def test_import_recorded_once(api, admin, make_service):
    make_service(servers=[{}])
    bundle = ok(api.get(f"{V1}/config/"))
    high = ChangeRecord.objects.order_by("-id").values_list("id", flat=True).first() or 0
    ok(api.post(f"{V1}/config/", bundle, format="json"))
    new = ChangeRecord.objects.filter(pk__gt=high)
    assert new.count() == 1
    rec = last("config", "action")
    assert_fresh(rec, admin)
    assert rec.after == {"virtual_services": 1, "real_servers": 1, "floating_ips": 0}
    assert "imported" in rec.summary
    assert new.filter(object_type__in=["virtualservice", "realserver"]).count() == 0


def test_token_create_and_revoke_recorded_without_the_key(api, admin):
    created = ok(api.post(f"{V1}/tokens/", {"name": "ci"}, format="json"), 201)
    rec = last("apitoken", "create")
    assert_fresh(rec, admin)
    assert "ci" in rec.summary
    secret = created["key"].split(".", 1)[1]
    assert all(secret not in str(v) for v in ChangeRecord.objects.values_list("before", "after", "summary"))
    ok(api.delete(f"{V1}/tokens/{created['id']}/"), 204)
    rec = last("apitoken", "delete")
    assert_fresh(rec, admin)
    assert "revoked" in rec.summary


def test_user_create_update_delete_recorded(api, admin):
    user = ok(api.post(f"{V1}/users/", {"username": "nina", "password": "a-long-enough-pass", "role": "operator"},
                       format="json"), 201)
    rec = last("user", "create")
    assert_fresh(rec, admin)
    assert rec.after == {"role": "operator", "is_active": True} and rec.object_id == str(user["id"])
    ok(api.patch(f"{V1}/users/{user['id']}/", {"password": "another-long-pass"}, format="json"))
    rec = last("user", "update")
    assert "password" in rec.summary and "another-long-pass" not in str(rec.after) + rec.summary
    ok(api.delete(f"{V1}/users/{user['id']}/"), 204)
    assert_fresh(last("user", "delete"), admin)


@pytest.mark.parametrize("auth", ["token", "session"])
def test_actor_is_the_authenticated_user(client_for, users, auth):
    client = client_for("admin", auth)
    ok(client.post(f"{V1}/virtual-services/", {"label": "x", "vip": "192.0.2.1", "ports": "80"}, format="json"), 201)
    assert_fresh(last("virtualservice", "create"), users["admin"])


def test_token_actor_not_leaked_to_the_next_request(client_for, anon, users, make_service):
    client_for("admin").get(f"{V1}/virtual-services/")
    from audit.context import current_actor

    assert current_actor() == (None, "system")


def test_ui_changes_recorded_with_the_session_user(client, admin, operator, make_service):
    svc = make_service(servers=[{}])
    rs = svc.real_servers.get()
    client.force_login(operator)
    assert client.post(f"/servers/{rs.pk}/halt/").status_code == 302
    assert_fresh(last("realserver-state", "update"), operator)
    client.force_login(admin)
    assert client.post(f"/services/{svc.pk}/delete/").status_code == 302
    assert_fresh(last("virtualservice", "delete"), admin)
    assert_fresh(last("realserver", "delete"), admin)


def test_secrets_never_enter_the_change_log(api, readonly, client_for):
    svc = ok(api.post(f"{V1}/virtual-services/", {"label": "nps", "vip": "192.0.2.1", "ports": "1812",
                                                   "protocol": "udp", "method": "snat", "check_type": "radius",
                                                   "check_secret": "hunter2-radius"}, format="json"), 201)
    ok(api.patch(f"{V1}/virtual-services/{svc['id']}/", {"check_secret": "other-radius-secret"}, format="json"))
    rec = last("virtualservice", "update")
    assert rec is not None and "check_secret" in rec.summary  # the change itself is visible
    changes = client_for("readonly").get(f"{V1}/changes/?page_size=100").content.decode()
    assert "hunter2-radius" not in changes and "other-radius-secret" not in changes
    assert "********" in changes


def test_changes_listing_shows_before_after(api, make_service):
    svc = make_service()
    ok(api.patch(f"{V1}/virtual-services/{svc.pk}/", {"scheduler": "rr"}, format="json"))
    entry = ok(api.get(f"{V1}/changes/?action=update"))["results"][0]
    assert entry["username"] == "alice" and entry["object_type"] == "virtualservice"
    assert entry["before"]["scheduler"] == "wlc" and entry["after"]["scheduler"] == "rr"
    assert entry["time"]


def test_the_api_gives_the_same_before_after_lines_as_the_webui(api, make_service):
    rs = make_service(servers=[{"label": "SSTP2"}]).real_servers.get()
    ok(api.patch(f"{V1}/real-servers/{rs.pk}/", {"weight": 75}, format="json"))
    rec = last("realserver", "update")
    listed = ok(api.get(f"{V1}/changes/"))
    entries = listed["results"] if isinstance(listed, dict) else listed
    entry = next(e for e in entries if e["id"] == rec.pk)
    assert entry["changes"] == rec.changes == ["weight 100 → 75"]
