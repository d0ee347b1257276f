from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from appliance.gate import GatedSerializerMixin

from .. import service
from ..models import ApiToken
from ..roles import ROLE_CHOICES, SCOPES, role_of


def rule_error(exc: service.AccountRuleError) -> serializers.ValidationError:
    """The service's refusal as a 400 naming the field."""
    return serializers.ValidationError({exc.field: [exc.message]})


class ApiTokenSerializer(GatedSerializerMixin, serializers.ModelSerializer):
    user = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.all(), required=False,
        help_text="Whose token (admins only; e.g. a service account). Default: yours.")
    username = serializers.CharField(source="user.username", read_only=True)
    scopes = serializers.MultipleChoiceField(
        choices=SCOPES, required=False,
        help_text="What the token may do. Default: all your role allows; never more than the owner's or "
                  "your role.")

    class Meta:
        model = ApiToken
        fields = ["id", "name", "user", "username", "scopes", "key_id", "created_at", "expires_at", "last_used_at",
                  "revoked_at"]
        read_only_fields = ["key_id", "created_at", "last_used_at", "revoked_at"]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["scopes"] = [s for s in SCOPES if s in instance.scopes]  # stable order, a list in JSON
        return data


class NewApiTokenSerializer(ApiTokenSerializer):
    key = serializers.CharField(read_only=True, help_text="Shown this once; only its hash is stored.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "key"]


class RoleField(serializers.ChoiceField):
    """The user's role, read through accounts.roles (superusers are admins; no profile: read-only)."""

    def get_attribute(self, instance):
        return role_of(instance)


class UserSerializer(GatedSerializerMixin, serializers.ModelSerializer):
    role = RoleField(choices=ROLE_CHOICES)
    password = serializers.CharField(write_only=True, required=False, style={"input_type": "password"},
                                     trim_whitespace=False)  # a password is taken as typed, never gated
    service_account = serializers.BooleanField(
        required=False, default=False,
        help_text="A user for API tokens only: no password, cannot log in interactively.")

    class Meta:
        model = get_user_model()
        fields = ["id", "username", "email", "is_active", "role", "password", "service_account", "last_login",
                  "date_joined"]
        read_only_fields = ["last_login", "date_joined"]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["service_account"] = not instance.has_usable_password()
        return data

    def validate_password(self, value):
        try:
            validate_password(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(list(exc.messages)) from exc
        return value

    def validate(self, attrs):
        if self.instance is None:
            if attrs.get("service_account") and attrs.get("password"):
                raise serializers.ValidationError({"password": ["A service account has no password."]})
            if not attrs.get("service_account") and not attrs.get("password"):
                raise serializers.ValidationError({"password": ["A new user needs a password."]})
        elif "service_account" in self.initial_data:
            raise serializers.ValidationError({"service_account": ["Set only when the user is created."]})
        return attrs

    def create(self, validated_data):
        return service.create_user(username=validated_data["username"], password=validated_data.get("password"),
                                   role=validated_data["role"], email=validated_data.get("email", ""),
                                   is_active=validated_data.get("is_active", True))

    def update(self, instance, validated_data):
        try:
            return service.update_user(self.context["request"].user, instance, role=validated_data.get("role"),
                                       is_active=validated_data.get("is_active"),
                                       email=validated_data.get("email"), password=validated_data.get("password"))
        except service.AccountRuleError as exc:
            raise rule_error(exc) from None
