"""Roles, for every endpoint and method: admin everything; operator online/drain/halt and apply, and reading;
read-only only reading. The UI enforces the same. Anonymous requests to every URL get 302/401/403, never data.

The per-endpoint sweep probes the permission decision itself: once DRF has authenticated the request and
checked its permissions, the view is replaced by a 299 "allowed" answer, so nothing is changed, applied or
sent to a peer while every method of every endpoint is tried by every role (with a token and a session).
"""

from __future__ import annotations

import re

import pytest
from rest_framework import exceptions
from rest_framework.views import APIView

from realservers.models import RealServer
from tests.api.urlwalk import all_endpoints, api_endpoints

pytestmark = pytest.mark.django_db

SAFE = {"GET"}
# Unsafe requests an operator may make: real server states, and applying the configuration.
OPERATOR_UNSAFE = [
    r"^/api/v1/real-servers/1/(online|drain|halt)/$",
    r"^/api/v1/real-servers/by-address/(online|drain|halt)/$",
    r"^/api/v1/apply/$",
    r"^/api/v1/drift/$",
    r"^/api/v1/ha/sync/$",
    r"^/api/v1/cluster/members/(1/)?sync/$",  # "sync now" to one active-active member, or all
    r"^/api/v1/virtual-services/1/checklist/$",  # re-run a service's checklist probes (they change nothing)
]
# Any role manages its own API tokens (a token carries its owner's role, no more).
OWN_TOKENS = r"^/api/v1/tokens/"
# Reading needs the admin role here: user accounts; the configuration bundle (a backup, with its secrets);
# the support archive (the whole appliance, secrets masked).
ADMIN_ONLY_READ = [r"^/api/v1/users/", r"^/api/v1/config/$", r"^/api/v1/system/support-archive/$"]
# Peer-to-peer endpoints authenticate the peer appliance, not a user: no role opens them.
PEER_ONLY = r"^/api/v1/(ha/peer|cluster/members/peer)/"
# Not a configuration change: the OpenAPI schema and docs (logged-in users of every role read them).
NOT_API = r"^/api/(schema|docs)/"


def expected_allowed(role: str, method: str, path: str) -> bool:
    if role == "admin":
        return True
    if re.search(OWN_TOKENS, path):
        return True
    if method in SAFE:
        return not any(re.search(p, path) for p in ADMIN_ONLY_READ)
    return role == "operator" and any(re.search(p, path) for p in OPERATOR_UNSAFE)


class Allowed(exceptions.APIException):
    status_code = 299
    default_detail = "permission granted (probe)"


@pytest.fixture
def probe(monkeypatch):
    original = APIView.initial

    def initial(self, request, *args, **kwargs):
        original(self, request, *args, **kwargs)
        raise Allowed()

    monkeypatch.setattr(APIView, "initial", initial)


API = [e for e in api_endpoints() if not re.search(PEER_ONLY, e.path)]
CASES = [(e.path, m) for e in API for m in e.methods]


def test_the_sweep_sees_the_api():
    paths = {p for p, _ in CASES}
    for needed in ["/api/v1/virtual-services/", "/api/v1/virtual-services/1/",
                   "/api/v1/virtual-services/1/real-servers/", "/api/v1/real-servers/1/drain/",
                   "/api/v1/real-servers/by-address/halt/", "/api/v1/floating-ips/1/", "/api/v1/cluster/",
                   "/api/v1/changes/", "/api/v1/tokens/1/", "/api/v1/users/1/", "/api/v1/config/",
                   "/api/v1/templates/aovpn/"]:
        assert needed in paths, needed
    assert len(CASES) >= 40


@pytest.mark.parametrize("auth", ["token", "session"])
@pytest.mark.parametrize("role", ["admin", "operator", "readonly"])
def test_every_endpoint_and_method_per_role(probe, client_for, role, auth):
    client = client_for(role, auth)
    wrong = []
    for path, method in CASES:
        response = getattr(client, method.lower())(path, {}, format="json")
        allowed = expected_allowed(role, method, path)
        if allowed and response.status_code != 299:
            wrong.append(f"{method} {path}: expected allowed, got {response.status_code}")
        if not allowed and response.status_code != 403:
            wrong.append(f"{method} {path}: expected 403, got {response.status_code}")
    assert not wrong, "\n".join(wrong)


def test_denied_answer_names_the_reason(client_for):
    r = client_for("readonly").post("/api/v1/virtual-services/", {}, format="json")
    assert r.status_code == 403 and "role" in r.json()["detail"].lower()


# ---------------------------------------------------------------- real requests, no probe
def test_operator_really_drains_and_cannot_edit(client_for, make_service):
    svc = make_service(servers=[{"address": "10.0.0.1"}])
    rs = svc.real_servers.get()
    op = client_for("operator")
    assert op.post(f"/api/v1/real-servers/{rs.pk}/drain/").status_code == 200
    assert op.post("/api/v1/real-servers/by-address/halt/", {"address": "10.0.0.1"}, format="json").status_code == 200
    rs.refresh_from_db()
    assert rs.admin_state == "halt"
    assert op.patch(f"/api/v1/real-servers/{rs.pk}/", {"weight": 1}, format="json").status_code == 403
    assert op.patch(f"/api/v1/real-servers/{rs.pk}/", {"admin_state": "online"}, format="json").status_code == 403
    assert op.delete(f"/api/v1/virtual-services/{svc.pk}/").status_code == 403
    assert op.post("/api/v1/config/", {}, format="json").status_code == 403
    rs.refresh_from_db()
    assert rs.weight == 100 and rs.admin_state == "halt"


def test_readonly_reads_but_cannot_change_state(client_for, make_service):
    svc = make_service(servers=[{}])
    rs = svc.real_servers.get()
    ro = client_for("readonly", "session")
    assert ro.get(f"/api/v1/virtual-services/{svc.pk}/").status_code == 200
    assert ro.get("/api/v1/config/").status_code == 403  # a backup carries secrets
    assert ro.post(f"/api/v1/real-servers/{rs.pk}/drain/").status_code == 403
    assert ro.get("/api/v1/users/").status_code == 403
    rs.refresh_from_db()
    assert rs.admin_state == "online"


def test_user_without_profile_is_read_only(make_user, db):
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    bare = get_user_model().objects.create_user("bare", password="x-very-long-password")
    client = APIClient()
    client.force_login(bare)
    assert client.get("/api/v1/virtual-services/").status_code == 200
    assert client.post("/api/v1/virtual-services/", {}, format="json").status_code == 403


def test_session_api_writes_need_csrf(admin):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(admin)
    r = client.post("/api/v1/virtual-services/", {"label": "x", "vip": "192.0.2.1", "ports": "80"}, format="json")
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]


# ---------------------------------------------------------------- UI
def _ui(client_fixture, user):
    client_fixture.force_login(user)
    return client_fixture


def test_ui_operator_state_change_but_no_edit(client, operator, make_service):
    svc = make_service(servers=[{}])
    rs = svc.real_servers.get()
    ui = _ui(client, operator)
    r = ui.post(f"/servers/{rs.pk}/drain/")
    assert r.status_code == 302
    rs.refresh_from_db()
    assert rs.admin_state == "drain"
    for url in ["/services/add/", f"/services/{svc.pk}/edit/", f"/services/{svc.pk}/delete/",
                f"/services/{svc.pk}/servers/add/", f"/servers/{rs.pk}/edit/", f"/servers/{rs.pk}/delete/"]:
        assert ui.get(url).status_code == 403, url
        assert ui.post(url, {"label": "changed"}).status_code == 403, url
    assert RealServer.objects.filter(pk=rs.pk).exists()


def test_ui_readonly_cannot_change_state(client, readonly, make_service):
    svc = make_service(servers=[{}])
    rs = svc.real_servers.get()
    ui = _ui(client, readonly)
    assert ui.get("/").status_code == 200
    for action in ("online", "drain", "halt"):
        assert ui.post(f"/servers/{rs.pk}/{action}/").status_code == 403
    for url in ["/services/add/", f"/services/{svc.pk}/edit/", f"/servers/{rs.pk}/delete/"]:
        assert ui.post(url, {}).status_code == 403, url
    rs.refresh_from_db()
    assert rs.admin_state == "online"


def test_ui_admin_may_edit(client, admin, make_service):
    svc = make_service(servers=[{}])
    ui = _ui(client, admin)
    assert ui.get(f"/services/{svc.pk}/edit/").status_code == 200
    assert ui.post(f"/services/{svc.pk}/delete/").status_code == 302
    assert not RealServer.objects.exists()


# ---------------------------------------------------------------- anonymous: every URL pattern
OPEN = ("/login/", "/static/")
EVERY = all_endpoints()
# The OpenAPI schema and its docs page need a login too (SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"]).
SCHEMA_PAGES = ("/api/schema/", "/api/docs/")
# The HA pairing offer (and an active-active member's joining offer) is authenticated by the one-time
# pairing token inside its body; without one it is refused as a bad offer (400, no data) rather than 403.
# The Prometheus endpoint checks its scrape token for GET only and answers other methods 405 (no data).
NO_DATA = {("POST", "/api/v1/ha/peer/accept/"): {400}, ("POST", "/api/v1/cluster/members/peer/accept/"): {400},
           ("POST", "/metrics"): {405}}


def test_the_walk_sees_every_kind_of_url():
    paths = {e.path for e in EVERY}
    for needed in ["/", "/login/", "/api/v1/", "/api/schema/", "/api/v1/virtual-services/1/",
                   "/api/v1/virtual-services/1/real-servers/", "/servers/1/1/", "/api/v1/virtual-services.json/"]:
        assert needed in paths, needed
    assert len(EVERY) >= 60


@pytest.mark.parametrize("method", ["get", "post"])
def test_anonymous_gets_nothing(client, db, method):
    wrong = []
    for endpoint in EVERY:
        if endpoint.path.startswith(OPEN):
            continue
        response = getattr(client, method)(endpoint.path)
        status = response.status_code
        if status in NO_DATA.get((method.upper(), endpoint.path), ()):
            continue
        if status == 302:
            if not response["Location"].startswith("/login/"):
                wrong.append(f"{method.upper()} {endpoint.path}: redirected to {response['Location']}")
        elif status not in (401, 403):
            wrong.append(f"{method.upper()} {endpoint.path}: {status}")
    assert not wrong, "\n".join(wrong)


def test_anonymous_api_says_how_to_authenticate(anon):
    r = anon.get("/api/v1/virtual-services/")
    assert r.status_code == 401 and r["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path", SCHEMA_PAGES)
def test_anonymous_gets_no_schema(anon, path):
    assert anon.get(path).status_code in (401, 403)
