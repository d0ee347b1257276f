"""GET /api/v1/real-servers/{id}/health: live status from healthcheckd (Redis), else the database."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from realservers.models import RealServer

from ..daemon import HEARTBEAT_KEY, STATUS_KEY
from .serializers import RealServerHealthSerializer

log = logging.getLogger(__name__)
EVENTS_SHOWN = 10


def live_status(rs_id: int) -> dict | None:
    """healthcheckd's last word on one real server, or None (no daemon, no Redis, not checked yet)."""
    import redis

    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=0.3, socket_connect_timeout=0.3)
        raw, alive = client.pipeline(transaction=False).hget(STATUS_KEY, str(rs_id)).exists(HEARTBEAT_KEY).execute()
    except Exception as e:  # noqa: BLE001 - the page must work without Redis
        log.debug("no live health status: %s", e)
        return None
    return json.loads(raw) if raw and alive else None


def _dt(ts):
    return datetime.fromtimestamp(ts, UTC) if ts else None


class RealServerHealthView(APIView):
    @extend_schema(responses=RealServerHealthSerializer, summary="Health of one real server",
                   description="State (unknown/up/down), since when, the last check's result and reason, "
                               "and the latest transitions.")
    def get(self, request, pk: int):
        rs = get_object_or_404(RealServer.objects.select_related("service"), pk=pk)
        events = list(rs.health_events.all()[:EVENTS_SHOWN])
        live = live_status(rs.pk)
        if live is not None:
            state, since, reason = live["state"], _dt(live["since"]), live["reason"]
            last = {"ok": live["ok"], "reason": live["reason"], "checked_at": _dt(live["checked_at"]),
                    "latency_ms": live["latency_ms"]}
        else:
            state, since, last = rs.health, rs.health_since, None
            reason = events[0].reason if events else ("not checked yet" if state == "unknown" else "")
        if state == "down" and live is not None and live["ok"]:
            # Rising: the last check passed, the server is not back until `rise` passes in a row.
            reason = f"{live['reason']} (rising)"
        data = {"id": rs.pk, "label": rs.label, "service": rs.service_id, "address": str(rs.address),
                "state": state, "since": since, "reason": reason, "admin_state": rs.admin_state,
                "check_type": rs.service.check_type, "last_result": last, "live": live is not None,
                "events": events}
        return Response(RealServerHealthSerializer(data).data)
