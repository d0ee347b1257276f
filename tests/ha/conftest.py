"""A second appliance for HA tests: `manage.py runserver` on 127.0.0.1 with its own SQLite file.

The pytest process is the first appliance (its test database); the peer is a real process
reached over real HTTP, render-only, Celery in-process.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PEER_ADMIN, PEER_PASSWORD = "peeradmin", "peer-password-123"

_SETUP = """
import django, json; django.setup()
from django.contrib.auth import get_user_model
from accounts.models import ApiToken, Profile
u = get_user_model().objects.create_user({user!r}, password={password!r})
Profile.objects.create(user=u, role="admin")
print(json.dumps({{"key": ApiToken.issue(u, "tests")[1]}}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PeerAppliance:
    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.port = free_port()
        self.env = {**os.environ, "FULCRUM_DATA_DIR": str(data_dir), "FULCRUM_DATAPLANE": "render-only",
                    "FULCRUM_CELERY_EAGER": "1", "DJANGO_SETTINGS_MODULE": "appliance.settings",
                    "FULCRUM_LOG_LEVEL": "WARNING"}
        self.env.pop("DATABASE_URL", None)
        self.proc = None
        self.key = ""

    def manage(self, *argv, check=True) -> str:
        res = subprocess.run([sys.executable, "manage.py", *argv], cwd=ROOT, env=self.env, capture_output=True,
                             text=True, timeout=120)
        if check and res.returncode:
            raise RuntimeError(res.stderr)
        return res.stdout

    def start(self):
        if not self.key:  # first start: database and an admin with a token
            self.setup()
        log = open(self.data_dir / "server.log", "ab")
        self.proc = subprocess.Popen([sys.executable, "manage.py", "runserver", f"127.0.0.1:{self.port}",
                                      "--noreload", "--nothreading"], cwd=ROOT, env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=log)
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.get("/api/v1/ha/")
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("peer runserver did not start: " + (self.data_dir / "server.log").read_text()[-2000:])

    def setup(self):
        self.manage("migrate", "-v0")
        out = subprocess.run([sys.executable, "-c", _SETUP.format(user=PEER_ADMIN, password=PEER_PASSWORD)],
                             cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=60, check=True)
        self.key = json.loads(out.stdout.strip().splitlines()[-1])["key"]

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def request(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
                                     headers={"Authorization": f"Bearer {self.key}",
                                              "Content-Type": "application/json"})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(req, timeout=30) as resp:
            return json.loads(resp.read() or b"null")

    def get(self, path):
        return self.request("GET", path)

    def request_status(self, method, path, body=None) -> int:
        """The HTTP status of a request (an error status is the answer here, not an exception)."""
        try:
            self.request(method, path, body)
        except urllib.error.HTTPError as exc:
            return exc.code
        return 200


@pytest.fixture(scope="session")
def peer_template(tmp_path_factory):
    """A migrated peer database with its admin, made once: each test's peer starts from a copy."""
    path = tmp_path_factory.mktemp("peer-template")
    app = PeerAppliance(path)
    app.setup()
    return path, app.key


def started_copy(template_and_key, path: Path) -> PeerAppliance:
    """An appliance started from a copy of the template's database (its own secret key)."""
    template, key = template_and_key
    shutil.copytree(template, path, ignore=shutil.ignore_patterns("secret_key"))
    app = PeerAppliance(path)
    app.key = key
    return app.start()


@pytest.fixture
def peer_app(tmp_path, peer_template):
    app = started_copy(peer_template, tmp_path / "peer")
    yield app
    app.stop()


@pytest.fixture(autouse=True)
def _render_only(settings, tmp_path, monkeypatch):
    from cluster import apply as apply_mod

    settings.FULCRUM_DATAPLANE = "render-only"
    settings.DATA_DIR = tmp_path / "me"
    settings.DATA_DIR.mkdir()
    monkeypatch.setattr(apply_mod, "dataplane_mode", lambda: "render-only")
    monkeypatch.setattr("ha.replication.dataplane_mode", lambda: "render-only")
    apply_mod.forget_verified_view()
    yield
    apply_mod.forget_verified_view()
