"""Shared fixtures for the Django side: users per role, API clients (session and token), objects.

Django is imported inside the fixtures only: tests/netlab runs with `-p no:django` and loads this file too.
"""

from __future__ import annotations

import os

import pytest

from tests.isolation import isolate_environment

isolate_environment()  # already done by tests/settings.py when Django runs; here for `-p no:django` runs

ROLES = ("admin", "operator", "readonly")
PASSWORD = "correct-horse-battery-9"


@pytest.fixture(autouse=True)
def _host_interfaces():
    """Interface fields are checked against the host's real interfaces: tests see a fixed host (lo, eth0..eth3,
    tests/network/fakehost.py), never this machine's. The kernel lab's guest keeps its real ones."""
    if os.environ.get("FULCRUM_NETLAB_GUEST"):
        yield
        return
    from tests.network.fakehost import host_interfaces

    with host_interfaces():
        yield


def error_fields(response) -> dict[str, list[str]]:
    """An API error answer as {field path: [messages]}, after checking it has the one error shape
    (appliance/exceptions.py). A nested path ("vpn_servers.0") also counts for its parents."""
    data = response.json()
    assert set(data) - {"existing_id"} == {"type", "errors", "detail"} and data["errors"], data
    fields: dict[str, list[str]] = {}
    for error in data["errors"]:
        assert set(error) == {"code", "detail", "attr"} and error["code"], error
        path = error["attr"] or "non_field_errors"
        parts = path.split(".")
        for depth in range(1, len(parts) + 1):
            fields.setdefault(".".join(parts[:depth]), []).append(error["detail"])
    return fields


@pytest.fixture(autouse=True)
def kernel_worker_in_process(request, monkeypatch):
    """Tests run no Celery worker: the "kernel.runtime" task's body runs in the test's process (as in
    embedded mode), on the render-only driver. tests/netlab drives the real worker and kernel."""
    if "django_db_setup" not in request.fixturenames and not request.node.get_closest_marker("django_db"):
        return
    from cluster import runtime_state

    monkeypatch.setattr(runtime_state, "ask_kernel_worker", runtime_state.push_runtime_state)


@pytest.fixture
def own_redis_keys():
    """The test owns this run's Redis keys (appliance/redis_client.py): none at its start, none left behind.
    Yields the client."""
    from appliance import redis_client

    client = redis_client.client()

    def clear():
        keys = list(client.scan_iter(match=redis_client.key("*")))
        if keys:
            client.delete(*keys)

    clear()
    yield client
    clear()


@pytest.fixture
def fast_passwords(settings):
    """PBKDF2 costs most of a second per user on a small machine; tests need no key stretching."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def make_user(db, fast_passwords):
    from django.contrib.auth import get_user_model

    from accounts.models import Profile

    def make(username: str, role: str = "readonly", **extra):
        user = get_user_model().objects.create_user(username, password=PASSWORD, **extra)
        Profile.objects.create(user=user, role=role)
        return user

    return make


@pytest.fixture
def admin(make_user):
    return make_user("alice", "admin")


@pytest.fixture
def operator(make_user):
    return make_user("oscar", "operator")


@pytest.fixture
def readonly(make_user):
    return make_user("rita", "readonly")


@pytest.fixture
def users(admin, operator, readonly):
    return {"admin": admin, "operator": operator, "readonly": readonly}


def _token_client(user):
    from rest_framework.test import APIClient

    from accounts.models import ApiToken

    _, key = ApiToken.issue(user, "tests")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    client.user, client.key = user, key
    return client


def _session_client(user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def client_for(users):
    """client_for(role, auth="token"|"session") → an APIClient acting as that role's user."""

    def make(role: str, auth: str = "token"):
        return (_token_client if auth == "token" else _session_client)(users[role])

    return make


@pytest.fixture
def api(admin):
    """An admin's API client, authenticated by token."""
    return _token_client(admin)


@pytest.fixture
def admin_session(admin):
    return _session_client(admin)


@pytest.fixture
def anon(db):
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def make_service(db):
    """Create a validated, saved VirtualService (model rules applied), with optional real servers."""
    from realservers.models import RealServer
    from virtualservices.models import VirtualService

    counter = {"n": 0}

    def make(servers=(), **fields):
        counter["n"] += 1
        n = counter["n"]
        values = {"label": f"svc{n}", "vip": f"192.0.2.{n}", "ports": "80", "protocol": "tcp", "method": "nat"}
        values.update(fields)
        svc = VirtualService(**values)
        svc.full_clean()
        svc.save()
        for i, rs_fields in enumerate(servers, start=1):
            rs_values = {"label": f"rs{i}", "address": f"10.0.0.{i}"}
            rs_values.update(rs_fields)
            rs = RealServer(service=svc, **rs_values)
            rs.full_clean()
            rs.save()
        return svc

    return make


@pytest.fixture
def make_server(db):
    from realservers.models import RealServer

    def make(service, **fields):
        values = {"label": f"rs{service.real_servers.count() + 1}", "address": "10.0.0.50"}
        values.update(fields)
        rs = RealServer(service=service, **values)
        rs.full_clean()
        rs.save()
        return rs

    return make
