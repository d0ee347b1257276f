"""Record changes of audited models, with the acting user, from Django's model signals.

A model opts in by inheriting `Audited`: its field values are snapshotted when
loaded, so the "before" costs no extra query.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager

from django.db import models
from django.db.models.signals import post_delete, post_save
from django.forms.models import model_to_dict

from appliance.gate import GatedModel

from .context import current_actor
from .diff import MASK, is_secret
from .models import ChangeRecord


def snapshot(instance: models.Model) -> dict:
    data = model_to_dict(instance, fields=[f.name for f in instance._meta.concrete_fields])
    return {k: (str(v) if not isinstance(v, (int, float, bool, str, type(None), list, dict)) else v)
            for k, v in data.items()}


def secret_fields(instance) -> set[str]:
    """Fields whose values never enter the change log (readable by every role): a model's
    `audit_secret_fields`, and any field named like a secret."""
    named = {f.name for f in instance._meta.concrete_fields if is_secret(f.name)}
    return named | set(getattr(instance, "audit_secret_fields", ()))


def masked(instance, data: dict | None) -> dict | None:
    """The snapshot as logged: a secret shows only whether it is set ("" or ********)."""
    if data is None:
        return None
    hidden = secret_fields(instance)
    return {k: (MASK if k in hidden and v not in ("", None) else v) for k, v in data.items()}


class Audited(GatedModel, models.Model):
    """Base for models whose every change lands in the change log (and whose input passes the gate)."""

    class Meta:
        abstract = True

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._audit_before = snapshot(instance) if len(field_names) == len(cls._meta.concrete_fields) else None
        return instance


_paused = contextvars.ContextVar("fulcrum_audit_paused", default=False)


@contextmanager
def paused():
    """Bulk work that is logged once as a whole (a config import) skips the per-object records."""
    token = _paused.set(True)
    try:
        yield
    finally:
        _paused.reset(token)


def record(action: str, instance=None, *, object_type: str = "", summary: str = "", before=None, after=None):
    entry = change_record(action, instance, object_type=object_type, summary=summary, before=before, after=after)
    entry.save()
    return entry


def change_record(action: str, instance=None, *, object_type: str = "", summary: str = "", before=None,
                  after=None) -> ChangeRecord:
    """An unsaved change-log entry by the current actor (bulk work saves many at once)."""
    user, name = current_actor()
    return ChangeRecord(
        user=user if getattr(user, "pk", None) else None,
        username=name,
        action=action,
        object_type=object_type or instance._meta.model_name,
        object_id=str(getattr(instance, "pk", "") or ""),
        object_repr=str(instance)[:200] if instance is not None else "",
        summary=summary[:300],
        before=before,
        after=after,
    )


def _on_save(sender, instance, created, raw=False, **kwargs):
    if raw or _paused.get():
        return
    after = snapshot(instance)
    before = None if created else getattr(instance, "_audit_before", None)
    # Timestamps Django sets on every save (auto_now) are not a change of their own.
    stamps = {f.name for f in instance._meta.concrete_fields if getattr(f, "auto_now", False)}
    changed = sorted(k for k in after if before is None or before.get(k) != after.get(k))
    if before is not None and not set(changed) - stamps:
        return
    record(ChangeRecord.CREATE if created else ChangeRecord.UPDATE, instance,
           summary="" if created else "changed " + ", ".join(changed),
           before=masked(instance, before), after=masked(instance, after))
    instance._audit_before = after


def _on_delete(sender, instance, **kwargs):
    if _paused.get():
        return
    record(ChangeRecord.DELETE, instance, before=masked(instance, snapshot(instance)))


def connect_audited_models(models_iterable):
    """Listen per audited model, so other models keep Django's fast bulk delete."""
    for model in models_iterable:
        if issubclass(model, Audited):
            post_save.connect(_on_save, sender=model, dispatch_uid=f"audit-save-{model._meta.label}")
            post_delete.connect(_on_delete, sender=model, dispatch_uid=f"audit-delete-{model._meta.label}")
