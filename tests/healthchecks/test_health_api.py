"""GET /api/v1/real-servers/{id}/health."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from appliance import redis_client
from healthchecks.models import HealthEvent

STATUS_KEY = redis_client.key(redis_client.HEALTH)
HEARTBEAT_KEY = redis_client.key(redis_client.HEALTHCHECKD)


@pytest.fixture
def redis_db(own_redis_keys):
    return own_redis_keys


def test_health_from_the_database_when_no_daemon_runs(api, make_service, redis_db):
    svc = make_service([{}])
    rs = svc.real_servers.get()
    r = api.get(f"/api/v1/real-servers/{rs.pk}/health")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["state"] == "unknown" and body["live"] is False and body["reason"] == "not checked yet"
    assert body["check_type"] == "tcp" and body["events"] == [] and body["last_result"] is None

    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    type(rs).objects.filter(pk=rs.pk).update(health="down", health_since=at)
    HealthEvent.objects.create(real_server=rs, at=at, old_state="up", new_state="down", check_type="tcp",
                               reason="connect timeout after 1.0 s", action="10.0.0.1:80 weight 0")
    body = api.get(f"/api/v1/real-servers/{rs.pk}/health").json()
    assert body["state"] == "down" and body["since"].startswith("2026-01-02T03:04:05")
    assert body["reason"] == "connect timeout after 1.0 s"
    assert body["events"][0]["action"] == "10.0.0.1:80 weight 0"


def test_live_status_from_healthcheckd(api, make_service, redis_db):
    rs = make_service([{}]).real_servers.get()
    now = time.time()
    redis_db.hset(STATUS_KEY, str(rs.pk), json.dumps({
        "state": "down", "since": now - 5, "check_type": "tcp", "ok": False,
        "reason": "connect timeout after 1.0 s", "latency_ms": 1000.4, "checked_at": now, "checks": 9,
        "interval": 1.0}))
    redis_db.set(HEARTBEAT_KEY, json.dumps({"pid": 1, "at": now}), ex=10)
    body = api.get(f"/api/v1/real-servers/{rs.pk}/health").json()
    assert body["live"] is True and body["state"] == "down"
    assert body["reason"] == "connect timeout after 1.0 s"
    assert body["last_result"]["ok"] is False and body["last_result"]["latency_ms"] == 1000.4
    # A stale status (no daemon heartbeat) is not shown as live.
    redis_db.delete(HEARTBEAT_KEY)
    assert api.get(f"/api/v1/real-servers/{rs.pk}/health").json()["live"] is False


def test_health_needs_a_login_and_a_real_server(anon, api, make_service, redis_db):
    rs = make_service([{}]).real_servers.get()
    assert anon.get(f"/api/v1/real-servers/{rs.pk}/health").status_code in (401, 403)
    assert api.get("/api/v1/real-servers/999999/health").status_code == 404


def test_health_works_without_redis(api, make_service, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    rs = make_service([{}]).real_servers.get()
    started = time.monotonic()
    body = api.get(f"/api/v1/real-servers/{rs.pk}/health").json()
    assert body["live"] is False and body["state"] == "unknown"
    assert time.monotonic() - started < 2


def test_pages_show_why_a_server_is_down_and_since_when(client, admin, make_service, redis_db):
    """The overview (first render and the 2-second refresh) and the Real Servers list show healthcheckd's
    reason next to the state, from the same live status as the API; nothing without a running daemon."""
    svc = make_service([{"label": "a", "address": "10.0.0.1"}, {"label": "b", "address": "10.0.0.2"},
                        {"label": "c", "address": "10.0.0.3"}])
    a, b, c = svc.real_servers.order_by("label")
    a.health, b.health = "down", "down"
    a.save(), b.save()
    now = time.time()

    def live(rs, state, ok, reason, since):
        redis_db.hset(STATUS_KEY, str(rs.pk), json.dumps({
            "state": state, "since": since, "check_type": "tcp", "ok": ok, "reason": reason, "latency_ms": 1.0,
            "checked_at": now, "checks": 3, "interval": 1.0}))

    live(a, "down", False, "connect timeout after 1.0 s", now - 5)
    live(b, "down", True, "connected in 0.4 ms", now - 60)  # rising: not back until `rise` passes
    live(c, "up", False, "connection refused", now - 600)  # failing, not yet `fall` times
    client.force_login(admin)
    assert "connect timeout" not in client.get("/").content.decode()  # no heartbeat: no daemon, no notes
    redis_db.set(HEARTBEAT_KEY, json.dumps({"pid": 1, "at": now}), ex=10)

    page = client.get("/").content.decode()
    assert '<span class="why">connect timeout after 1.0 s · since ' in page
    assert '<span class="why">connected in 0.4 ms (rising) · since ' in page
    assert '<span class="why">last check failed: connection refused</span>' in page
    refresh = client.get("/overview/live/").content.decode()  # the 2-second refresh says the same
    assert '<span class="why">connect timeout after 1.0 s · since ' in refresh
    assert '<span class="why">last check failed: connection refused</span>' in refresh
    servers = client.get("/servers/").content.decode()
    assert "connect timeout after 1.0 s · since" in servers and "(rising)" in servers

    a.admin_state = "halt"  # administratively out: the health note is beside the point
    a.save()
    row = client.get("/overview/live/").content.decode().split(f'data-rs="{a.pk}"')[1].split("</tr>")[0]
    assert '<span class="why"></span>' in row


def test_health_page_for_every_role_live_or_from_the_database(client, readonly, make_service, redis_db):
    """/servers/<id>/health/: what the API says, as a page any role may open; linked from the overview."""
    rs = make_service([{}], check_type="tcp").real_servers.get()
    HealthEvent.objects.create(real_server=rs, at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), old_state="up",
                               new_state="down", check_type="tcp", reason="connection refused",
                               action="10.0.0.1:80 weight 0")
    client.force_login(readonly)
    page = client.get(f"/servers/{rs.pk}/health/").content.decode()
    assert "connection refused" in page and "10.0.0.1:80 weight 0" in page and "2026-01-02 03:04:05" in page
    assert "healthcheckd is not running" in page
    fragment = client.get(f"/servers/{rs.pk}/health/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="health-live",
                          HTTP_X_FULCRUM_POLL="1").content.decode()
    assert "connection refused" in fragment and "<html" not in fragment  # the 2-second refresh's part
    now = time.time()
    redis_db.hset(STATUS_KEY, str(rs.pk), json.dumps({
        "state": "up", "since": now - 30, "check_type": "tcp", "ok": True, "reason": "connected in 0.3 ms",
        "latency_ms": 0.3, "checked_at": now, "checks": 40, "interval": 1.0}))
    redis_db.set(HEARTBEAT_KEY, json.dumps({"pid": 1, "at": now}), ex=10)
    page = client.get(f"/servers/{rs.pk}/health/").content.decode()
    assert "passed: connected in 0.3 ms (0.3 ms)" in page and 'class="pill st-up">up' in page
    assert f'href="/servers/{rs.pk}/health/"' in client.get("/").content.decode()
