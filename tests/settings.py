"""The test run's settings: appliance.settings, after tests/isolation.py set the test environment."""

from tests.isolation import isolate_environment

isolate_environment()

from appliance.settings import *  # noqa: E402, F403
