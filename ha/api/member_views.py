"""Active-active members API (/api/v1/cluster/members/): the list with each member's in-sync state, join
(admin), leave (admin), "sync now" (operator); and the member-to-member endpoints (…/peer/…).

Member endpoints take no user login: joining is authenticated by the member admin's credentials (or a
one-time token) in the offer; every other message by its HMAC signature (ha.sync.verify).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.roles import APPLY
from appliance.exceptions import django_errors_to_dict
from appliance.gate import parse_json_bytes

from .. import member_sync, members
from ..models import EditedMember, Member, MemberOutbox
from ..pairing import PairingRefused
from ..sync import Refused
from .serializers import MessageSerializer, OfferSerializer
from .views import _PeerEndpoint, _refused, received


class MemberSerializer(serializers.ModelSerializer):
    in_sync = serializers.SerializerMethodField()

    class Meta:
        model = Member
        fields = ["id", "address", "port", "scheme", "cert_fingerprint", "peer_name", "joined_at", "version",
                  "in_sync", "sync_state", "last_sync_at", "last_sync_error", "failures", "next_attempt_at",
                  "reachable", "last_contact_at"]
        read_only_fields = fields

    def get_in_sync(self, member) -> bool:
        return member.sync_state == Member.IN_SYNC and member.version == self.context.get("version")


class EditedBySerializer(serializers.ModelSerializer):
    class Meta:
        model = EditedMember
        fields = ["address", "port", "scheme", "peer_name", "node_name", "joined_at", "local_version",
                  "last_sync_at", "last_sync_error"]
        read_only_fields = fields


class EditedByStatusSerializer(serializers.Serializer):
    member = serializers.BooleanField(help_text="This appliance is a member: its configuration is edited elsewhere.")
    edited_by = EditedBySerializer(allow_null=True)


class JoinSerializer(OfferSerializer):
    address = serializers.IPAddressField(help_text="The new member's management address (its API).")
    port = serializers.IntegerField(min_value=1, max_value=65535, default=443)


def _outbox_version() -> int | None:
    box = MemberOutbox.objects.filter(pk=1).only("version").first()
    return box.version if box else None


class MemberViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin,
                    viewsets.GenericViewSet):
    """The members of the active-active cluster edited here, each with its in-sync state."""

    queryset = Member.objects.all()
    serializer_class = MemberSerializer
    pagination_class = None
    action_capabilities = {"sync": APPLY, "sync_all": APPLY}

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "version": _outbox_version()}

    @extend_schema(request=JoinSerializer, responses={201: MemberSerializer, 409: MessageSerializer,
                                                      502: MessageSerializer}, summary="Join a member")
    def create(self, request):
        ser = JoinSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        try:
            member = members.join(**ser.validated_data)
        except PairingRefused as exc:
            body = {"detail": str(exc), **({"fingerprint": exc.fingerprint} if exc.fingerprint else {})}
            return Response(body, status=exc.status)
        except ValidationError as exc:
            raise serializers.ValidationError(django_errors_to_dict(exc)) from exc
        return Response(self.get_serializer(member).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: MessageSerializer}, summary="Remove a member")
    def destroy(self, request, pk=None):
        said = members.leave(self.get_object())
        return Response({"detail": f"Removed; {said}."})

    @extend_schema(request=None, responses={202: MemberSerializer}, summary="Sync this member now")
    @action(detail=True, methods=["post"])
    def sync(self, request, pk=None):
        member = self.get_object()
        member_sync.sync_now(member.pk)
        member.refresh_from_db()
        return Response(self.get_serializer(member).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses=EditedByStatusSerializer, summary="Where this appliance's configuration "
                                                                       "comes from (on a member)")
    @action(detail=False, methods=["get"], url_path="edited-by")
    def edited_by(self, request):
        edited = EditedMember.current()
        return Response({"member": edited is not None,
                         "edited_by": EditedBySerializer(edited).data if edited else None})

    @extend_schema(request=None, responses={202: MessageSerializer, 400: MessageSerializer},
                   summary="Sync every member now", operation_id="cluster_members_sync_all")
    @action(detail=False, methods=["post"], url_path="sync")
    def sync_all(self, request):
        count = member_sync.sync_now()
        if not count:
            return Response({"detail": "There are no members."}, status=status.HTTP_400_BAD_REQUEST)
        return Response({"detail": f"Syncing {count} member(s)."}, status=status.HTTP_202_ACCEPTED)


# --------------------------------------------------------------------------- member to member


class _MemberEndpoint(_PeerEndpoint):
    """A message signed by the edited member this appliance follows (none: refused, as unsigned)."""

    def post(self, request):
        try:
            edited, payload = self.signed_payload(request, EditedMember.current())
        except Refused as exc:
            return _refused(exc)
        return self.handle(edited, payload)

    def handle(self, edited: EditedMember, payload: dict) -> Response:
        raise NotImplementedError


class MemberAcceptView(_MemberEndpoint):
    def post(self, request):  # unsigned: the offer carries this appliance's admin credentials instead
        try:
            offer = parse_json_bytes(request.body or b"{}")
        except ValueError:
            return Response({"detail": "The body must be a JSON object."}, status=400)
        try:
            edited = members.accept(offer, request)
        except PairingRefused as exc:
            return Response({"detail": str(exc)}, status=exc.status)
        return Response({"node": edited.node_name}, status=201)


class MemberConfigView(_MemberEndpoint):
    def handle(self, edited, payload):
        return received(member_sync.receive, edited, payload)


class MemberStatusView(_MemberEndpoint):
    def handle(self, edited, payload):
        return Response({"node": edited.node_name, "version": edited.local_version})


class MemberLeaveView(_MemberEndpoint):
    def handle(self, edited, payload):
        members.forget_edited(edited)
        return Response({"node": edited.node_name, "detail": "left"})
