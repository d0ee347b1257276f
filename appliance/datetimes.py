"""Date-time input fields that hand the database UTC.

Python accepts UTC offsets up to ±23:59 and PostgreSQL only up to ±15:59, so "…T04:03:05+20:17"
parsed fine and then failed in the query (a 500). In UTC every instant Python can hold is one
PostgreSQL can too; one outside years 1–9999 once in UTC is refused as a field error.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django import forms
from django.core.exceptions import ValidationError
from django_filters import IsoDateTimeFilter
from django_filters.fields import IsoDateTimeField


def to_utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is None:
        return value
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValidationError("Enter a date and time between the years 1 and 9999 in UTC.", code="invalid") from None


class _InUtc:
    def to_python(self, value):
        return to_utc(super().to_python(value))


class UtcDateTimeField(_InUtc, forms.DateTimeField):
    pass


class UtcIsoDateTimeFilter(IsoDateTimeFilter):
    field_class = type("UtcIsoDateTimeField", (_InUtc, IsoDateTimeField), {})
