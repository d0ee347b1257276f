"""The accounts service (issue 16) and token scopes (issues 18, 15): one set of rules for API and WebUI."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import service
from accounts.models import ApiToken
from accounts.roles import SCOPES
from tests.conftest import PASSWORD, error_fields

pytestmark = pytest.mark.django_db
V1 = "/api/v1"


def token_client(key):
    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return c


# ------------------------------------------------------------------ self-lockout, API and WebUI


@pytest.mark.parametrize("change", [{"role": "operator"}, {"role": "readonly"}, {"is_active": False}])
def test_api_admin_cannot_demote_or_deactivate_themselves(api, admin, make_user, change):
    make_user("bob", "admin")  # not the last admin: the self rule alone refuses
    resp = api.patch(f"{V1}/users/{admin.pk}/", change, format="json")
    assert resp.status_code == 400 and "yourself" in str(resp.json())
    admin.refresh_from_db()
    assert admin.is_active and admin.profile.role == "admin"


def test_api_admin_cannot_delete_themselves(api, admin):
    resp = api.delete(f"{V1}/users/{admin.pk}/")
    assert resp.status_code == 400 and "yourself" in str(resp.json())
    admin.refresh_from_db()


def test_the_last_admin_stays(admin, make_user):
    from django.contrib.auth import get_user_model

    # a superuser without the profile role counts as an admin; demote the other admin, then the last one
    bob = make_user("bob", "admin")
    service.update_user(admin, bob, role="operator")
    lone = make_user("carol", "admin")
    service.update_user(None, admin, is_active=False)  # a CLI actor: carol stays admin
    with pytest.raises(service.AccountRuleError, match="last active admin"):
        service.update_user(None, lone, role="readonly")
    with pytest.raises(service.AccountRuleError, match="last active admin"):
        service.delete_user(None, lone)
    assert get_user_model().objects.get(username="carol").profile.role == "admin"


def test_webui_uses_the_same_rules(client, admin, make_user):
    client.force_login(admin)
    resp = client.post(f"/maintenance/users/{admin.pk}/edit/", {"email": "", "role": "operator",
                                                                 "is_active": "on"})
    assert resp.status_code == 200 and "yourself" in str(resp.context["form"].errors)
    assert client.post(f"/maintenance/users/{admin.pk}/delete/").status_code == 403
    bob = make_user("bob", "operator")
    assert client.post(f"/maintenance/users/{bob.pk}/edit/", {"email": "", "role": "readonly"}).status_code == 302
    bob.refresh_from_db()
    assert bob.profile.role == "readonly" and not bob.is_active


# ------------------------------------------------------------------ tokens


def test_token_scopes_matrix(users):
    """Each scope allows exactly its part, and never beyond the owner's role."""
    from realservers.models import RealServer
    from virtualservices.models import VirtualService

    svc = VirtualService.objects.create(label="web", vip="192.0.2.80", ports="80")
    rs = RealServer.objects.create(service=svc, label="a", address="192.0.2.10")
    probes = {
        "read": lambda c: c.get(f"{V1}/virtual-services/"),
        "operate": lambda c: c.post(f"{V1}/real-servers/{rs.pk}/drain/"),
        "configure": lambda c: c.patch(f"{V1}/virtual-services/{svc.pk}/", {"label": "web2"}, format="json"),
    }
    from accounts.roles import scopes_of

    for role, user in users.items():
        for granted in scopes_of(user) - {"apply"}:
            _, key = service.issue_token(user, name=f"{role}-{granted}", scopes=[granted])
            c = token_client(key)
            for probe, call in probes.items():
                code = call(c).status_code
                allowed = probe == granted
                assert (code < 400) == allowed, (role, granted, probe, code)


def test_scopes_capped_by_owner_and_creator(admin, readonly, operator):
    with pytest.raises(service.AccountRuleError, match="configure"):
        service.issue_token(operator, name="x", scopes=["configure"])
    token, _ = service.issue_token(readonly, name="x")
    assert token.scopes == ["read"]
    # an admin may make a token for another user, capped by that user's role
    with pytest.raises(service.AccountRuleError, match="configure"):
        service.issue_token(admin, name="x", owner=operator, scopes=["read", "configure"])
    # a non-admin may not make tokens for others
    with pytest.raises(service.AccountRuleError):
        service.issue_token(operator, name="x", owner=readonly)
    # a demoted owner's token loses what the new role lacks, at once
    token, key = service.issue_token(admin, name="full")
    assert set(token.scopes) == set(SCOPES)
    admin.profile.role = "readonly"
    admin.profile.save()
    c = token_client(key)
    assert c.get(f"{V1}/virtual-services/").status_code == 200
    assert c.post(f"{V1}/virtual-services/", {"label": "x", "vip": "192.0.2.1", "ports": "80"},
                  format="json").status_code == 403


def test_token_api_scopes_expiry_admin_listing_and_service_accounts(api, admin, operator):
    past = (timezone.now() - dt.timedelta(minutes=1)).isoformat()
    resp = api.post(f"{V1}/tokens/", {"name": "old", "expires_at": past}, format="json")
    assert resp.status_code == 400 and "expires_at" in error_fields(resp)
    # a service account: no password, cannot log in, holds a read-only monitoring token
    bot = api.post(f"{V1}/users/", {"username": "monitor", "role": "readonly", "service_account": True},
                   format="json")
    assert bot.status_code == 201 and bot.json()["service_account"] is True
    from django.contrib.auth import get_user_model
    from django.test import Client

    assert not get_user_model().objects.get(username="monitor").has_usable_password()
    assert Client().post("/login/", {"username": "monitor", "password": ""}).status_code == 200  # no session
    made = api.post(f"{V1}/tokens/", {"name": "prometheus", "user": bot.json()["id"], "scopes": ["read"]},
                    format="json")
    assert made.status_code == 201, made.json()
    assert made.status_code == 201 and made.json()["scopes"] == ["read"] and made.json()["username"] == "monitor"
    assert token_client(made.json()["key"]).get(f"{V1}/virtual-services/").status_code == 200
    # the admin lists and revokes every user's tokens; an operator sees only their own and cannot make others'
    op_token, _ = service.issue_token(operator, name="op")
    listed = {t["name"] for t in api.get(f"{V1}/tokens/").json()["results"]}
    assert {"prometheus", "op"} <= listed
    assert api.delete(f"{V1}/tokens/{op_token.pk}/").status_code == 204
    assert ApiToken.objects.get(pk=op_token.pk).revoked_at is not None
    op = APIClient()
    op.force_login(operator)
    assert {t["name"] for t in op.get(f"{V1}/tokens/").json()["results"]} == {"op"}
    assert op.post(f"{V1}/tokens/", {"name": "x", "user": admin.pk}, format="json").status_code == 400
    assert op.post(f"{V1}/tokens/", {"name": "x", "scopes": ["configure"]}, format="json").status_code == 400


def test_webui_token_page_scopes_expiry_copy(client, admin, readonly):
    client.force_login(readonly)
    page = client.get("/maintenance/tokens/").content.decode()
    assert 'value="read"' in page and 'value="configure"' not in page
    resp = client.post("/maintenance/tokens/", {"name": "mon", "scopes": ["read"]})
    assert resp.status_code == 200 and 'data-copy="new-key"' in resp.content.decode()
    assert ApiToken.objects.get(name="mon").scopes == ["read"]
    past = (timezone.now() - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    resp = client.post("/maintenance/tokens/", {"name": "old", "expires_at": past})
    assert "expires_at" in resp.context["form"].errors and not ApiToken.objects.filter(name="old").exists()
    client.force_login(admin)
    assert "mon" in client.get("/maintenance/tokens/").content.decode()  # the admin sees everyone's


def test_a_password_login_still_works_for_ordinary_users(client, admin):
    assert client.post("/login/", {"username": "alice", "password": PASSWORD}).status_code == 302


def test_webui_makes_service_accounts(client, admin):
    from django.contrib.auth import get_user_model

    client.force_login(admin)
    base = {"username": "bot", "email": "", "role": "readonly", "is_active": "on"}
    resp = client.post("/maintenance/users/add/", base)
    assert "needs a password" in str(resp.context["form"].errors["password"])
    resp = client.post("/maintenance/users/add/", {**base, "service_account": "on", "password": "x" * 12})
    assert "has no password" in str(resp.context["form"].errors["password"])
    assert client.post("/maintenance/users/add/", {**base, "service_account": "on"}).status_code == 302
    assert not get_user_model().objects.get(username="bot").has_usable_password()
