from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.roles import APPLY
from dataplane.compiler import compile_state
from dataplane.render import render_all

from ..apply import pending_changes
from ..compile import cluster_spec
from ..drift import check_drift
from ..mode import reported_dataplane_mode
from ..models import ApplyRun, DriftCheck
from ..run_liveness import sweep_stale_runs
from ..status import kernel_status
from ..tasks import start_apply
from .apply_serializers import (
    ApplyRunSerializer,
    ApplyStatusSerializer,
    DriftCheckSerializer,
    KernelStatusSerializer,
    RenderedSerializer,
)


def _run_or_none(queryset):
    run = queryset.first()
    return ApplyRunSerializer(run).data if run else None


class ApplyView(APIView):
    """Apply the saved configuration to the kernel (and later the peer). Operators may apply."""

    required_capability = APPLY

    @extend_schema(responses=ApplyStatusSerializer, summary="Apply status: pending changes, running and last run")
    def get(self, request):
        sweep_stale_runs()
        return Response({
            "dataplane": reported_dataplane_mode(),
            "celery": "in-process" if settings.CELERY_TASK_ALWAYS_EAGER else "worker",
            "pending_changes": pending_changes(),
            "running": _run_or_none(ApplyRun.objects.filter(status__in=[ApplyRun.QUEUED, ApplyRun.RUNNING])),
            "last": _run_or_none(ApplyRun.objects.filter(status__in=[ApplyRun.SUCCESS, ApplyRun.FAILED])),
        })

    @extend_schema(request=None, responses={202: ApplyRunSerializer}, summary="Start an apply")
    def post(self, request):
        run = start_apply(request.user, request.user.username)
        return Response(ApplyRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class RenderedView(APIView):
    """The kernel state the saved configuration compiles to, as ipvsadm / iptables / sysctl / ip text."""

    @extend_schema(responses=RenderedSerializer)
    def get(self, request):
        return Response({"text": render_all(compile_state(cluster_spec()))})


class ApplyRunViewSet(viewsets.ReadOnlyModelViewSet):
    """Apply runs: who, when, what changed, how long, how it ended."""

    queryset = ApplyRun.objects.all()
    serializer_class = ApplyRunSerializer
    filterset_fields = ["status", "username", "reason"]
    lookup_value_regex = r"\d+"


class KernelStatusView(APIView):
    """Per virtual service and real server: the kernel's connections and packet/byte counters."""

    @extend_schema(responses=KernelStatusSerializer)
    def get(self, request):
        return Response(kernel_status())


class DriftView(APIView):
    """Drift between the kernel and the last apply: GET the latest check, POST to check now
    (repairs too when the cluster's lock setting is on)."""

    required_capability = APPLY

    @extend_schema(responses=DriftCheckSerializer)
    def get(self, request):
        latest = DriftCheck.objects.first()
        if latest is None:
            return Response({"detail": "No drift check has run yet."}, status=status.HTTP_404_NOT_FOUND)
        return Response(DriftCheckSerializer(latest).data)

    @extend_schema(request=None, responses=DriftCheckSerializer)
    def post(self, request):
        return Response(DriftCheckSerializer(check_drift()).data)
