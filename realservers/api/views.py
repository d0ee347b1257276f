from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.roles import OPERATE
from appliance.bulk import BulkWriteMixin
from appliance.concurrency import VersionedViewMixin
from virtualservices.models import VirtualService

from ..actions import ACTIONS, act, servers_at
from ..filtersets import RealServerFilterSet
from ..models import RealServer
from .serializers import (
    NestedRealServerSerializer,
    RealServerSerializer,
    StateByAddressSerializer,
    StateChangeResultSerializer,
    StateNotFoundSerializer,
)

# The kernel's answer decides the HTTP status: the saved state stands either way.
KERNEL_HTTP_STATUS = {"done": status.HTTP_200_OK, "failed": status.HTTP_502_BAD_GATEWAY,
                      "unreachable": status.HTTP_503_SERVICE_UNAVAILABLE}


def _answer(state: str, servers: list, changed: list, kernel: dict) -> Response:
    data = StateChangeResultSerializer(
        {"state": state, "changed": changed, "matched": len(servers), "kernel": kernel}).data
    if kernel["status"] != "done":  # an error answer in the one error shape, the kernel's answer beside it
        what = "refused it" if kernel["status"] == "failed" else "was not reached"
        data = {"detail": f"The state is saved, but the kernel {what}: {kernel.get('error') or 'no answer'}", **data}
    return Response(data, status=KERNEL_HTTP_STATUS[kernel["status"]])


def _state_action(state_name: str, detail: bool):
    """Build the online/drain/halt actions, for one server (detail) or by address."""
    state = ACTIONS[state_name]

    if detail:
        def one(self, request, pk=None):
            servers = [self.get_object()]
            changed, kernel = act(servers, state)
            return _answer(state, servers, changed, kernel)
        one.__name__ = state_name  # DRF names the action after the function
        # extend_schema goes on the action (outermost), or the schema shows the viewset's serializer.
        return extend_schema(request=None, responses={code: StateChangeResultSerializer
                                                      for code in KERNEL_HTTP_STATUS.values()},
                             summary=f"Set one real server {state_name}")(
            action(detail=True, methods=["post"], url_path=state_name, url_name=state_name)(one))

    def by_address(self, request):
        body = StateByAddressSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        servers = list(servers_at(body.validated_data["address"], body.validated_data.get("port")))
        if not servers:
            return Response({"address": ["No real server has this address."]}, status=status.HTTP_404_NOT_FOUND)
        changed, kernel = act(servers, state)
        return _answer(state, servers, changed, kernel)
    by_address.__name__ = f"by_address_{state_name}"
    return extend_schema(request=StateByAddressSerializer,
                         responses={**{code: StateChangeResultSerializer for code in KERNEL_HTTP_STATUS.values()},
                                    404: StateNotFoundSerializer},
                         summary=f"Set every real server with one address {state_name}")(
        action(detail=False, methods=["post"], url_path=f"by-address/{state_name}",
               url_name=f"by-address-{state_name}")(by_address))


class RealServerViewSet(BulkWriteMixin, VersionedViewMixin, viewsets.ModelViewSet):
    """Real servers of every service. Operators may only online/drain/halt them."""

    queryset = RealServer.objects.select_related("service").all()
    serializer_class = RealServerSerializer
    filterset_class = RealServerFilterSet
    ordering_fields = ["label", "address", "service", "id", "weight"]
    lookup_value_regex = r"\d+"
    brief_fields = ("id", "service", "label", "address", "port", "version")
    action_capabilities = {name: OPERATE for name in
                           [*ACTIONS, *(f"by_address_{n}" for n in ACTIONS)]}

    online = _state_action("online", detail=True)
    drain = _state_action("drain", detail=True)
    halt = _state_action("halt", detail=True)
    by_address_online = _state_action("online", detail=False)
    by_address_drain = _state_action("drain", detail=False)
    by_address_halt = _state_action("halt", detail=False)


class ServiceRealServerViewSet(BulkWriteMixin, VersionedViewMixin, mixins.ListModelMixin,
                               mixins.CreateModelMixin, viewsets.GenericViewSet):
    """The real servers of one virtual service."""

    serializer_class = NestedRealServerSerializer
    filterset_class = RealServerFilterSet

    def service(self):
        if not hasattr(self, "_service"):
            self._service = get_object_or_404(VirtualService, pk=self.kwargs["service_pk"])
        return self._service

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return RealServer.objects.none()
        return RealServer.objects.select_related("service").filter(service=self.service())

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if not getattr(self, "swagger_fake_view", False) and "service_pk" in self.kwargs:
            context["service"] = self.service()
        return context
