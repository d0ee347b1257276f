"""The OpenAPI schema's error answers: each operation lists the error statuses it can give, all in
the one error shape of appliance.exceptions."""

from __future__ import annotations

import copy
from functools import cache

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny

from .bulk import BULK_ACTIONS, BulkItemSerializer, BulkWriteMixin
from .concurrency import VersionedViewMixin
from .filtering import BRIEF_PARAM, FIELDS_PARAM

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
        if method in BODY_METHODS or self._is_bulk():
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

    # Bulk writes (appliance.bulk): list bodies, documented from the view's own serializer.
    def _is_bulk(self) -> bool:
        return isinstance(self.view, BulkWriteMixin) and getattr(self.view, "action", None) in BULK_ACTIONS.values()

    def _one_or_many(self, suffix: str):
        serializer = self._get_serializer()
        return PolymorphicProxySerializer(
            component_name=f"{_component(type(serializer))}{suffix}", resource_type_field_name=None, many=False,
            serializers=[type(serializer), type(serializer)(many=True)])

    def get_request_serializer(self):
        action = getattr(self.view, "action", None)
        if isinstance(self.view, BulkWriteMixin) and action == "create":
            return self._one_or_many("OneOrMany")
        if self._is_bulk():
            if action == "bulk_destroy":
                return BulkItemSerializer(many=True)
            return bulk_update_serializer(type(self._get_serializer()))(many=True, partial=self.method == "PATCH")
        return super().get_request_serializer()

    def get_response_serializers(self):
        action = getattr(self.view, "action", None)
        if isinstance(self.view, BulkWriteMixin) and action == "create":
            return {201: self._one_or_many("OneOrManyCreated")}
        if action == "bulk_destroy" and self._is_bulk():
            return {204: None}
        if self._is_bulk():
            return type(self._get_serializer())(many=True)
        return super().get_response_serializers()

    def _get_request_body(self, direction="request"):
        if self.method == "DELETE" and self._is_bulk():  # a bulk delete's body names the objects
            self.method = "POST"
            try:
                return super()._get_request_body(direction)
            finally:
                self.method = "DELETE"
        return super()._get_request_body(direction)

    def get_filter_backends(self):  # a bulk write filters nothing and answers one unpaginated list
        return [] if self._is_bulk() else super().get_filter_backends()

    def _get_paginator(self):
        return None if self._is_bulk() else super()._get_paginator()

    def get_operation_id(self):
        if self._is_bulk():
            return "_".join([*(t.replace("-", "_") for t in self._tokenize_path()), self.view.action])
        return super().get_operation_id()

    def get_override_parameters(self):
        # ?fields= (and ?brief=) on the answers of one object and of a list.
        if not isinstance(self.view, VersionedViewMixin) or self.method != "GET" \
                or getattr(self.view, "action", None) not in (None, "list", "retrieve"):
            return super().get_override_parameters()
        params = [OpenApiParameter(FIELDS_PARAM, str, description=(
            "Comma-separated field names: the answer shows only these (e.g. id,label,vip); "
            "an unknown name is a 400."))]
        if self.view.brief_fields:
            params.append(OpenApiParameter(BRIEF_PARAM, bool, description=(
                f"Answer only {', '.join(self.view.brief_fields)} (not together with fields).")))
        return [*super().get_override_parameters(), *params]

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        error = self._get_response_for_code(ErrorSerializer, "400", direction=direction)
        for code, why in self.error_statuses().items():
            responses.setdefault(code, {**error, "description": why})
        return responses


def _component(serializer_class) -> str:
    return serializer_class.__name__.removesuffix("Serializer")


@cache
def bulk_update_serializer(serializer_class):
    """The view's serializer plus the id (and version) each object of a bulk update names (schema only)."""
    item = BulkItemSerializer()
    return type(f"Bulk{_component(serializer_class)}Serializer", (serializer_class,), {
        "id": copy.deepcopy(item.fields["id"]), "version": copy.deepcopy(item.fields["version"]),
        "__module__": __name__})
