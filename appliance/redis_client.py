"""The one way Fulcrum's processes reach Redis for their own keys and channels.

Every key and pub/sub channel name goes through ``key()``: it adds this instance's prefix
(``settings.FULCRUM_REDIS_PREFIX``, "fulcrum:" by default). Pub/sub channels ignore the database
number, so without a prefix two appliances, or a test run and a running appliance, sharing one Redis
would hear each other's messages. Celery's queues and results carry the same prefix through its
transport options (appliance/settings.py).

The names, their owners and readers are listed in docs/ARCHITECTURE.md ("Redis keys and channels").
"""

from __future__ import annotations

import threading
import time

import redis
import redis.asyncio as aioredis
from django.conf import settings

KERNEL_STATUS = "kernel-status"  # key, JSON, TTL: the kernel worker's IPVS snapshot (cluster/status.py)
HEALTH = "health"  # hash, real server id -> JSON: healthcheckd's live statuses (healthchecks/daemon.py)
HEALTHCHECKD = "healthcheckd"  # key, TTL: healthcheckd's heartbeat (no heartbeat: its statuses are stale)
CONFIG_CHANGED = "config-changed"  # channel: "the configuration changed", to healthcheckd (healthchecks/signals.py)

# Short: pages, the API and saves must not hang on a Redis that does not answer (callers pause after a failure).
CONNECT_TIMEOUT = 0.5
READ_TIMEOUT = 1.0
RETRY_AFTER = 5.0  # seconds without asking a Redis that failed: pages poll every 2 s, saves come in bursts

_clients: dict[str, redis.Redis] = {}
_lock = threading.Lock()
_down_until: dict[str, float] = {}  # REDIS_URL -> when to ask again


def key(name: str) -> str:
    """The Redis key or channel ``name`` of this instance (read per call: tests set the prefix per run)."""
    return f"{settings.FULCRUM_REDIS_PREFIX}{name}"


def client() -> redis.Redis:
    """This process's client for REDIS_URL, shared by every caller and thread (its pool is fork-safe)."""
    url = settings.REDIS_URL
    found = _clients.get(url)
    if found is None:
        with _lock:
            found = _clients.setdefault(url, redis.Redis.from_url(
                url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=READ_TIMEOUT))
    return found


def paused() -> bool:
    """True for RETRY_AFTER seconds after a caller reported REDIS_URL failing (``failed()``): callers that can
    do without Redis (live status on pages, "config changed" after a save) skip it instead of waiting."""
    return time.monotonic() < _down_until.get(settings.REDIS_URL, 0.0)


def failed() -> None:
    _down_until[settings.REDIS_URL] = time.monotonic() + RETRY_AFTER


def async_client() -> aioredis.Redis:
    """A new asyncio client (its connections belong to the running event loop: one per loop, closed by
    its owner). The read timeout is longer: a pub/sub subscriber waits on it."""
    return aioredis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1.0, socket_timeout=5.0)
