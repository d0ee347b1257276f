"""HA pair API: status, pairing, sync now, VRRP links, the HA log; and the peer-to-peer endpoints.

Peer endpoints (``ha/peer/…``) take no user login: pairing is authenticated by the peer admin's
credentials (or a one-time token) in the offer; every other message by its HMAC signature.
"""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.roles import APPLY
from appliance.exceptions import django_errors_to_dict
from appliance.gate import parse_json_bytes
from cluster.bundle import BundleError
from cluster.tasks import start_apply

from .. import keepalived, pairing
from ..models import Event, Link, PairingToken, Peer
from ..replication import sync_now
from ..sync import Refused, receive_config, verify
from .serializers import (
    EventSerializer,
    LinkSerializer,
    MessageSerializer,
    PairSerializer,
    PeerSerializer,
    PeerSettingsSerializer,
    StatusSerializer,
    TokenSerializer,
)

log = logging.getLogger("fulcrum.ha")


def status_data() -> dict:
    peer = Peer.current()
    return {
        "paired": peer is not None,
        "in_sync": peer.in_sync if peer else None,
        "peer": PeerSerializer(peer).data if peer else None,
        "keepalived": keepalived.status(),
        "vip_holder": "keepalived" if peer else "apply",
    }


def _refresh(user) -> None:
    """After pairing, unpairing or a VRRP setting change: apply (hands the addresses over), render."""
    start_apply(user, getattr(user, "username", "system"), reason="ha pairing")


class StatusView(APIView):
    """The HA pair: roles, peer reachability, configuration sync (versions), keepalived state."""

    @extend_schema(responses=StatusSerializer)
    def get(self, request):
        return Response(status_data())

    @extend_schema(request=PeerSettingsSerializer, responses=StatusSerializer,
                   summary="Change VRRP settings (advert interval, preempt, router id, sync interface)")
    def patch(self, request):
        peer = Peer.current()
        if peer is None:
            return Response({"detail": "This appliance is not paired."}, status=status.HTTP_400_BAD_REQUEST)
        ser = PeerSettingsSerializer(peer, data=request.data, partial=True)
        ser.is_valid(raise_exception=True)
        ser.save()
        _refresh(request.user)
        return Response(status_data())


class PairView(APIView):
    """Pair with a peer (POST) or unpair (DELETE)."""

    @extend_schema(request=PairSerializer, responses={201: StatusSerializer, 409: MessageSerializer,
                                                      502: MessageSerializer})
    def post(self, request):
        ser = PairSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        data = dict(ser.validated_data)
        address = data.pop("peer_address")
        try:
            pairing.pair(peer_address=address, actor_note=f" by {request.user.username}", **data)
        except pairing.PairingRefused as exc:
            body = {"detail": str(exc), **({"fingerprint": exc.fingerprint} if exc.fingerprint else {})}
            return Response(body, status=exc.status)
        _refresh(request.user)
        return Response(status_data(), status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: MessageSerializer, 400: MessageSerializer})
    def delete(self, request):
        try:
            said = pairing.unpair()
        except pairing.PairingRefused as exc:
            return Response({"detail": str(exc)}, status=exc.status)
        _refresh(request.user)
        return Response({"detail": f"Unpaired; {said}."})


class PairingTokenView(APIView):
    """Make a one-time pairing token on the appliance that will become the peer."""

    @extend_schema(request=None, responses={201: TokenSerializer, 409: MessageSerializer})
    def post(self, request):
        reason = pairing.unconfigured_reason()
        if reason:
            return Response({"detail": f"This appliance cannot be paired: {reason}."}, status=409)
        return Response({"token": PairingToken.issue(30), "expires_in_minutes": 30}, status=201)


class SyncNowView(APIView):
    """Send the configuration of the last apply to the peer now."""

    required_capability = APPLY

    @extend_schema(request=None, responses={202: StatusSerializer, 400: MessageSerializer})
    def post(self, request):
        if not sync_now():
            return Response({"detail": "This appliance is not paired."}, status=status.HTTP_400_BAD_REQUEST)
        return Response(status_data(), status=status.HTTP_202_ACCEPTED)


class LinkViewSet(viewsets.ModelViewSet):
    """Per interface, the peer's address for VRRP adverts (unicast). Local settings, not synced."""

    queryset = Link.objects.all()
    serializer_class = LinkSerializer
    pagination_class = None


class EventViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The HA log: syncs, refused messages, role changes, pairing."""

    queryset = Event.objects.all()
    serializer_class = EventSerializer
    filterset_fields = ["kind"]


# --------------------------------------------------------------------------- peer to peer


HA_PEER = object()  # signed_payload's default signer


class _PeerEndpoint(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    schema = None  # machine-to-machine; not part of the admin API's schema

    def get(self, request):
        return Response({"detail": "Peer endpoint: signed POST from the paired appliance only."}, status=403)

    def remote(self, request) -> str:
        return request.META.get("REMOTE_ADDR", "")

    def signed_payload(self, request, signer=HA_PEER) -> tuple[Peer, dict]:
        """The JSON body, once verified as signed by `signer` (default: the HA peer; None: nobody)."""
        body = request.body
        peer = Peer.current() if signer is HA_PEER else signer
        verify(peer, request.headers, request.method, request.path, body, remote=self.remote(request))
        try:
            payload = parse_json_bytes(body or b"{}")
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise serializers.ValidationError({"detail": "The body must be a JSON object."})
        return peer, payload


def _refused(exc: Refused) -> Response:
    return Response({"detail": f"Refused: {exc}"}, status=status.HTTP_403_FORBIDDEN)


class PeerAcceptView(_PeerEndpoint):
    def post(self, request):
        try:
            offer = parse_json_bytes(request.body or b"{}")
        except ValueError:
            return Response({"detail": "The body must be a JSON object."}, status=400)
        try:
            peer = pairing.accept(offer, request)
        except pairing.PairingRefused as exc:
            return Response({"detail": str(exc)}, status=exc.status)
        start_apply(None, f"peer {peer.peer_name}", reason="ha pairing")
        return Response({"node": peer.node_name, "role": peer.role}, status=201)


class PeerConfigView(_PeerEndpoint):
    def post(self, request):
        try:
            peer, payload = self.signed_payload(request)
        except Refused as exc:
            return _refused(exc)
        return received(receive_config, peer, payload)


def received(receive, sender, payload: dict) -> Response:
    """The answer to a configuration a peer or the edited member sent: `receive(sender, payload)`'s, or 400."""
    try:
        return Response(receive(sender, payload))
    except BundleError as exc:
        Event.objects.create(kind=Event.SYNC, message=f"refused an invalid bundle: {exc.message_dict}"[:500])
        raise serializers.ValidationError(django_errors_to_dict(exc)) from exc
    except (ValueError, ValidationError) as exc:
        return Response({"detail": str(exc)}, status=400)


class PeerStatusView(_PeerEndpoint):
    def post(self, request):
        try:
            peer, payload = self.signed_payload(request)
        except Refused as exc:
            return _refused(exc)
        from django.utils import timezone

        Peer.objects.filter(pk=1).update(reachable=True, last_contact_at=timezone.now())
        return Response({"node": peer.node_name, "role": peer.role, "version": peer.local_version,
                         "vrrp_state": peer.vrrp_state})


class PeerUnpairView(_PeerEndpoint):
    def post(self, request):
        try:
            peer, _ = self.signed_payload(request)
        except Refused as exc:
            return _refused(exc)
        pairing.forget(peer, note="the peer unpaired")
        start_apply(None, "peer", reason="ha pairing")
        return Response({"node": peer.node_name, "detail": "unpaired"})
