"""What every test process sets before Django's settings load: its own Redis key prefix and database.

Used by tests/settings.py (pytest-django loads settings before any conftest runs) and by
tests/conftest.py (runs without Django, e.g. the kernel lab with `-p no:django`). Child processes a
test starts inherit the environment, so an appliance process a test runs shares the test's prefix.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid


def isolate_environment() -> None:
    # Tests never share Redis with a running appliance: their own database number...
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
    # ...and their own key/channel prefix (channels ignore the database number): one per run, shared by
    # the processes it starts, one per xdist worker so parallel workers never read each other's keys.
    run = os.environ.setdefault("FULCRUM_TEST_RUN", uuid.uuid4().hex[:12])
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    os.environ["FULCRUM_REDIS_PREFIX"] = f"fulcrum-test:{run}:{worker}:"
    # ...and their own data directory (secret key, apply lock, generated files), so a test never waits
    # on a running appliance's apply lock nor writes into its var/. One per run, in memory where the
    # machine has /dev/shm (the SQLite test database lives there too: see tests/settings.py).
    if "FULCRUM_DATA_DIR" not in os.environ:
        scratch = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
        data_dir = tempfile.mkdtemp(prefix=f"fulcrum-test-{run}-{worker}-", dir=scratch)
        os.environ["FULCRUM_DATA_DIR"] = data_dir
        atexit.register(shutil.rmtree, data_dir, True)  # only the process that made it removes it
    # No background reader of the stored syslog targets in the test process (tests that need one build it).
    os.environ.setdefault("FULCRUM_STORED_SYSLOG", "0")
