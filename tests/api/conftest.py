"""Fixtures for the API tests."""

from __future__ import annotations

import sqlite3

import pytest


def _move_sqlite_to_file(conn, path):
    """Copy the in-memory test database to a file and point every new connection at it."""
    conn.ensure_connection()
    with sqlite3.connect(path) as target:
        conn.connection.backup(target)
    memory, name = conn.connection, conn.settings_dict["NAME"]
    conn.connection = None
    conn.settings_dict["NAME"] = str(path)

    def restore():
        conn.close()
        conn.settings_dict["NAME"] = name
        conn.connection = memory

    return restore


@pytest.fixture
def live_url(transactional_db, settings, tmp_path):
    """A live threaded server whose every request has its own database connection: PostgreSQL, or
    SQLite in WAL mode on a file (an in-memory SQLite test database would be one connection shared
    by every thread, so concurrent requests would not meet the database's real locking)."""
    from django.db import connections
    from django.test.testcases import LiveServerThread

    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    conn = connections["default"]
    restore = None
    if conn.vendor == "sqlite" and conn.is_in_memory_db():
        restore = _move_sqlite_to_file(conn, tmp_path / "live.sqlite3")
    # Each server thread closes its connection after each request, so none outlives the test database.
    max_age, conn.settings_dict["CONN_MAX_AGE"] = conn.settings_dict["CONN_MAX_AGE"], 0
    server = LiveServerThread("127.0.0.1", lambda app: app, connections_override={}, port=0)
    server.daemon = True
    server.start()
    server.is_ready.wait(timeout=30)
    if server.error:
        raise server.error
    yield f"http://127.0.0.1:{server.port}"
    server.terminate()
    conn.settings_dict["CONN_MAX_AGE"] = max_age
    if restore:
        restore()
