"""GET /api/v1/virtual-services/{id}/checklist: the checklist with each check's result;
POST to the same URL: re-check (queues the probes in the worker; needs the OPERATE capability)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.roles import OPERATE
from virtualservices.models import VirtualService

from ..catalogue import build
from ..tasks import start_recheck
from .serializers import ChecklistSerializer, RecheckSerializer


class ChecklistView(APIView):
    """A virtual service's checklist: per check pass / fail / warn / not_run, the evidence the
    probes found (which MAC answered, which probe timed out), the fix, and the steps to copy.
    POST re-runs the probes for this service (202, with the queued run)."""

    required_capability = OPERATE  # probes change nothing; operators may run them, like a drain

    @extend_schema(responses=ChecklistSerializer, summary="A virtual service's checklist")
    def get(self, request, pk: int):
        svc = get_object_or_404(VirtualService, pk=pk)
        return Response(build(svc))

    @extend_schema(request=None, responses={202: RecheckSerializer}, summary="Re-run the checklist's probes")
    def post(self, request, pk: int):
        svc = get_object_or_404(VirtualService, pk=pk)
        run = start_recheck(svc, user=request.user, actor=request.user.get_username(), reason="manual")
        return Response({"run": run.as_dict(), "checklist": build(svc)}, status=status.HTTP_202_ACCEPTED)
