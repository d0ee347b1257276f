from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.response import Response

from audit.models import ChangeRecord
from audit.recording import record

from ..models import ApiToken
from ..permissions import AdminOnly
from .serializers import ApiTokenSerializer, NewApiTokenSerializer, UserSerializer


class ApiTokenViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                      mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Your own API tokens. The key is shown once, at creation; DELETE revokes."""

    serializer_class = ApiTokenSerializer
    permission_classes = [permissions.IsAuthenticated]  # any role may hold tokens; they carry its role
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ApiToken.objects.none()
        return ApiToken.objects.filter(user=self.request.user)

    @extend_schema(request=ApiTokenSerializer, responses={201: NewApiTokenSerializer})
    def create(self, request, *args, **kwargs):
        body = ApiTokenSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        token, key = ApiToken.issue(request.user, body.validated_data["name"],
                                    body.validated_data.get("expires_at"))
        record(ChangeRecord.CREATE, token, object_type="apitoken", summary=f"API token '{token.name}' created")
        data = NewApiTokenSerializer(token).data
        data["key"] = key
        return Response(data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        instance.revoke()
        record(ChangeRecord.DELETE, instance, object_type="apitoken",
               summary=f"API token '{instance.name}' revoked")


class UserViewSet(viewsets.ModelViewSet):
    """Users and their roles (admins only)."""

    queryset = get_user_model().objects.select_related("profile").order_by("username")
    serializer_class = UserSerializer
    permission_classes = [AdminOnly]
    search_fields = ["username", "email"]
    lookup_value_regex = r"\d+"

    def perform_create(self, serializer):
        user = serializer.save()
        record(ChangeRecord.CREATE, user, object_type="user", summary=f"user '{user.username}' created",
               after={"role": serializer.validated_data["role"]})

    def perform_update(self, serializer):
        user = serializer.save()
        record(ChangeRecord.UPDATE, user, object_type="user", summary="changed " + ", ".join(
            sorted(k if k != "password" else "password" for k in serializer.validated_data)))

    def perform_destroy(self, instance):
        record(ChangeRecord.DELETE, instance, object_type="user", summary=f"user '{instance.username}' deleted")
        instance.delete()
