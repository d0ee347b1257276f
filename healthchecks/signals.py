"""Tell healthcheckd that the configuration changed: one Redis message per committed transaction.

Saving or deleting a VirtualService or RealServer publishes on CHANNEL when the transaction
commits. Health updates from healthcheckd itself use ``QuerySet.update`` and publish nothing.
Redis being down never fails a save: the message is dropped (healthcheckd also reloads
periodically) and publishing pauses for a few seconds.
"""

from __future__ import annotations

import json
import logging
import threading
import time

from django.conf import settings
from django.db import transaction

CHANNEL = "fulcrum:config-changed"
RETRY_AFTER = 5.0  # seconds without publishing after Redis failed

log = logging.getLogger(__name__)
_local = threading.local()
_state = {"client": None, "down_until": 0.0}


def _client():
    if _state["client"] is None:
        import redis

        _state["client"] = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=0.5, socket_connect_timeout=0.3)
    return _state["client"]


def publish(reason: str = "changed") -> bool:
    """Publish one "config changed" message now; False when Redis is unavailable."""
    if time.monotonic() < _state["down_until"]:
        return False
    try:
        _client().publish(CHANNEL, json.dumps({"reason": reason, "at": time.time()}))
        return True
    except Exception as e:  # noqa: BLE001 - any Redis failure: never break the save
        _state["down_until"] = time.monotonic() + RETRY_AFTER
        log.info("healthcheckd not notified (Redis: %s); it will notice on its next periodic reload", e)
        return False


def _flush() -> None:
    reasons = getattr(_local, "pending", None) or set()
    _local.pending = None
    publish(",".join(sorted(reasons)))


def config_changed(sender, instance=None, **kwargs) -> None:
    pending = getattr(_local, "pending", None)
    label = f"{sender._meta.model_name}"
    if pending is not None:
        pending.add(label)
        return
    _local.pending = {label}
    transaction.on_commit(_flush)
