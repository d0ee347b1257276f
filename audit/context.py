"""Who is making the current change: set per request (session or API token) or per command."""

from __future__ import annotations

import contextvars
from contextlib import contextmanager

_actor: contextvars.ContextVar[tuple[object | None, str]] = contextvars.ContextVar(
    "fulcrum_actor", default=(None, "system")
)


def current_actor() -> tuple[object | None, str]:
    """(user or None, name) of whoever is changing the configuration now."""
    return _actor.get()


def set_actor(user, name: str | None = None):
    return _actor.set((user, name or getattr(user, "username", "system")))


@contextmanager
def acting_as(user=None, name: str | None = None):
    token = set_actor(user, name)
    try:
        yield
    finally:
        _actor.reset(token)


class ActorMiddleware:
    """Session users are known here; API-token users are set again by the API views."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user if request.user.is_authenticated else None
        token = set_actor(user, getattr(user, "username", "anonymous"))
        try:
            return self.get_response(request)
        finally:
            _actor.reset(token)
