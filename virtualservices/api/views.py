from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from appliance.bulk import BulkWriteMixin
from appliance.concurrency import VersionedViewMixin

from ..filtersets import VirtualServiceFilterSet
from ..models import VirtualService
from .serializers import VirtualServiceSerializer


class VirtualServiceViewSet(BulkWriteMixin, VersionedViewMixin, viewsets.ModelViewSet):
    """Layer 4 virtual services (VIPs). Their real servers are listed inline and under
    `/virtual-services/{id}/real-servers/`."""

    serializer_class = VirtualServiceSerializer
    filterset_class = VirtualServiceFilterSet
    ordering_fields = ["label", "vip", "id", "updated_at"]
    lookup_value_regex = r"\d+"
    brief_fields = ("id", "label", "version")

    def get_queryset(self):
        from django.apps import apps

        real_server = apps.get_model("realservers", "RealServer")
        return VirtualService.objects.prefetch_related(
            Prefetch("real_servers", queryset=real_server.objects.only(
                "id", "service_id", "label", "address", "port", "weight", "admin_state", "health")))

    @extend_schema(request=VirtualServiceSerializer,
                   responses={200: VirtualServiceSerializer, 201: VirtualServiceSerializer},
                   summary="Create or replace the virtual service with this label (an upsert)")
    @action(detail=False, methods=["put"], url_path=r"by-label/(?P<label>[^/]+)", url_name="by-label")
    def by_label(self, request, label=None):
        """The label is the key: an automation states the service it wants and need not know its id.
        200 when it replaced an existing service (If-Match honoured), 201 when it created it."""
        if not isinstance(request.data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
        if request.data.get("label", label) != label:
            raise serializers.ValidationError({"label": ["Differs from the label in the URL."]})
        instance = VirtualService.objects.filter(label=label).first()
        serializer = self.get_serializer(instance, data={**request.data, "label": label})
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(serializer.data, status=status.HTTP_200_OK if instance else status.HTTP_201_CREATED)
