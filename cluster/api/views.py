from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import generics, status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import AdminOnly
from appliance.concurrency import VersionedViewMixin
from realservers.models import RealServer
from virtualservices.api.serializers import VirtualServiceSerializer
from virtualservices.models import VirtualService

from ..aovpn import AovpnRequest, create_aovpn
from ..bundle import DELETE_ALL_CONFIRMATION, MODES, REPLACE, BundleError, export_bundle, import_bundle, preview
from ..models import BgpNeighbour, BgpSettings, ClusterSettings, FloatingIP
from .serializers import (
    AovpnResultSerializer,
    AovpnSerializer,
    BgpNeighbourSerializer,
    BgpSettingsSerializer,
    BgpStatusSerializer,
    BundleSerializer,
    ClusterSettingsSerializer,
    FloatingIPSerializer,
    ImportResultSerializer,
    PreviewSerializer,
)


class ClusterSettingsView(VersionedViewMixin, generics.RetrieveUpdateAPIView):
    """Appliance-wide Layer 4 settings: VIP interface, Autonat, IPVS timeouts, lock, auto-apply."""

    serializer_class = ClusterSettingsSerializer

    def get_object(self):
        return ClusterSettings.load()


class BgpSettingsView(VersionedViewMixin, generics.RetrieveUpdateAPIView):
    """Active-active: this member's BGP speaker (our ASN, router id, BFD timers). Local to this node."""

    serializer_class = BgpSettingsSerializer

    def get_object(self):
        return BgpSettings.load()


class BgpNeighbourViewSet(VersionedViewMixin, viewsets.ModelViewSet):
    """Active-active: the upstream routers this member peers with (BGP + BFD). Passwords are write-only."""

    queryset = BgpNeighbour.objects.all()
    serializer_class = BgpNeighbourSerializer
    search_fields = ["address", "description"]
    brief_fields = ("id", "address", "version")
    lookup_value_regex = r"\d+"


class BgpStatusView(APIView):
    """Active-active: the FRR configuration this member loads (what a render-only host would load), and
    the VIPs it announces now."""

    @extend_schema(responses=BgpStatusSerializer, summary="BGP configuration and announced VIPs")
    def get(self, request):
        from ..bgp import status

        return Response(BgpStatusSerializer(status()).data)


class FloatingIPViewSet(VersionedViewMixin, viewsets.ModelViewSet):
    """Floating IPs: addresses held by the active node, e.g. the NAT real servers' gateway."""

    queryset = FloatingIP.objects.all()
    serializer_class = FloatingIPSerializer
    filterset_fields = ["interface"]
    search_fields = ["address", "description"]
    brief_fields = ("id", "address", "version")
    lookup_value_regex = r"\d+"


class ConfigBundleView(APIView):
    """Export (GET) or replace (POST, all or nothing) the whole configuration. Admins only, reading too:
    a bundle is a backup, so it carries the secrets (RADIUS) that the rest of the API never shows."""

    permission_classes = [AdminOnly]
    extra_query_params = ("dry_run", "mode", "confirm")

    @extend_schema(responses=BundleSerializer, summary="Export the configuration bundle")
    def get(self, request):
        return Response(export_bundle())

    @extend_schema(request=BundleSerializer,
                   responses={200: PolymorphicProxySerializer(
                       component_name="ImportOrPreview", resource_type_field_name=None,
                       serializers=[ImportResultSerializer, PreviewSerializer])},
                   parameters=[
                       OpenApiParameter("dry_run", bool, description=(
                           "Validate and preview only: the answer is then the preview (added, removed, "
                           "changed) instead of the import's counts.")),
                       OpenApiParameter("mode", str, enum=list(MODES), description=(
                           "replace (default): the bundle becomes the configuration, what it lacks is "
                           "deleted; merge: what it names is added or updated, nothing is deleted.")),
                       OpenApiParameter("confirm", str, description=(
                           f"'{DELETE_ALL_CONFIRMATION}': let a replace whose bundle has no virtual services "
                           "delete them all (refused otherwise)."))],
                   summary="Import a configuration bundle (replace or merge; all or nothing)")
    def post(self, request):
        mode = request.query_params.get("mode", REPLACE)
        if request.query_params.get("dry_run") in ("1", "true", "yes"):
            if mode not in MODES:
                raise BundleError({"mode": [f"Must be one of: {', '.join(MODES)}."]})
            return Response(PreviewSerializer(preview(request.data, mode)).data)
        return Response(ImportResultSerializer(import_bundle(
            request.data, mode=mode, confirm=request.query_params.get("confirm", ""))).data)


class AovpnTemplateView(APIView):
    """Create the Always On VPN services (SSTP, IKEv2, NPS) with their health checks."""

    @extend_schema(request=AovpnSerializer, responses={201: AovpnResultSerializer})
    def post(self, request):
        body = AovpnSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services = create_aovpn(AovpnRequest(**body.validated_data))
        fresh = VirtualService.objects.filter(pk__in=[s.pk for s in services]).prefetch_related(
            Prefetch("real_servers", queryset=RealServer.objects.all()))
        data = {"services": VirtualServiceSerializer(fresh, many=True).data}
        return Response(data, status=status.HTTP_201_CREATED)
