"""Session rules (issue 13): the idle timeout covers API use of a session; redirects stay on this site."""

from __future__ import annotations

import pytest
from django.utils import timezone

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def go_idle(client, minutes=31):
    session = client.session
    session["last_seen"] = int(timezone.now().timestamp()) - minutes * 60
    session.save()


def test_an_idle_session_cannot_use_the_api_or_mint_a_token(client, admin):
    client.force_login(admin)
    assert client.get("/api/v1/virtual-services/").status_code == 200
    go_idle(client)
    resp = client.post("/api/v1/tokens/", {"name": "late"}, content_type="application/json")
    assert resp.status_code in (401, 403)
    from accounts.models import ApiToken

    assert not ApiToken.objects.exists()
    assert client.get("/api/v1/virtual-services/").status_code in (401, 403)  # the session ended


def test_api_use_is_activity(client, admin):
    client.force_login(admin)
    go_idle(client, minutes=5)
    assert client.get("/api/v1/virtual-services/").status_code == 200
    assert timezone.now().timestamp() - client.session["last_seen"] < 60


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "http://testserver.evil/",
                                    "javascript:alert(1)", "/\\evil.example"])
def test_server_actions_redirect_only_to_this_site(client, operator, make_service, target):
    svc = make_service(servers=[{"label": "a", "address": "192.0.2.10"}])
    client.force_login(operator)
    resp = client.post(f"/servers/{svc.real_servers.get().pk}/drain/", {"next": target})
    assert resp.status_code == 302 and resp["Location"] == "/"


def test_server_actions_follow_a_local_next(client, operator, make_service):
    svc = make_service(servers=[{"label": "a", "address": "192.0.2.10"}])
    client.force_login(operator)
    resp = client.post(f"/servers/{svc.real_servers.get().pk}/drain/", {"next": f"/services/{svc.pk}/"})
    assert resp["Location"] == f"/services/{svc.pk}/"


def test_login_next_stays_on_this_site(client, admin):
    resp = client.post("/login/?next=https://evil.example/", {"username": "alice", "password": PASSWORD,
                                                             "next": "https://evil.example/"})
    assert resp.status_code == 302 and "evil" not in resp["Location"]
