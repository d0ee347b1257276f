"""healthcheckd's live status as the web process reads it (Redis), for the API and the pages."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime

from django.conf import settings

from .daemon import HEARTBEAT_KEY, STATUS_KEY

log = logging.getLogger(__name__)


def live_statuses(rs_ids: Iterable[int]) -> dict[int, dict]:
    """healthcheckd's last word on each real server it has one for: one round trip for a whole page.
    Empty when no daemon runs (no heartbeat: its old statuses are not shown), or Redis is unreachable."""
    import redis

    ids = [str(i) for i in rs_ids]
    if not ids:
        return {}
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=0.3, socket_connect_timeout=0.3)
        raws, alive = client.pipeline(transaction=False).hmget(STATUS_KEY, ids).exists(HEARTBEAT_KEY).execute()
    except Exception as e:  # noqa: BLE001 - the pages and the API must work without Redis
        log.debug("no live health status: %s", e)
        return {}
    if not alive:
        return {}
    return {int(i): json.loads(raw) for i, raw in zip(ids, raws, strict=True) if raw}


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
