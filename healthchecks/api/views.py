"""GET /api/v1/real-servers/{id}/health: live status from healthcheckd (Redis), else the database."""

from __future__ import annotations

from datetime import UTC, datetime

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from realservers.models import RealServer

from ..live import live_status
from ..live import reason as live_reason
from .serializers import RealServerHealthSerializer

EVENTS_SHOWN = 10


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
            state, since = live["state"], _dt(live["since"])
            reason = live_reason(live, state)
            last = {"ok": live["ok"], "reason": live["reason"], "checked_at": _dt(live["checked_at"]),
                    "latency_ms": live["latency_ms"]}
        else:
            state, since, last = rs.health, rs.health_since, None
            reason = events[0].reason if events else ("not checked yet" if state == "unknown" else "")
        data = {"id": rs.pk, "label": rs.label, "service": rs.service_id, "address": str(rs.address),
                "state": state, "since": since, "reason": reason, "admin_state": rs.admin_state,
                "check_type": rs.service.check_type, "last_result": last, "live": live is not None,
                "events": events}
        return Response(RealServerHealthSerializer(data).data)
