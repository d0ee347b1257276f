"""API of the host network: /api/v1/system/interfaces/, routes/, network/ (apply, changes, confirm)."""

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import AdminOnly
from appliance.concurrency import VersionedViewMixin
from appliance.exceptions import Conflict, body_for
from audit.recording import record

from .. import inventory
from ..apply import ChangeRefused, confirm, connected_address, start_change
from ..control import ControlUnavailable, availability, service_states
from ..control import request as control_request
from ..models import Interface, NetworkChange, Route, SystemSettings
from ..ownership import network_owner
from ..support import build_archive
from ..system import HostNotOwned, save_system_settings, send_test_mail, send_test_syslog
from .serializers import (
    ControlSerializer,
    InterfaceSerializer,
    NetworkApplySerializer,
    NetworkChangeSerializer,
    RouteSerializer,
    SystemSettingsSerializer,
    TestMailSerializer,
)


class NotOwned(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "network_not_managed"


class OwnedNetworkMixin:
    """Writes are refused, with the reason, where the appliance does not own the host's network."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            owned, reason = network_owner()
            if not owned:
                raise NotOwned(reason)


class InterfaceViewSet(OwnedNetworkMixin, VersionedViewMixin, viewsets.ModelViewSet):
    """This host's interfaces as configured: addresses, MTU, up/down; VLANs and bonds."""

    queryset = Interface.objects.all()
    serializer_class = InterfaceSerializer
    filterset_fields = ["kind"]
    lookup_value_regex = r"\d+"


class RouteViewSet(OwnedNetworkMixin, VersionedViewMixin, viewsets.ModelViewSet):
    """Static routes; a route to 0.0.0.0/0 or ::/0 is the default gateway of its family."""

    queryset = Route.objects.all()
    serializer_class = RouteSerializer
    lookup_value_regex = r"\d+"


class NetworkView(OwnedNetworkMixin, APIView):
    """GET: whether this appliance manages the host's network, the real interfaces, the open change.
    POST: apply the configured network, with a rollback timer unless timeout is 0."""

    @extend_schema(responses=dict, summary="Network state: managed or not, real interfaces, open change")
    def get(self, request):
        owned, reason = network_owner()
        open_change = NetworkChange.objects.filter(status__in=NetworkChange.OPEN).first()
        return Response({"managed": owned, "reason": reason, "host_interfaces": inventory.host_links(),
                         "open_change": NetworkChangeSerializer(open_change).data if open_change else None})

    @extend_schema(request=NetworkApplySerializer, responses={202: NetworkChangeSerializer, 409: dict},
                   summary="Apply the network configuration (commit-confirmed)")
    def post(self, request):
        body = NetworkApplySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            change = start_change(request.user, request.user.get_username(), body.validated_data["timeout"],
                                  connected_address(request))
        except ChangeRefused as exc:  # the one error shape, plus where the admin will find the appliance
            return Response({**body_for(Conflict(str(exc), code="reconnect")), "reconnect_to": exc.reconnect_to},
                            status=status.HTTP_409_CONFLICT)
        return Response(NetworkChangeSerializer(change).data, status=status.HTTP_202_ACCEPTED)


class NetworkChangeViewSet(viewsets.ReadOnlyModelViewSet):
    """Network changes: their status, the countdown of one that waits, and confirm."""

    queryset = NetworkChange.objects.all()
    serializer_class = NetworkChangeSerializer
    lookup_value_regex = r"\d+"

    @extend_schema(request=None, responses={200: NetworkChangeSerializer, 409: dict})
    @action(detail=True, methods=["post"])
    def confirm(self, request, pk=None):
        change = self.get_object()
        if not confirm(change):
            change.refresh_from_db()
            return Response({"detail": f"Change #{change.pk} is {change.get_status_display()}: nothing to confirm."},
                            status=status.HTTP_409_CONFLICT)
        change.refresh_from_db()
        return Response(NetworkChangeSerializer(change).data)


class SystemSettingsView(VersionedViewMixin, generics.RetrieveUpdateAPIView):
    """Hostname, DNS, time zone/NTP, SMTP relay, alert recipients, remote syslog. Admins change them; the
    host's own fields (hostname, DNS, time) only where the appliance owns the host."""

    serializer_class = SystemSettingsSerializer

    def get_object(self):
        return SystemSettings.load()

    def perform_update(self, serializer):
        try:
            save_system_settings(serializer.instance, serializer.validated_data, serializer.save)
        except HostNotOwned as exc:
            raise NotOwned(str(exc)) from exc


class SystemTestView(APIView):
    """POST test-mail/ (optional "to") or test-syslog/: send one through the stored (or default) settings."""

    kind = "mail"

    @extend_schema(request=TestMailSerializer, responses={200: dict, 400: dict})
    def post(self, request):
        try:
            if self.kind == "mail":
                body = TestMailSerializer(data=request.data)
                body.is_valid(raise_exception=True)
                sent = send_test_mail(body.validated_data.get("to", ""))
            else:
                sent = send_test_syslog(request.user.get_username())
        except ValueError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        except OSError as exc:  # the relay or the name does not answer: the settings need a look
            return Response({"detail": f"Sending failed: {exc}"}, status=status.HTTP_400_BAD_REQUEST)
        record("action", None, object_type="systemsettings", summary=f"test {self.kind} sent to {', '.join(sent)}")
        return Response({"sent_to": sent})


def control_status() -> dict:
    ok, reason = availability()
    return {"available": ok, "reason": reason,
            "services": [{"name": s.name, "unit": s.unit, "state": s.active, "sub_state": s.sub, "uptime": s.uptime}
                         for s in service_states()]}


class SystemControlView(APIView):
    """GET: each service's state and uptime. POST (admins, "confirm": true): restart a service, reboot, halt."""

    @extend_schema(responses=dict, summary="Service states and uptimes")
    def get(self, request):
        return Response(control_status())

    @extend_schema(request=ControlSerializer, responses={202: dict, 400: dict, 409: dict},
                   summary="Restart a service, reboot or halt (confirmed)")
    def post(self, request):
        body = ControlSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        action, service = body.validated_data["action"], body.validated_data["service"]
        try:
            command = control_request(action, service, request.user.get_username())
        except ControlUnavailable as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        record("action", None, object_type="systemcontrol", summary=f"{action} {service}".strip() + f": {command}")
        return Response({"requested": command}, status=status.HTTP_202_ACCEPTED)


class SupportArchiveView(APIView):
    """GET: the technical-support archive (.tar.gz): versions, configuration with secrets masked, apply runs,
    change log, health events, IPVS, our netfilter chains, addresses, routes, keepalived, recent logs."""

    permission_classes = [AdminOnly]

    @extend_schema(responses={(200, "application/gzip"): bytes}, summary="Download the support archive")
    def get(self, request):
        name, data = build_archive()
        record("action", None, object_type="support", summary=f"support archive {name} downloaded")
        response = HttpResponse(data, content_type="application/gzip")
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
