"""Dependency inversion for the import layers (docs/ARCHITECTURE.md, "Import layers").

A lower app names what it needs from an app above it as a ``Slot``; the app above fills the slot in
its ``AppConfig.ready()``. So the lower app never imports the upper one, and the import graph keeps
the shape CI checks (`.importlinter`). Every app is installed in every process (web, workers,
healthcheckd, manage.py), so an empty slot is a wiring mistake and says which app should fill it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ImproperlyConfigured


class Slot:
    """One function a lower module calls, provided by the app above that owns the answer."""

    def __init__(self, name: str, provider: str):
        self.name = name
        self.provider = provider
        self._fn: Callable[..., Any] | None = None

    def provide(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        self._fn = fn
        return fn

    def __call__(self, *args, **kwargs):
        if self._fn is None:
            raise ImproperlyConfigured(f"{self.name}: nothing provides it; the {self.provider!r} app does in its "
                                       "AppConfig.ready() (is it in INSTALLED_APPS?)")
        return self._fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<Slot {self.name} from {self.provider}: {'set' if self._fn else 'empty'}>"
