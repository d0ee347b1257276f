"""The technical-support archive: every section is there, and no secret set here is in it."""

from __future__ import annotations

import io
import tarfile

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

RADIUS = "radius-Secret-4711"
SMTP = "smtp-Password-0815"
PEER = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"


@pytest.fixture
def secrets(make_service, admin):
    from accounts.models import ApiToken
    from ha.models import Peer
    from netconfig.models import SystemSettings

    make_service(protocol="udp", ports="1812", method="snat", check_type="radius", check_secret=RADIUS,
                 check_port=1812, servers=[{"address": "10.0.0.5"}])
    s = SystemSettings(pk=1, smtp_host="192.0.2.25", smtp_password=SMTP)
    s.full_clean()
    s.save()
    Peer.objects.create(address="192.0.2.2", role="master", secret=PEER)
    _, key = ApiToken.issue(admin, "support test")
    return [RADIUS, SMTP, PEER, key]


def files_of(data: bytes) -> dict[str, str]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name.split("/", 1)[1]: tar.extractfile(m).read().decode() for m in tar.getmembers()}


def test_archive_has_every_section_and_no_secret(api, secrets, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True  # the kernel sections come from this process (unprivileged here)
    r = api.get("/api/v1/system/support-archive/")
    assert r.status_code == 200 and r["Content-Type"] == "application/gzip"
    assert r["Content-Disposition"].startswith('attachment; filename="fulcrum-support-')
    files = files_of(r.content)
    for name in ("versions.json", "configuration.json", "system-settings.json", "apply-runs.txt", "change-log.json",
                 "health-events.txt", "ip-d-addr.txt", "ip-route.txt", "keepalived.json", "logs.txt",
                 "ipvsadm-Ln-stats.txt", "network-changes.json"):
        assert name in files, sorted(files)
    assert any(n.endswith("-save-fulcrum.txt") for n in files), sorted(files)
    assert '"check_secret": "********"' in files["configuration.json"]
    assert '"smtp_password": "********"' in files["system-settings.json"]
    everything = "\n".join(files.values())
    for secret in secrets:
        assert secret not in everything, f"a secret leaked into the support archive: {secret[:6]}…"


@pytest.mark.parametrize("role", ["operator", "readonly"])
def test_only_admins_download_it(client_for, role, users):
    assert client_for(role).get("/api/v1/system/support-archive/").status_code == 403
    c = Client()
    c.force_login(users[role])
    assert c.get("/maintenance/support/download/").status_code == 403


def test_the_page_downloads_it(admin, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    c = Client()
    c.force_login(admin)
    assert "Download the archive" in c.get("/maintenance/support/").content.decode()
    r = c.get("/maintenance/support/download/")
    assert r.status_code == 200 and "versions.json" in files_of(r.content)
