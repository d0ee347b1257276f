"""Properties of the input gate over generated values (fast, pure): what it lets through is clean, what
it refuses it refuses with a message, and numbers mean the same as Python's int() only for ASCII digits."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from appliance.inputgate import (
    DECIMAL,
    INTEGER,
    MULTILINE,
    TEXT,
    GateError,
    clean_text,
    gate_value,
    json_depth_error,
    parse_integer,
)
from tests.api.fuzzing import fuzz_settings, json_values

CASES = 1500


@given(st.text(st.characters(), max_size=40), st.booleans())
@fuzz_settings(CASES)
def test_text_through_the_gate_is_clean_or_refused(value, multiline):
    try:
        cleaned = clean_text(value, multiline)
    except GateError as exc:
        assert str(exc).startswith("Must not contain")
        return
    allowed = {"\n", "\t"} if multiline else set()
    assert all(unicodedata.category(c) not in ("Cc", "Cs") or c in allowed for c in cleaned)
    assert cleaned == cleaned.strip() and unicodedata.is_normalized("NFC", cleaned)


@given(st.one_of(st.text(st.characters(), max_size=12), st.integers(), st.floats(), st.booleans(), json_values))
@fuzz_settings(CASES)
def test_numbers_are_ascii_digits_or_refused(value):
    try:
        number = parse_integer(value)
    except GateError:
        if isinstance(value, str):
            assert not re.fullmatch(r"[+-]?[0-9]+", value.strip(" "), re.ASCII)
        return
    assert isinstance(number, int) and not isinstance(number, bool)
    if isinstance(value, str):
        assert value.strip(" ").isascii() and number == int(value)


@given(st.sampled_from([TEXT, MULTILINE, INTEGER, DECIMAL]),
       json_values | st.integers(-(10**500), 10**500) | st.floats())
@fuzz_settings(CASES)
def test_any_json_value_is_normalised_or_refused_never_crashes(kind, value):
    try:
        out = gate_value(kind, value)
    except GateError as exc:
        assert str(exc)
        return
    assert out is None or isinstance(out, (str, int, float))
    assert json_depth_error(value) is None or isinstance(json_depth_error(value), str)
