"""The OpenAPI schema's error answers: each operation lists the error statuses it can give, all in
the one error shape of appliance.exceptions."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers
from rest_framework.permissions import AllowAny

from .concurrency import VersionedViewMixin

BODY_METHODS = ("POST", "PUT", "PATCH")


class ErrorItemSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable, e.g. required, invalid, not_found, conflict.")
    detail = serializers.CharField(help_text="The message for people.")
    attr = serializers.CharField(allow_null=True, help_text="The field path (nested with dots), or null.")


class ErrorSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["validation_error", "client_error", "server_error"])
    errors = ErrorItemSerializer(many=True)
    detail = serializers.CharField(help_text="All the messages in one line.")


class FulcrumAutoSchema(AutoSchema):
    def error_statuses(self) -> dict[str, str]:
        view, method = self.view, self.method
        found = {}
        if method in BODY_METHODS:
            found["400"] = "Invalid request: each error names its field."
        if not any(p is AllowAny for p in getattr(view, "permission_classes", ())):
            found["401"] = "Not logged in, or no valid API token."
            found["403"] = "Your role (or the token) does not allow this."
        if "{" in self.path:
            found["404"] = "No such object."
        if method in BODY_METHODS and hasattr(view, "get_queryset"):
            found["409"] = "Conflicts with saved data (another request saved the same key first)."
        if isinstance(view, VersionedViewMixin) and method in ("PUT", "PATCH", "DELETE"):
            found["412"] = "If-Match names a version that is no longer the object's (read it again)."
        if view.get_throttles():
            found["429"] = "Too many requests: retry after the Retry-After header's seconds."
        return found

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        error = self._get_response_for_code(ErrorSerializer, "400", direction=direction)
        for code, why in self.error_statuses().items():
            responses.setdefault(code, {**error, "description": why})
        return responses
