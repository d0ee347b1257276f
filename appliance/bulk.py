"""Bulk writes on a list URL, NetBox style: POST a list creates them all, PUT/PATCH a list of objects
with "id" updates them all, DELETE a list of {"id": …} deletes them all.

All or nothing: one transaction, each item through the view's own serializer (the same model rules
and change-log entry as a single write). An item's error names its index ("2.vip"); an item whose
"version" is not the saved one makes the whole request a 412, as If-Match does for one object.
The routes are added by appliance.api_urls.ApiRouter for views that have these methods.
"""

from __future__ import annotations

from contextlib import contextmanager

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response

from .concurrency import PreconditionFailed, destroy_versioned
from .exceptions import Conflict, django_errors_to_dict
from .pagination import MAX_PAGE_SIZE

ID, VERSION = "id", "version"
# What the columns hold (a BigAutoField id, a PositiveIntegerField version): larger is refused as a
# 400 before it reaches the database, which would fail on it (SQLite: an overflow, a 500).
MAX_ID, MAX_VERSION = 2**63 - 1, 2**31 - 1
BULK_ACTIONS = {"put": "bulk_update", "patch": "bulk_partial_update", "delete": "bulk_destroy"}


def _invalid(detail) -> exceptions.ValidationError:
    return exceptions.ValidationError(detail)


@contextmanager
def _item(index: int, created: dict[int, int]):
    """Errors raised for one item, with their field paths under the item's index."""
    try:
        yield
    except DjangoValidationError as exc:  # a model rule outside the serializer
        if getattr(exc, "existing_id", None) is not None and exc.existing_id not in created:
            raise Conflict({str(index): django_errors_to_dict(exc)}, existing_id=exc.existing_id) from exc
        raise _invalid({str(index): django_errors_to_dict(exc)}) from exc
    except exceptions.ValidationError as exc:
        raise _invalid({str(index): exc.detail}) from exc
    except Conflict as exc:
        if exc.existing_id in created:  # the key's holder is an earlier item of this very request
            fields = list(exc.detail) if isinstance(exc.detail, dict) else ["non_field_errors"]
            raise _invalid({str(index): {field: [f"Same as item {created[exc.existing_id]} of this request."]
                                         for field in fields}}) from exc
        raise Conflict({str(index): exc.detail}, existing_id=exc.existing_id) from exc
    except PreconditionFailed as exc:
        raise PreconditionFailed(f"Item {index}: the object changed since you read it (its version); "
                                 "read it again and retry. Nothing was saved.") from exc


def _items(data, *, keys_only: bool = False) -> list[dict]:
    """The request body as a list of objects (1..MAX_PAGE_SIZE), else a 400."""
    if not isinstance(data, list) or not data:
        raise _invalid({"non_field_errors": ["Expected a non-empty JSON list of objects."]})
    if len(data) > MAX_PAGE_SIZE:
        raise _invalid({"non_field_errors": [f"At most {MAX_PAGE_SIZE} objects per request."]})
    errors = {}
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            errors[str(index)] = ["Expected a JSON object."]
        elif keys_only and set(item) - {ID, VERSION}:
            errors[str(index)] = {name: ["Unknown field: a delete names only id (and version)."]
                                  for name in sorted(set(item) - {ID, VERSION})}
    if errors:
        raise _invalid(errors)
    return data


def _key(index: int, item: dict) -> tuple[int, set[int] | None]:
    """(id, the versions the item accepts: None when it names none)."""
    errors = {}
    pk, version = item.get(ID), item.get(VERSION)
    if type(pk) is not int or not 1 <= pk <= MAX_ID:
        errors[ID] = ["Required: the object's id (a positive integer)."]
    if version is not None and (type(version) is not int or not 1 <= version <= MAX_VERSION):
        errors[VERSION] = ["The version you read (a positive integer), or leave it out."]
    if errors:
        raise _invalid({str(index): errors})
    return pk, (None if version is None else {version})


class BulkWriteMixin:
    """For model viewsets whose list URL should also take lists (see the module's notes)."""

    def create(self, request, *args, **kwargs):
        """Create one object, or every object of a list (all or nothing; answered as a list)."""
        if not isinstance(request.data, list):
            return super().create(request, *args, **kwargs)
        items = _items(request.data)
        created: dict[int, int] = {}  # id → index
        answers = []
        with transaction.atomic():
            for index, item in enumerate(items):
                with _item(index, created):
                    serializer = self.get_serializer(data=item)
                    serializer.is_valid(raise_exception=True)
                    self.perform_create(serializer)
                created[serializer.instance.pk] = index
                answers.append(serializer.data)
        return Response(answers, status=status.HTTP_201_CREATED)

    def bulk_update(self, request, *args, partial: bool = False, **kwargs):
        """Update every object of the list, each named by its "id", all or nothing. An object that
        gives its "version" is saved only if it is still at it; otherwise nothing is saved (412)."""
        items = _items(request.data)
        self._refuse_if_match()
        answers, context = [], self.get_serializer_context()
        with transaction.atomic():
            objects = self._locked(items)
            for index, item in enumerate(items):
                pk, versions = _key(index, item)
                body = {k: v for k, v in item.items() if k not in (ID, VERSION)}
                with _item(index, {}):
                    serializer = self.get_serializer(objects[pk], data=body, partial=partial,
                                                     context={**context, "if_match": versions})
                    serializer.is_valid(raise_exception=True)
                    self.perform_update(serializer)
                answers.append(serializer.data)
        return Response(answers)

    def bulk_partial_update(self, request, *args, **kwargs):
        """Change the given fields of every object of the list, each named by its "id", all or nothing.
        An object that gives its "version" is saved only if it is still at it; otherwise nothing is (412)."""
        return self.bulk_update(request, *args, partial=True, **kwargs)

    def bulk_destroy(self, request, *args, **kwargs):
        """Delete every object the list names ({"id": …, "version": …}), all or nothing."""
        items = _items(request.data, keys_only=True)
        self._refuse_if_match()
        with transaction.atomic():
            objects = self._locked(items)
            for index, item in enumerate(items):
                pk, versions = _key(index, item)
                with _item(index, {}):
                    destroy_versioned(objects[pk], versions)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def perform_update(self, serializer):  # as UpdateModelMixin's, for views without single updates
        serializer.save()

    def _refuse_if_match(self):
        if self.request.headers.get("If-Match"):
            raise _invalid({"non_field_errors": [
                "If-Match names one object's version: in a list, give each object its own \"version\"."]})

    def _locked(self, items: list[dict]) -> dict:
        """The objects the items name, from this view's queryset (a nested URL: its service's only),
        their rows locked in id order so two bulk requests cannot deadlock; an unknown or repeated id
        is a 400 naming its item."""
        keys = [_key(index, item)[0] for index, item in enumerate(items)]
        seen, errors = set(), {}
        for index, pk in enumerate(keys):
            if pk in seen:
                errors[str(index)] = {ID: ["Named twice in this request."]}
            seen.add(pk)
        queryset = self.get_queryset()
        model = queryset.model
        list(model.objects.select_for_update().filter(pk__in=seen).order_by("pk").values_list("pk", flat=True))
        objects = queryset.in_bulk(seen)
        for index, pk in enumerate(keys):
            if pk not in objects:
                errors.setdefault(str(index), {ID: ["No such object here."]})
        if errors:
            raise _invalid(errors)
        return objects


class BulkItemSerializer(serializers.Serializer):
    """What a bulk delete names per object (and what a bulk update adds to each object)."""

    id = serializers.IntegerField(min_value=1, max_value=MAX_ID, help_text="The object's id.")
    version = serializers.IntegerField(
        min_value=1, max_value=MAX_VERSION, required=False,
        help_text="The version you read: if the object is no longer at it, nothing is saved (412).")
