"""The test run's settings: appliance.settings, after tests/isolation.py set the test environment."""

from tests.isolation import isolate_environment

isolate_environment()

from appliance.settings import *  # noqa: E402, F403

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    # A file, as in production, not Django's shared-cache in-memory database: there a second connection
    # (the embedded apply's thread beside the live server's) gets "table is locked" at once instead of
    # waiting, which production's file database in WAL mode never does.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}  # noqa: F405
