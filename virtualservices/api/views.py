from django.db.models import Prefetch
from rest_framework import viewsets

from appliance.concurrency import VersionedViewMixin

from ..filtersets import VirtualServiceFilterSet
from ..models import VirtualService
from .serializers import VirtualServiceSerializer


class VirtualServiceViewSet(VersionedViewMixin, viewsets.ModelViewSet):
    """Layer 4 virtual services (VIPs). Their real servers are listed inline and under
    `/virtual-services/{id}/real-servers/`."""

    serializer_class = VirtualServiceSerializer
    filterset_class = VirtualServiceFilterSet
    search_fields = ["label", "description", "vip"]
    ordering_fields = ["label", "vip", "id", "updated_at"]
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        from django.apps import apps

        real_server = apps.get_model("realservers", "RealServer")
        return VirtualService.objects.prefetch_related(
            Prefetch("real_servers", queryset=real_server.objects.only(
                "id", "service_id", "label", "address", "port", "weight", "admin_state", "health")))
