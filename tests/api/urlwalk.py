"""Every URL pattern of the project, as a concrete path with its parameters filled in.

Walks django.urls.get_resolver() through nested includes (route and regex patterns alike),
fills each path parameter with a value ("1", or "json" for DRF's format suffix) and keeps the
paths that resolve back to a view.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404


@dataclass(frozen=True)
class Endpoint:
    path: str  # "/api/v1/virtual-services/1/"
    name: str | None
    callback: object

    @property
    def view_class(self):
        return getattr(self.callback, "cls", None) or getattr(self.callback, "view_class", None)

    @property
    def methods(self) -> list[str]:
        """HTTP methods the view implements (DRF viewsets: its action map)."""
        actions = getattr(self.callback, "actions", None)
        if actions:
            return sorted(m.upper() for m in actions)
        cls = self.view_class
        if cls is None:
            return ["GET", "POST"]
        return sorted(m.upper() for m in cls.http_method_names
                      if m not in ("options", "head", "trace") and hasattr(cls, m))


def _fill_regex(regex: str, value: str) -> str:
    s = regex.removeprefix("^").removesuffix("$").removesuffix(r"\Z")
    out, i = [], 0
    while i < len(s):
        if s.startswith("(?P<", i):
            name = s[i + 4:s.index(">", i)]
            depth, j = 0, i
            while j < len(s):
                if s[j] == "\\":
                    j += 2
                    continue
                if s[j] == "(":
                    depth += 1
                elif s[j] == ")":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            out.append("json" if name == "format" else value)
            i = j + 1
        elif s[i] == "\\" and i + 1 < len(s):
            out.append(s[i + 1])
            i += 2
        elif s[i] == "?" and out and out[-1] == "/":
            i += 1  # "/?" → "/"
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def _walk(patterns, prefix: str, value: str):
    for p in patterns:
        piece = _fill_regex(p.pattern.regex.pattern, value)
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + piece, value)
        elif isinstance(p, URLPattern):
            yield prefix + piece, p


def all_endpoints(value: str = "1") -> list[Endpoint]:
    found: dict[str, Endpoint] = {}
    for raw, pattern in _walk(get_resolver().url_patterns, "", value):
        path = "/" + raw
        try:
            match = resolve(path)
        except Resolver404:
            continue
        if match.func is not pattern.callback and getattr(match.func, "cls", 1) is not getattr(
                pattern.callback, "cls", 2):
            continue  # shadowed by an earlier pattern; that one is tested under its own path
        found.setdefault(path, Endpoint(path, pattern.name, pattern.callback))
    return sorted(found.values(), key=lambda e: e.path)


def api_endpoints() -> list[Endpoint]:
    """The REST API's endpoints, without DRF's `.json` format-suffix twins."""
    return [e for e in all_endpoints() if e.path.startswith("/api/v1/") and ".json" not in e.path]
