from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.response import Response

from .. import service
from ..models import ApiToken
from ..permissions import AdminOnly
from .serializers import ApiTokenSerializer, NewApiTokenSerializer, UserSerializer, rule_error


class ApiTokenViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                      mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """API tokens: your own, or (admins) everyone's. The key is shown once, at creation; DELETE revokes."""

    serializer_class = ApiTokenSerializer
    permission_classes = [permissions.IsAuthenticated]  # any role may hold tokens; scopes are capped by it
    filterset_fields = ["user"]
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ApiToken.objects.none()
        return service.visible_tokens(self.request.user)

    @extend_schema(request=ApiTokenSerializer, responses={201: NewApiTokenSerializer})
    def create(self, request, *args, **kwargs):
        body = ApiTokenSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            token, key = service.issue_token(request.user, name=data["name"], owner=data.get("user"),
                                             scopes=data.get("scopes"), expires_at=data.get("expires_at"))
        except service.AccountRuleError as exc:
            raise rule_error(exc) from None
        answer = NewApiTokenSerializer(token).data
        answer["key"] = key
        return Response(answer, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        try:
            service.revoke_token(self.request.user, instance)
        except service.AccountRuleError as exc:
            raise rule_error(exc) from None


class UserViewSet(viewsets.ModelViewSet):
    """Users and their roles (admins only). Nobody demotes, deactivates or deletes themselves or the last admin."""

    queryset = get_user_model().objects.select_related("profile").order_by("username")
    serializer_class = UserSerializer
    permission_classes = [AdminOnly]
    search_fields = ["username", "email"]
    lookup_value_regex = r"\d+"

    def perform_destroy(self, instance):
        try:
            service.delete_user(self.request.user, instance)
        except service.AccountRuleError as exc:
            raise rule_error(exc) from None
