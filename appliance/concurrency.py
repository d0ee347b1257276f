"""HTTP side of optimistic concurrency: ETag out, If-Match in, 412 on a stale version.

An object's ETag is its configuration version (appliance.versioning.Versioned), quoted.
"""

from __future__ import annotations

from django.db import transaction
from rest_framework import status
from rest_framework.exceptions import APIException

from .filtering import BRIEF_PARAM, FIELDS_PARAM, selected_fields


class PreconditionFailed(APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The object changed since you read it: read it again (its ETag) and retry."
    default_code = "precondition_failed"


def etag(version: int) -> str:
    return f'"{version}"'


def if_match_versions(request) -> set[int] | None:
    """The versions If-Match accepts; None when it is absent or `*` (any version).

    An entity tag that is not one of ours can never match: the write is refused, not let through.
    """
    header = request.headers.get("If-Match", "").strip()
    if not header or header == "*":
        return None
    versions = set()
    for tag in header.split(","):
        tag = tag.strip().removeprefix("W/").strip('"')
        if tag.isascii() and tag.isdigit():
            versions.add(int(tag))
    return versions


class VersionedViewMixin:
    """For views of Versioned objects: an object's answer carries its ETag, writes honour If-Match;
    answers show only the fields `?fields=` (or `?brief=1`) names."""

    brief_fields: tuple[str, ...] = ()  # what ?brief=1 answers, where a view offers it

    @property
    def extra_query_params(self):
        return (FIELDS_PARAM, BRIEF_PARAM) if self.brief_fields else (FIELDS_PARAM,)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        request = getattr(self, "request", None)
        context["if_match"] = if_match_versions(request) if request is not None else None
        if request is not None and not getattr(self, "swagger_fake_view", False):
            readable = [name for name, field in self.get_serializer_class()().fields.items()
                        if not field.write_only]
            context["only_fields"] = selected_fields(request, readable, self.brief_fields)
        return context

    def get_object(self):
        obj = super().get_object()
        self._read_version = getattr(obj, "version", None)  # the ETag even when ?fields= leaves version out
        return obj

    def finalize_response(self, request, response, *args, **kwargs):
        # One object's representation (never a list page or an action's result) carries its version.
        response = super().finalize_response(request, response, *args, **kwargs)
        data = getattr(response, "data", None)
        if not status.is_success(response.status_code) or not isinstance(data, dict):
            return response
        if isinstance(data.get("version"), int):
            response["ETag"] = etag(data["version"])
        elif getattr(self, "action", None) == "retrieve" and isinstance(getattr(self, "_read_version", None), int):
            response["ETag"] = etag(self._read_version)
        return response

    def perform_destroy(self, instance):
        destroy_versioned(instance, if_match_versions(self.request))


def destroy_versioned(instance, wanted: set[int] | None) -> None:
    """Delete `instance` as saved now, if its version is one of `wanted` (None: any); else 412."""
    with transaction.atomic():
        fresh = type(instance).objects.select_for_update().get(pk=instance.pk)
        if wanted is not None and fresh.version not in wanted:
            raise PreconditionFailed()
        fresh.delete()
