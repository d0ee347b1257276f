"""appliance/redis_client.py: every key and channel carries this instance's prefix, so two instances (or a
test run and a running appliance) on one Redis never hear each other, whatever their database numbers."""

from __future__ import annotations

import os
import time

from appliance import redis_client


def test_the_test_run_never_uses_an_appliances_prefix(settings):
    assert settings.FULCRUM_REDIS_PREFIX == os.environ["FULCRUM_REDIS_PREFIX"]
    assert settings.FULCRUM_REDIS_PREFIX.startswith("fulcrum-test:")
    assert redis_client.key(redis_client.HEALTH) == settings.FULCRUM_REDIS_PREFIX + "health"


def _received(pubsub, within: float = 1.0) -> list[bytes]:
    got, deadline = [], time.monotonic() + within
    while time.monotonic() < deadline:
        message = pubsub.get_message(ignore_subscribe_messages=True, timeout=0.05)
        if message:
            got.append(message["data"])
    return got


def test_channels_are_prefixed_so_instances_on_one_redis_do_not_cross_talk(settings):
    client = redis_client.client()
    settings.FULCRUM_REDIS_PREFIX = f"{os.environ['FULCRUM_REDIS_PREFIX']}a:"
    mine = redis_client.key(redis_client.CONFIG_CHANGED)
    pubsub = client.pubsub()
    try:
        pubsub.subscribe(mine)
        _received(pubsub, 0.1)  # the subscription confirmed
        settings.FULCRUM_REDIS_PREFIX = f"{os.environ['FULCRUM_REDIS_PREFIX']}b:"
        other = redis_client.key(redis_client.CONFIG_CHANGED)
        assert other != mine
        client.publish(other, b"from b")
        client.publish(mine, b"from a")
        assert _received(pubsub) == [b"from a"]
    finally:
        pubsub.close()


def test_one_client_per_redis_url_shared_by_callers(settings):
    first = redis_client.client()
    assert redis_client.client() is first
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    elsewhere = redis_client.client()
    assert elsewhere is not first and elsewhere.connection_pool.connection_kwargs["port"] == 1


def test_celery_queues_and_results_carry_the_prefix_too(settings):
    """Two instances on one Redis never take each other's tasks or read each other's results."""
    from appliance.celery import app

    prefix = settings.FULCRUM_REDIS_PREFIX
    assert app.conf.broker_transport_options["global_keyprefix"] == prefix
    key = app.backend.get_key_for_task("some-id")
    assert (key.decode() if isinstance(key, bytes) else key) == f"{prefix}celery-task-meta-some-id"
