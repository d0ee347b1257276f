"""Date-time inputs reach the database in UTC (PostgreSQL refuses offsets beyond ±15:59)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from appliance.datetimes import UtcDateTimeField, to_utc


def test_an_offset_python_accepts_and_postgresql_does_not_becomes_utc():
    value = dt.datetime(815, 8, 9, 4, 3, 5, tzinfo=dt.timezone(dt.timedelta(hours=20, minutes=17)))
    assert to_utc(value) == value and to_utc(value).utcoffset() == dt.timedelta(0)


def test_an_instant_beyond_year_9999_in_utc_is_a_field_error():
    with pytest.raises(ValidationError, match="between the years 1 and 9999"):
        to_utc(dt.datetime(9999, 12, 31, 23, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5))))


def test_the_token_form_field_cleans_to_utc():
    cleaned = UtcDateTimeField().clean("2030-01-01T00:00:00+20:17")
    assert cleaned == dt.datetime(2029, 12, 31, 3, 43, tzinfo=dt.UTC) and cleaned.tzinfo == dt.UTC
    assert UtcDateTimeField(required=False).clean("") is None
