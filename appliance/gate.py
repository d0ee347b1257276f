"""Django glue of the input gate (appliance/inputgate.py): one mapping from field types to value kinds,
applied by the models (bundle import, HA sync, CLI), the API serializers, the WebUI forms and the JSON
parser. Whatever the path, a value meets the same rule and the same message."""

from __future__ import annotations

import json
from functools import cache

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from rest_framework import serializers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from appliance.inputgate import (
    DECIMAL,
    INTEGER,
    MAX_JSON_BYTES,
    MAX_JSON_DEPTH,
    MULTILINE,
    TEXT,
    GateError,
    gate_mapping,
    gate_value,
    json_depth_error,
)

_MODEL_KINDS = ((models.TextField, MULTILINE), (models.CharField, TEXT), (models.GenericIPAddressField, TEXT),
                (models.IntegerField, INTEGER), (models.FloatField, DECIMAL), (models.DecimalField, DECIMAL))
# Multiple choices are lists checked against fixed choices by the field itself: nothing to gate.
_SERIALIZER_KINDS = ((serializers.MultipleChoiceField, None), (serializers.IntegerField, INTEGER),
                     (serializers.FloatField, DECIMAL),
                     (serializers.DecimalField, DECIMAL), (serializers.CharField, TEXT),
                     (serializers.ChoiceField, TEXT), (serializers.IPAddressField, TEXT))
_FORM_KINDS = ((forms.MultipleChoiceField, None), (forms.IntegerField, INTEGER), (forms.FloatField, DECIMAL),
               (forms.DecimalField, DECIMAL),
               (forms.CharField, TEXT), (forms.ChoiceField, TEXT), (forms.GenericIPAddressField, TEXT))


def _kind(field, table) -> str | None:
    return next((kind for cls, kind in table if isinstance(field, cls)), None)


@cache
def model_kinds(model) -> dict[str, tuple[str, str]]:
    """{field name: (attribute name, kind)} for a model's editable concrete fields."""
    kinds = {}
    for field in model._meta.concrete_fields:
        kind = _kind(field, _MODEL_KINDS)
        if kind and not field.primary_key and field.editable:
            kinds[field.name] = (field.attname, kind)
    return kinds


def gate_model_data(model, data: dict) -> tuple[dict, dict[str, list[str]]]:
    """A raw mapping for `model(**data)` (a bundle's object): the refused fields left out, and why."""
    kinds = {name: kind for name, (_attname, kind) in model_kinds(model).items()}
    cleaned, errors = gate_mapping(data, kinds)
    return {k: v for k, v in cleaned.items() if k not in errors}, errors


class GatedModel:
    """Mixin for config models: clean_fields() gates raw attribute values first, so a bundle, an HA sync or
    a CLI import meets the same rules as the API and the forms."""

    def clean_fields(self, exclude=None):
        exclude = set(exclude or ())
        errors: dict[str, list] = {}
        for name, (attname, kind) in model_kinds(type(self)).items():
            if name in exclude:
                continue
            try:
                setattr(self, attname, gate_value(kind, getattr(self, attname)))
            except GateError as exc:
                errors[name] = [str(exc)]
        try:
            super().clean_fields(exclude=exclude | set(errors))
        except ValidationError as exc:
            errors.update(exc.error_dict)
        if errors:
            raise ValidationError(errors)


def gate_serializer_input(serializer: serializers.Serializer, data):
    """Pre-pass for Serializer.to_internal_value: a dict body, every writable field gated."""
    if not isinstance(data, dict):
        raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
    kinds = {name: kind for name, field in serializer.fields.items()
             if not field.read_only and getattr(field, "trim_whitespace", True)
             and (kind := _kind(field, _SERIALIZER_KINDS))}
    for name, kind in kinds.items():
        if kind == TEXT and serializer.fields[name].style.get("base_template") == "textarea.html":
            kinds[name] = MULTILINE
    cleaned, errors = gate_mapping(data, kinds)
    if errors:
        raise serializers.ValidationError(errors)
    return cleaned


class GatedSerializerMixin:
    """Writable serializers: the raw body passes the gate before DRF's fields parse it."""

    def to_internal_value(self, data):
        return super().to_internal_value(gate_serializer_input(self, data))


class GatedFormMixin:
    """WebUI forms: raw POST values pass the gate before the form's fields parse them."""

    def full_clean(self):
        refused = {}
        if self.is_bound:
            data = self.data.copy()
            for name, field in self.fields.items():
                kind = _kind(field, _FORM_KINDS)
                key = self.add_prefix(name)
                if kind is None or key not in data or isinstance(field.widget, forms.PasswordInput):
                    continue
                if kind == TEXT and isinstance(field.widget, forms.Textarea):
                    kind = MULTILINE
                try:
                    values = [gate_value(kind, v) for v in data.getlist(key)] if hasattr(data, "getlist") \
                        else [gate_value(kind, data[key])]
                except GateError as exc:
                    refused[name] = str(exc)
                    continue
                if hasattr(data, "setlist"):
                    data.setlist(key, values)
                else:
                    data[key] = values[0]
            self.data = data
        super().full_clean()
        for name, message in refused.items():
            if name in self.fields:
                self.add_error(name, message)


class GatedJSONParser(JSONParser):
    """JSON bodies: at most MAX_JSON_BYTES, nested at most MAX_JSON_DEPTH; a clear 400/413, never a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read(MAX_JSON_BYTES + 1) if stream is not None else b""
        if len(raw) > MAX_JSON_BYTES:
            raise PayloadTooLarge()
        return parse_json_bytes(raw, ParseError)


def parse_json_bytes(raw: bytes, error=ValueError):
    """Parse a JSON document under the gate's limits; raise `error(message)` when refused."""
    if len(raw) > MAX_JSON_BYTES:
        raise error(f"JSON body larger than {MAX_JSON_BYTES} bytes.")
    try:
        data = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise error(f"JSON nested deeper than {MAX_JSON_DEPTH} levels.") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise error(f"JSON parse error - {exc}") from None
    message = json_depth_error(data)
    if message:
        raise error(message)
    return data


class PayloadTooLarge(ParseError):
    status_code = 413
    default_detail = f"Request body larger than {MAX_JSON_BYTES} bytes."
    default_code = "payload_too_large"
