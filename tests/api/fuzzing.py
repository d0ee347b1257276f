"""Hypothesis strategies shared by the bundle and WebUI form fuzzers: values that have broken parsers
before (odd Unicode, look-alike digits, control characters, wrong JSON types, deep nesting)."""

from __future__ import annotations

import contextlib
import hashlib
import json

from django.db import transaction
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

LOOKALIKES = ["４４３", "1_000", "²", "٣", "0x50", "1e400", "-0", "+80", " 80 ", "80\n", "nan", "inf", "",
              "65536", "-1", "99999999999999999999999", "1.5", "0", "192.0.2.1", "2001:db8::1", "/24", "a\r\nb",
              "x" * 600, "\x00", "\u2028", "\ud800", "<script>", "'; DROP TABLE x;--", "../../etc/passwd"]

odd_text = st.text(st.characters(codec="utf-8", exclude_categories=[]), max_size=40) | \
    st.text(st.characters(min_codepoint=0, max_codepoint=0x3000), max_size=12)
scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True) | odd_text | \
    st.sampled_from(LOOKALIKES)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)


@st.composite
def deep(draw):
    depth = draw(st.integers(10, 3000))
    return json.loads("[" * depth + "]" * depth) if depth < 900 else {"nested": "[" * depth + "]" * depth}


field_values = st.one_of(st.sampled_from(LOOKALIKES), odd_text, json_values, deep())

FUZZ_SETTINGS = dict(derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck))


def fuzz_settings(max_examples: int):
    return hypothesis_settings(max_examples=max_examples, **FUZZ_SETTINGS)


def config_digest() -> str:
    from cluster.bundle import export_bundle

    bundle = {k: v for k, v in export_bundle().items() if k != "exported_at"}
    return hashlib.sha256(json.dumps(bundle, sort_keys=True, default=str).encode()).hexdigest()


@contextlib.contextmanager
def rolled_back():
    """One generated case's writes are undone, so every case starts from the same database."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)
