"""GET /api/v1/real-servers/{id}/health: live status from healthcheckd (Redis), else the database."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from realservers.models import RealServer

from ..live import health_of
from .serializers import RealServerHealthSerializer


class RealServerHealthView(APIView):
    @extend_schema(responses=RealServerHealthSerializer, summary="Health of one real server",
                   description="State (unknown/up/down), since when, the last check's result and reason, "
                               "and the latest transitions.")
    def get(self, request, pk: int):
        rs = get_object_or_404(RealServer.objects.select_related("service"), pk=pk)
        return Response(RealServerHealthSerializer(health_of(rs)).data)
