"""The one input gate: every path that takes input (API, WebUI forms, bundle import and preview, HA sync,
CLI) normalises raw values through these functions before any parser or rule sees them.

- Text: Unicode NFC, surrounding whitespace stripped; NUL, control characters (C0, DEL, C1) and the
  Unicode line/paragraph separators refused — in single-line fields also CR and LF (a newline in a label
  or a health-check path would inject mail or HTTP headers). Multi-line fields keep LF and TAB.
- Numbers: ASCII decimal only. Python's int()/float() take "４４３", "1_000" and " 7 ", which then pass
  one path and fail another; here they are refused with the field's name.
- JSON bodies: bounded in size and nesting depth before the parser builds anything.

Pure functions, no Django: appliance/gate.py applies them to models, serializers, forms and JSON bodies.
"""

from __future__ import annotations

import re
import unicodedata

MAX_JSON_BYTES = 4 * 1024 * 1024  # a bundle of thousands of services fits; a memory bomb does not
MAX_JSON_DEPTH = 32  # a bundle nests 4 deep; anything far deeper is an attack on the parser

TEXT, MULTILINE, INTEGER, DECIMAL = "text", "multiline", "integer", "decimal"

_INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_SEPARATORS = {"\u2028", "\u2029", "\u0085"}


class GateError(ValueError):
    """A value refused at the gate; str() is the message shown next to the field."""


def _refused_character(text: str, multiline: bool) -> str | None:
    for ch in text:
        if ch in "\n\t" and multiline:
            continue
        if ch == "\x00":
            return "NUL"
        if ch in "\r\n":
            return "a line break"
        category = unicodedata.category(ch)
        if category == "Cc" or ch in _SEPARATORS:
            return f"the control character U+{ord(ch):04X}"
        if category == "Cs":  # a lone surrogate (JSON's "\ud800"): no encoding, the database's included, takes it
            return f"the unpaired surrogate U+{ord(ch):04X}"
    return None


def clean_text(value: str, multiline: bool = False) -> str:
    """NFC-normalised, stripped text; GateError on characters no field here accepts."""
    text = unicodedata.normalize("NFC", value)
    if multiline:
        text = text.replace("\r\n", "\n")
    bad = _refused_character(text, multiline)
    if bad:
        raise GateError(f"Must not contain {bad}.")
    return text.strip()


def ascii_digits(text: str) -> bool:
    """str.isdigit() also takes "４４３" and "²" (which int() then refuses with a ValueError)."""
    return text.isascii() and text.isdigit()


def _number_text(value: str, pattern: re.Pattern, what: str) -> str:
    text = value.strip(" ")
    if not pattern.fullmatch(text):
        raise GateError(f"Enter {what} written with the digits 0-9 only.")
    return text


def parse_integer(value) -> int:
    """An int from an int or from ASCII decimal text; bool and other types refused."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise GateError("Enter a whole number.")
    return value if isinstance(value, int) else int(_number_text(value, _INTEGER, "a whole number"))


def parse_decimal(value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise GateError("Enter a number.")
    try:
        value = float(_number_text(value, _DECIMAL, "a number") if isinstance(value, str) else value)
    except OverflowError:  # an int beyond the float range (10**400)
        value = float("inf")
    if value != value or value in (float("inf"), float("-inf")):
        raise GateError("Enter a finite number.")
    return value


def gate_value(kind: str, value):
    """Normalise one raw value of the given kind: text is a string (or a whole number, written as one),
    numbers are numbers or ASCII decimal text. JSON's other types (lists, objects, booleans) are refused
    here, before a parser or a rule meets them. A blank number is None (the field says if it may be)."""
    if value is None:
        return None
    if kind in (TEXT, MULTILINE):
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            raise GateError("Enter text.")
        return clean_text(value, kind == MULTILINE)
    if isinstance(value, str) and not value.strip():
        return None
    if kind == INTEGER:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        number = parse_integer(value)
        return str(number) if isinstance(value, str) else number
    if kind == DECIMAL:
        number = parse_decimal(value)
        return str(number) if isinstance(value, str) else number
    return value


def gate_mapping(data, kinds: dict[str, str]) -> tuple[dict, dict[str, list[str]]]:
    """Gate every known field of a raw mapping; return (cleaned copy, {field: [message]})."""
    cleaned, errors = {}, {}
    for name in data:
        value = data[name]
        kind = kinds.get(name)
        try:
            cleaned[name] = gate_value(kind, value) if kind else value
        except GateError as exc:
            errors[name] = [str(exc)]
    return cleaned, errors


def json_depth_error(obj, limit: int = MAX_JSON_DEPTH) -> str | None:
    """Walk without recursion (a deep document must not blow Python's stack)."""
    stack = [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > limit:
                return f"JSON nested deeper than {limit} levels."
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return None
