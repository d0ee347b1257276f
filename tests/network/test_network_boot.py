"""manage.py network_boot: says why it does nothing where the appliance does not own the network."""

from io import StringIO

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def run() -> str:
    out = StringIO()
    call_command("network_boot", stdout=out)
    return out.getvalue()


def test_not_owned_says_why(settings):
    settings.FULCRUM_MANAGE_NETWORK = "no"
    assert "network not managed here: FULCRUM_MANAGE_NETWORK=no" in run()


def test_render_only_host_is_not_owned(settings):
    from cluster.mode import dataplane_mode
    from netconfig.ownership import network_owner

    settings.FULCRUM_MANAGE_NETWORK = "auto"
    settings.FULCRUM_DATAPLANE = "render-only"
    settings.CELERY_TASK_ALWAYS_EAGER = True
    dataplane_mode.cache_clear()
    try:
        owned, reason = network_owner()
    finally:
        dataplane_mode.cache_clear()
    assert not owned and "render-only" in reason


def test_owned_with_nothing_saved(settings):
    settings.FULCRUM_MANAGE_NETWORK = "yes"
    assert "no saved network configuration" in run()
