"""Response patterns of HTTP checks, matched by RE2 in time linear in the body.

Python's re backtracks: `(x+x+)+y` against a server-controlled body of x's takes exponential time and,
run in healthcheckd's event loop, stalls every check on the appliance. RE2 has no backtracking (and so no
look-around or back-references); patterns are validated with its syntax when saved.
"""

from __future__ import annotations

from functools import lru_cache

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a refused pattern is reported to the admin, not logged to stderr
_OPTIONS.max_mem = 8 << 20  # bounds the compiled program of a 500-character pattern


def _message(exc: Exception) -> str:
    text = exc.args[0] if exc.args else str(exc)
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)


@lru_cache(maxsize=256)
def _compiled(pattern: str):
    return re2.compile(pattern, _OPTIONS)


def pattern_error(pattern: str) -> str | None:
    """Why RE2 refuses a pattern, or None when it is usable."""
    try:
        _compiled(pattern)
    except re2.error as exc:
        return (f"Not a pattern RE2 accepts ({_message(exc)}). Patterns are matched in linear time: "
                f"look-around and back-references are not available.")
    return None


def body_matches(pattern: str, body: str) -> bool:
    try:
        return _compiled(pattern).search(body) is not None
    except re2.error:  # saved before patterns were validated: match it as plain text, as then
        return pattern in body
