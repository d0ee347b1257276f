"""System Control: admins only, confirmed, logged; the root command runs exactly one allowed action."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from audit.models import ChangeRecord
from netconfig import control
from tests.conftest import error_fields

pytestmark = pytest.mark.django_db
URL = "/api/v1/system/control/"


@pytest.fixture
def systemd(monkeypatch, tmp_path, settings):
    """A host that runs systemd (the marker directory), with its own data directory."""
    marker = tmp_path / "systemd"
    marker.mkdir()
    monkeypatch.setattr(control, "SYSTEMD_DIR", str(marker))
    settings.DATA_DIR = tmp_path
    return tmp_path


def test_unavailable_without_systemd_says_why(api, monkeypatch, tmp_path):
    monkeypatch.setattr(control, "SYSTEMD_DIR", str(tmp_path / "absent"))
    body = api.get(URL).json()
    assert body["available"] is False and "does not run systemd" in body["reason"]
    assert [s["name"] for s in body["services"]] == ["web", "worker", "tasks", "beat", "healthcheckd", "keepalived"]
    r = api.post(URL, {"action": "restart", "service": "worker", "confirm": True}, format="json")
    assert r.status_code == 409 and "does not run systemd" in r.json()["detail"]


def test_requests_need_confirmation_and_a_known_service(api, systemd):
    r = api.post(URL, {"action": "reboot", "confirm": False}, format="json")
    assert r.status_code == 400 and "confirm" in error_fields(r)
    r = api.post(URL, {"action": "restart", "service": "sshd", "confirm": True}, format="json")
    assert r.status_code == 400 and "service" in error_fields(r)
    r = api.post(URL, {"action": "restart", "confirm": True}, format="json")
    assert r.status_code == 400 and "service" in error_fields(r)
    assert not (systemd / control.REQUEST_FILE).exists()


@pytest.mark.parametrize("role", ["operator", "readonly"])
def test_only_admins(client_for, role, systemd):
    c = client_for(role)
    assert c.get(URL).status_code == 200
    assert c.post(URL, {"action": "reboot", "confirm": True}, format="json").status_code == 403
    assert not (systemd / control.REQUEST_FILE).exists()


def test_restart_is_requested_logged_and_carried_out_once(api, systemd):
    r = api.post(URL, {"action": "restart", "service": "worker", "confirm": True}, format="json")
    assert r.status_code == 202 and r.json()["requested"] == "systemctl restart fulcrum-worker.service"
    req = json.loads((systemd / control.REQUEST_FILE).read_text())
    assert req["action"] == "restart" and req["user"] == "alice"
    assert ChangeRecord.objects.filter(object_type="systemcontrol", username="alice").exists()
    recorder = systemd / "systemctl"
    calls = systemd / "calls"
    recorder.write_text(f"#!/bin/sh\necho \"$@\" >>{calls}\n")
    recorder.chmod(0o755)
    out = StringIO()
    call_command("system_control", systemctl=str(recorder), stdout=out)
    assert calls.read_text() == "restart fulcrum-worker.service\n"
    assert "alice:" in out.getvalue()
    call_command("system_control", systemctl=str(recorder), stdout=out)  # the request ran once
    assert calls.read_text().count("\n") == 1 and "no request" in out.getvalue()


def test_the_root_command_refuses_anything_else(systemd):
    (systemd / control.REQUEST_FILE).write_text(json.dumps({"action": "restart", "service": "sshd"}))
    out = StringIO()
    call_command("system_control", systemctl="/bin/false", stdout=out)
    assert "refused: Unknown service 'sshd'" in out.getvalue()


def test_parse_show():
    s = control.parse_show("worker", "fulcrum-worker.service",
                           "ActiveState=active\nSubState=running\nActiveEnterTimestamp=@1700000000\n")
    assert (s.active, s.sub, s.since) == ("active", "running", 1700000000.0) and s.uptime > 0
    assert control.parse_show("web", "fulcrum-web.service", "").active == "unknown"


def test_page_asks_before_acting(admin, systemd):
    c = Client()
    c.force_login(admin)
    page = c.get("/maintenance/control/").content.decode()
    assert "Reboot…" in page and "fulcrum-healthcheckd.service" in page
    page = c.get("/maintenance/control/restart/keepalived/").content.decode()
    assert "systemctl restart fulcrum-keepalived.service" in page and "floating IPs" in page
    assert not (systemd / control.REQUEST_FILE).exists()  # asking changes nothing
    r = c.post("/maintenance/control/halt/", follow=True)
    assert "Requested: systemctl poweroff." in r.content.decode()
    assert json.loads((systemd / control.REQUEST_FILE).read_text())["action"] == "halt"
