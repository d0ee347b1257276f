"""Tell healthcheckd that the configuration changed: one Redis message per committed transaction.

Saving or deleting a VirtualService or RealServer publishes on the channel CONFIG_CHANGED when the transaction
commits. Health updates from healthcheckd itself use ``QuerySet.update`` and publish nothing.
Redis being down never fails a save: the message is dropped (healthcheckd also reloads
periodically) and publishing pauses for a few seconds (``redis_client.paused()``).
"""

from __future__ import annotations

import json
import logging
import threading
import time

from django.db import transaction

from appliance import redis_client

log = logging.getLogger(__name__)
_local = threading.local()


def publish(reason: str = "changed") -> bool:
    """Publish one "config changed" message now; False when Redis is unavailable."""
    if redis_client.paused():
        return False
    try:
        message = json.dumps({"reason": reason, "at": time.time()})
        redis_client.client().publish(redis_client.key(redis_client.CONFIG_CHANGED), message)
        return True
    except Exception as e:  # noqa: BLE001 - any Redis failure: never break the save
        redis_client.failed()
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
