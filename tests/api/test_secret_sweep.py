"""Secrets never leave their owner: with known secrets set (the database password in DATABASE_URL, the HA
shared secret, a RADIUS secret, an API token's key), every page and API answer (admin and read-only),
every rendered configuration (View Configuration, keepalived.conf, `manage.py apply --dry-run`), every
log line and the change log are searched for each secret: zero hits.

Left out on purpose: the configuration backup (GET /api/v1/config/ and the WebUI download), which is a
backup and carries the RADIUS secret to admins only; the test checks that a read-only user cannot get it.
"""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.core.management import call_command

from tests.api.urlwalk import all_endpoints

DB_PASSWORD = "DbPass-sweep-5f1c2a"
HA_SECRET = "5eed5ec7" * 8
RADIUS_SECRET = "Radius-sweep-93e1b7"
BACKUPS = ("/api/v1/config/", "/maintenance/backup/download/")
SKIP = ("/logout/", "/api/schema/")  # logging out ends the walk; the schema is static text


@pytest.fixture
def secrets_set(db, monkeypatch, admin, make_service, settings):
    from accounts.models import ApiToken
    from cluster.models import FloatingIP
    from ha.models import Link, Peer

    settings.FULCRUM_DATAPLANE = "render-only"
    monkeypatch.setenv("DATABASE_URL", f"postgres://fulcrum:{DB_PASSWORD}@db.example.test:5432/fulcrum")
    svc = make_service(label="radius", vip="192.0.2.11", ports="1812", protocol="udp", method="dr",
                       check_type="radius", check_secret=RADIUS_SECRET,
                       servers=[{"label": "r1", "address": "10.0.0.3"}])
    make_service(label="web", servers=[{"label": "w1", "address": "10.0.0.1"}])
    FloatingIP.objects.create(address="10.0.0.254", prefixlen=24, interface="eth1")
    Peer.objects.create(address="10.8.0.3", role="master", secret=HA_SECRET, node_name="lb1", peer_name="lb2")
    Link.objects.create(interface="eth1", peer_address="10.9.0.3")
    _, key = ApiToken.issue(admin, "sweep")
    token_secret = key.split(".", 1)[1]
    return {"database password": DB_PASSWORD, "HA secret": HA_SECRET, "RADIUS secret": RADIUS_SECRET,
            "API token key": token_secret}, svc


def _hits(secrets: dict[str, str], where: str, text: str) -> list[str]:
    return [f"{name} in {where}" for name, value in secrets.items() if value in text]


def test_no_secret_in_pages_configs_logs_or_the_change_log(secrets_set, client_for, admin, readonly, client,
                                                           caplog, capsys):
    secrets, svc = secrets_set
    caplog.set_level(logging.DEBUG)
    found: list[str] = []
    # API: the same change through it, so the change log and logs see a RADIUS service being edited
    api = client_for("admin")
    r = api.patch(f"/api/v1/virtual-services/{svc.pk}/", {"check_secret": RADIUS_SECRET + "x"}, format="json")
    assert r.status_code == 200
    found += _hits(secrets | {"new RADIUS secret": RADIUS_SECRET + "x"}, "PATCH answer", r.content.decode())

    pages = 0
    for user in (admin, readonly):
        client.force_login(user)
        for value in {"1", str(svc.pk), str(svc.real_servers.get().pk)}:
            for endpoint in all_endpoints(value):
                path = endpoint.path
                if "GET" not in endpoint.methods or path.startswith(SKIP) or "/ha/peer/" in path:
                    continue
                response = client.get(path)
                if path.startswith(BACKUPS):
                    if user is readonly:
                        assert response.status_code in (403, 302), path
                    continue
                pages += 1
                body = b"".join(response.streaming_content) if response.streaming else response.content
                found += _hits(secrets, f"{path} as {user.username}", body.decode("utf-8", "replace"))
    assert pages > 100

    from ha import keepalived

    found += _hits(secrets, "keepalived.conf", keepalived.render())
    out = io.StringIO()
    call_command("apply", "--dry-run", stdout=out)
    call_command("apply", "--dry-run", "--full", stdout=out)
    found += _hits(secrets, "apply --dry-run", out.getvalue())
    call_command("status", stdout=out) if _has_command("status") else None
    found += _hits(secrets, "status", out.getvalue())

    from audit.models import ChangeRecord

    changes = json.dumps(list(ChangeRecord.objects.values()), default=str)
    assert ChangeRecord.objects.exists()
    found += _hits(secrets | {"new RADIUS secret": RADIUS_SECRET + "x"}, "the change log", changes)
    logged = "\n".join(r.getMessage() + " " + repr(r.args) for r in caplog.records)
    found += _hits(secrets, "log records", logged)
    captured = capsys.readouterr()
    found += _hits(secrets, "stdout/stderr", captured.out + captured.err)
    assert not found, found


def _has_command(name: str) -> bool:
    from django.core.management import get_commands

    return name in get_commands()
