"""healthcheckd's live status as the web process reads it (Redis), for the API and the pages."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from datetime import UTC, datetime

from django.conf import settings

from .daemon import HEALTH_KEY, HEARTBEAT_KEY

log = logging.getLogger(__name__)


RETRY_AFTER = 5.0  # seconds without asking Redis after it failed: pages poll every 2 s
_clients: dict[str, object] = {}  # REDIS_URL -> client (its connection pool), reused by every request
_down_until: dict[str, float] = {}


def _client(url: str):
    if url not in _clients:
        import redis

        _clients[url] = redis.Redis.from_url(url, socket_timeout=0.3, socket_connect_timeout=0.3)
    return _clients[url]


def live_statuses(rs_ids: Iterable[int] | None = None) -> dict[int, dict]:
    """healthcheckd's last word on each real server it has one for (``rs_ids``, or all), in one round trip.
    Empty when no daemon runs (no heartbeat: its old statuses are not shown), or Redis is unreachable
    (then not asked again for RETRY_AFTER seconds)."""
    url = settings.REDIS_URL
    ids = None if rs_ids is None else [str(i) for i in rs_ids]
    if ids == [] or time.monotonic() < _down_until.get(url, 0.0):
        return {}
    pipe = _client(url).pipeline(transaction=False)
    pipe.hgetall(HEALTH_KEY) if ids is None else pipe.hmget(HEALTH_KEY, ids)
    try:
        raws, alive = pipe.exists(HEARTBEAT_KEY).execute()
    except Exception as e:  # noqa: BLE001 - the pages, the API and /metrics must work without Redis
        _down_until[url] = time.monotonic() + RETRY_AFTER
        log.debug("no live health status: %s", e)
        return {}
    if not alive:
        return {}
    pairs = raws.items() if ids is None else zip(ids, raws, strict=True)
    return {int(i): json.loads(raw) for i, raw in pairs if raw}


def live_status(rs_id: int) -> dict | None:
    """One real server's live status, or None (no daemon, no Redis, not checked yet)."""
    return live_statuses([rs_id]).get(rs_id)


def reason(live: dict, state: str) -> str:
    """What to tell an admin: the last check's result, marked while a down server is rising."""
    if state == "down" and live.get("ok"):
        # Rising: the last check passed, the server is not back until `rise` checks pass in a row.
        return f"{live['reason']} (rising)"
    return live.get("reason", "")


def _dt(ts):
    return datetime.fromtimestamp(ts, UTC) if ts else None


def health_of(rs, events_shown: int = 10) -> dict:
    """One real server's health as the API and the health page show it: live from healthcheckd when it
    runs, else what the database recorded (state, since, the reason of the last transition)."""
    events = list(rs.health_events.all()[:events_shown])
    live = live_status(rs.pk)
    if live is not None:
        state, since = live["state"], _dt(live["since"])
        why = reason(live, state)
        last = {"ok": live["ok"], "reason": live["reason"], "checked_at": _dt(live["checked_at"]),
                "latency_ms": live["latency_ms"]}
    else:
        state, since, last = rs.health, rs.health_since, None
        why = events[0].reason if events else ("not checked yet" if state == "unknown" else "")
    return {"id": rs.pk, "label": rs.label, "service": rs.service_id, "address": str(rs.address),
            "state": state, "since": since, "reason": why, "admin_state": rs.admin_state,
            "check_type": rs.service.check_type, "last_result": last, "live": live is not None, "events": events}
