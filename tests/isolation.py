"""What every test process sets before Django's settings load: its own Redis key prefix and database.

Used by tests/settings.py (pytest-django loads settings before any conftest runs) and by
tests/conftest.py (runs without Django, e.g. the kernel lab with `-p no:django`). Child processes a
test starts inherit the environment, so an appliance process a test runs shares the test's prefix.
"""

from __future__ import annotations

import os
import uuid


def isolate_environment() -> None:
    # Tests never share Redis with a running appliance: their own database number...
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
    # ...and their own key/channel prefix (channels ignore the database number): one per run, shared by
    # the processes it starts, one per xdist worker so parallel workers never read each other's keys.
    run = os.environ.setdefault("FULCRUM_TEST_RUN", uuid.uuid4().hex[:12])
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    os.environ["FULCRUM_REDIS_PREFIX"] = f"fulcrum-test:{run}:{worker}:"
    # No background reader of the stored syslog targets in the test process (tests that need one build it).
    os.environ.setdefault("FULCRUM_STORED_SYSLOG", "0")
