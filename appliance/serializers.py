"""Serializers every app's API builds on: the model's own rules decide (full_clean), an unknown body
field is refused by name, a stale If-Match is a 412, a key another object holds a 409 naming it."""

from __future__ import annotations

import copy

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework.settings import api_settings
from rest_framework.validators import UniqueValidator

from appliance.concurrency import PreconditionFailed
from appliance.exceptions import Conflict, django_errors_to_dict
from appliance.gate import GatedSerializerMixin
from appliance.versioning import StaleVersion, Versioned, holder_of_key, update_changed


class RefuseUnknownFields:
    """A body field the serializer does not know is a 400 naming it, not silently dropped (a typo
    such as `wieght` must not answer 200 and change nothing). Read-only fields are known: a GET
    body sent back with PUT is accepted."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


def versioned_update(serializer, instance, validated_data, prepare=None):
    """update_changed() for a serializer's update: the request's If-Match (412 when stale), model errors
    as a 400 naming their fields."""
    try:
        return update_changed(type(instance), instance.pk, validated_data,
                              expected_versions=serializer.context.get("if_match"), prepare=prepare)
    except StaleVersion as exc:
        raise PreconditionFailed() from exc
    except DjangoValidationError as exc:
        raise serializers.ValidationError(django_errors_to_dict(exc)) from exc


class CleanModelSerializer(RefuseUnknownFields, GatedSerializerMixin, serializers.ModelSerializer):
    """Validates through the model's full_clean(): the one set of rules the UI and import use too.

    DRF's own unique/unique-together validators are dropped: they would answer before the model's rules
    with other words (e.g. a bare "already exists" where the rules name the service holding the mark).
    """

    def get_fields(self):
        fields = super().get_fields()
        for field in fields.values():
            field.validators = [v for v in field.validators if not isinstance(v, UniqueValidator)]
        return fields

    def get_validators(self):
        return []

    def validate(self, attrs):
        attrs = self._replacing(super().validate(attrs))
        instance = copy.copy(self.instance) if self.instance is not None else self.Meta.model()
        for name, value in attrs.items():
            setattr(instance, name, value)
        self.prepare_instance(instance)
        try:
            instance.full_clean()
        except DjangoValidationError as exc:
            errors = django_errors_to_dict(exc)
            if getattr(instance, "duplicate_of", None) is not None:  # the domain rules found the holder
                raise Conflict(errors, existing_id=instance.duplicate_of) from exc
            held = holder_of_key(instance)  # models without such rules (floating IPs): their natural key
            if held is not None:  # e.g. a repeated create: 409, with the id of the object holding the name
                holder_id, field = held
                messages = errors.get(field) or errors.get(api_settings.NON_FIELD_ERRORS_KEY) or ["Already taken."]
                raise Conflict({field: messages}, existing_id=holder_id) from exc
            raise serializers.ValidationError(errors) from exc
        self._clean_instance = instance
        return attrs

    def _replacing(self, attrs: dict) -> dict:
        """PUT replaces the object: a writable field the body leaves out goes back to its default (PATCH
        keeps it). Write-only secrets keep their stored value (no GET shows them to send back), and
        runtime state is never a configuration write's business."""
        if self.instance is None or self.partial:
            return attrs
        model = self.Meta.model
        runtime = set(getattr(model, "runtime_fields", ()))
        out = dict(attrs)
        for field in self.fields.values():
            if field.read_only or field.write_only or field.source in out or field.source in runtime:
                continue
            try:
                model_field = model._meta.get_field(field.source)
            except FieldDoesNotExist:
                continue
            if model_field.has_default():
                out[field.source] = model_field.get_default()
            elif model_field.null:
                out[field.source] = None
            elif model_field.blank and model_field.empty_strings_allowed:
                out[field.source] = ""
        return out

    def prepare_instance(self, instance):
        """Hook: set what the request does not carry (e.g. the parent from the URL)."""

    def to_representation(self, instance):
        data = super().to_representation(instance)
        only = self.context.get("only_fields")  # ?fields=… or ?brief=1 (appliance.filtering.selected_fields)
        if only:
            return {name: data[name] for name in only if name in data}
        return data

    def create(self, validated_data):
        self._clean_instance.save()
        return self._clean_instance

    def update(self, instance, validated_data):
        """Only the fields that change are written, to the row as saved now (not as this request read
        it), so concurrent edits of other fields survive; If-Match names the version it must be.
        A model without a version (one host's own settings: HA peer and links, the host network) is
        saved as validate() cleaned it."""
        if not isinstance(instance, Versioned):
            self._clean_instance.save()
            return self._clean_instance
        return versioned_update(self, instance, validated_data, prepare=self.prepare_instance)
