"""Field-level before → after text for the change log and the restore preview: pure, no Django.

"weight 100 → 75", "SSTP3 added", "check_secret changed (hidden)": what an admin reads to see what
a change did, with secrets never shown (only that they changed).
"""

from __future__ import annotations

from collections.abc import Iterable

SECRET_WORDS = ("secret", "password", "passphrase", "psk", "key_hash", "private_key", "token")
MASK = "********"
# Bookkeeping that changes with every save and says nothing to an admin.
IGNORED = frozenset({"id", "updated_at", "created_at", "modified", "created"})


def is_secret(field: str) -> bool:
    return any(word in field for word in SECRET_WORDS)


def show(value) -> str:
    """A value as an admin reads it: "" for empty, lists comma-separated, booleans as yes/no."""
    if value is None or value == "":
        return '""'
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(show(v) for v in value) or "[]"
    return str(value)


def field_change(field: str, old, new, secret: bool = False) -> str:
    if secret or is_secret(field):
        return f"{field} changed (hidden)"
    return f"{field} {show(old)} → {show(new)}"


def field_changes(before: dict | None, after: dict | None, fields: Iterable[str] | None = None,
                  secret: Iterable[str] = ()) -> list[str]:
    """One "field old → new" per changed field, in field order. `fields` names the changed fields when
    the values alone cannot tell (a masked secret looks the same before and after)."""
    before, after = before or {}, after or {}
    if fields is None:
        fields = [k for k in {**before, **after} if before.get(k) != after.get(k)]
    hidden, known = set(secret), before.keys() | after.keys()
    return [field_change(f, before.get(f), after.get(f), f in hidden)
            for f in fields if f not in IGNORED and f in known]


def record_changes(action: str, before: dict | None, after: dict | None, summary: str = "") -> list[str]:
    """A change-log entry's changes. An update lists its fields; a create or delete says so once."""
    if action == "create":
        return ["added"] if after is not None else []
    if action == "delete":
        return ["removed"] if before is not None else []
    if action != "update" or before is None or after is None:
        return []
    named = summary.removeprefix("changed ").split(", ") if summary.startswith("changed ") else None
    return field_changes(before, after, named)


def labelled_diff(current: list[dict], incoming: list[dict], key: str = "label") -> list[str]:
    """Items of two lists matched by `key`: "X added", "X removed", "X weight 100 → 75"."""
    now = {item[key]: item for item in current}
    new = {item[key]: item for item in incoming}
    out = [f"{k} removed" for k in now if k not in new]
    for k, item in new.items():
        if k not in now:
            out.append(f"{k} added")
        else:
            out += [f"{k} {change}" for change in field_changes(now[k], item)]
    return out


def service_changes(current: dict, incoming: dict, children: str = "real_servers") -> list[str]:
    """A service's own field changes, then its real servers' by label (added, removed, changed)."""
    own = [k for k in {**current, **incoming} if k != children and current.get(k) != incoming.get(k)]
    return field_changes(current, incoming, own) + labelled_diff(current.get(children, []),
                                                                  incoming.get(children, []))
