"""Uniqueness held by the database, not by luck: 20 concurrent POSTs of the same real-server destination
(or of the same VIP/protocol/port) against a live appliance (gunicorn, 2 processes x 10 threads, its own
database) store exactly one; each loser gets a 409 naming the field and carrying the existing object's id.

SQLite always; PostgreSQL when the suite runs on it (DATABASE_URL=postgres://..., as CI's second pass).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONCURRENT = 20
_SETUP = """
from django.contrib.auth import get_user_model
from accounts.models import ApiToken, Profile
user = get_user_model().objects.create_user("racer", password="race-test-password-1")
Profile.objects.create(user=user, role="admin")
print(ApiToken.issue(user, "race")[1])
"""

BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("DATABASE_URL", "").startswith("postgres") else [])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _manage(env, *args, **kw):
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True, timeout=120, **kw)


class _Scratch:
    """A database of its own for the live server: a SQLite file, or a fresh PostgreSQL database."""

    def __init__(self, backend: str, tmp: Path):
        self.backend, self.name = backend, None
        if backend == "sqlite":
            self.url = f"sqlite:///{tmp / 'race.sqlite3'}"
            return
        import dj_database_url
        import psycopg

        base = os.environ["DATABASE_URL"]
        cfg = dj_database_url.parse(base)
        self.name = f"fulcrum_race_{uuid.uuid4().hex[:8]}"
        self._connect = dict(host=cfg["HOST"], port=cfg["PORT"] or 5432, user=cfg["USER"],
                             password=cfg["PASSWORD"], dbname="postgres", autocommit=True)
        with psycopg.connect(**self._connect) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        self.url = base.rsplit("/", 1)[0] + "/" + self.name

    def drop(self):
        if self.name:
            import psycopg

            with psycopg.connect(**self._connect) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def live(request, tmp_path):
    scratch = _Scratch(request.param, tmp_path)
    env = {**os.environ, "DATABASE_URL": scratch.url, "FULCRUM_DATA_DIR": str(tmp_path),
           "DJANGO_SETTINGS_MODULE": "appliance.settings"}
    server = None
    try:
        _manage(env, "migrate", "-v0")
        token = _manage(env, "shell", "-c", _SETUP).stdout.strip().splitlines()[-1]
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "appliance.wsgi", "-b", f"127.0.0.1:{port}", "--workers", "2",
             "--threads", "10", "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", token
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        scratch.drop()


def _call(base: str, token: str, method: str, path: str, body=None) -> tuple[int, dict | list]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw)
        except ValueError:
            return exc.code, {"raw": raw.decode("utf-8", "replace")[:300]}


def _all_at_once(base, token, path, bodies) -> list[tuple[int, dict]]:
    start = threading.Barrier(len(bodies))
    results: list = [None] * len(bodies)

    def post(i):
        start.wait(timeout=30)
        results[i] = _call(base, token, "POST", path, bodies[i])

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def _exactly_one_stored(results, field: str) -> int:
    created = [body for status, body in results if status == 201]
    assert len(created) == 1, results
    existing = created[0]["id"]
    for status, body in results:
        if status != 201:
            assert status == 409, (status, body)
            named = {e["attr"] for e in body["errors"]}  # the one error shape (appliance/exceptions.py)
            assert field in named and body["existing_id"] == existing, body
            assert "UNIQUE" not in json.dumps(body) and "duplicate key" not in json.dumps(body)
    return existing


def test_twenty_concurrent_identical_real_servers_store_one(live):
    base, token = live
    status, svc = _call(base, token, "POST", "/api/v1/virtual-services/",
                        {"label": "web", "vip": "192.0.2.10", "ports": "443", "method": "nat"})
    assert status == 201, svc
    path = f"/api/v1/virtual-services/{svc['id']}/real-servers/"
    bodies = [{"label": f"rs{i}", "address": "198.51.100.7", "port": 8443} for i in range(CONCURRENT)]
    _exactly_one_stored(_all_at_once(base, token, path, bodies), "address")
    status, listing = _call(base, token, "GET", path)
    rows = listing["results"] if isinstance(listing, dict) else listing
    assert len(rows) == 1


def test_twenty_concurrent_services_on_one_vip_and_port_store_one(live):
    base, token = live
    bodies = [{"label": f"web{i}", "vip": "192.0.2.20", "ports": "443", "method": "nat"}
              for i in range(CONCURRENT)]
    _exactly_one_stored(_all_at_once(base, token, "/api/v1/virtual-services/", bodies), "ports")
    # and the same label twenty times (different ports): one, the rest told which object holds it
    bodies = [{"label": "same", "vip": "192.0.2.21", "ports": str(1000 + i), "method": "nat"}
              for i in range(CONCURRENT)]
    _exactly_one_stored(_all_at_once(base, token, "/api/v1/virtual-services/", bodies), "label")
