"""Optimistic concurrency for configuration objects: a version number and changed-fields-only saves.

Two clients editing different fields of one object must never undo each other, and a client that
names the version it read (HTTP If-Match) must not overwrite a newer one. So an update locks the row,
re-reads it, writes only the fields whose value really changes, and bumps the version, all in one
transaction. Runtime state (online/drain/halt, health) is never written from here: it has its own
writers, which save only their own fields and leave the version alone.
"""

from __future__ import annotations

from django.db import models, transaction


class StaleVersion(Exception):
    """The object changed since the version the caller named."""

    def __init__(self, current: int):
        super().__init__(f"the object is now at version {current}")
        self.current = current


class Versioned(models.Model):
    """Base for configuration models edited by several clients at once."""

    version = models.PositiveIntegerField(
        default=1, editable=False,
        help_text="Configuration version: grows by one on each saved change (the ETag). "
                  "Runtime state (online/drain/halt, health) does not change it.")

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        # A whole-object save of an existing row (a WebUI form, the wizard, the CLI) is a configuration
        # edit as much as an API PATCH: it must move the version, or a client holding the old ETag
        # would overwrite it without a 412. Saves of named fields (update_changed, the runtime writers)
        # set the version themselves or must leave it alone.
        if kwargs.get("update_fields") is None and self.pk is not None and not self._state.adding:
            self.version = self._next_version()
        super().save(*args, **kwargs)

    def _next_version(self) -> int:
        skip = {"version", *getattr(type(self), "runtime_fields", ())}
        fields = [f for f in self._meta.concrete_fields
                  if f.name not in skip and not f.primary_key and not getattr(f, "auto_now", False)]
        saved = type(self).objects.filter(pk=self.pk).values("version", *[f.attname for f in fields]).first()
        if saved is None:
            return self.version
        # A value that only looks different (another type for the same thing) moves the version once
        # more than needed: harmless, where a missed change would not be.
        changed = any(saved[f.attname] != getattr(self, f.attname) for f in fields)
        return saved["version"] + 1 if changed else saved["version"]


def holder_of_key(instance: models.Model) -> tuple[int, str] | None:
    """(id, field) of another saved object with `instance`'s natural key (the model's
    `natural_key_fields`, e.g. a service's label), or None."""
    fields = getattr(type(instance), "natural_key_fields", ())
    if not fields:
        return None
    meta = instance._meta
    values = {meta.get_field(name).attname: getattr(instance, meta.get_field(name).attname) for name in fields}
    if None in values.values() or "" in values.values():
        return None
    holder = type(instance).objects.filter(**values).exclude(pk=instance.pk).values_list("pk", flat=True).first()
    return None if holder is None else (holder, fields[-1])


def field_values(instance: models.Model) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def update_changed(model: type[Versioned], pk, changes: dict, *, expected_versions: set[int] | None = None,
                   prepare=None) -> Versioned:
    """Apply `changes` (field name → value) to the saved row and save only what differs from it.

    The row is re-read under a lock (SELECT … FOR UPDATE on PostgreSQL; SQLite's IMMEDIATE
    transactions hold the write lock from BEGIN), validated as a whole with full_clean(), and saved
    with update_fields. Raises StaleVersion, model.DoesNotExist or django ValidationError; on any of
    them nothing is written. Nothing to change: nothing is saved and the version stays. A model's
    `runtime_fields` are never written here, whatever `changes` says.
    """
    with transaction.atomic():
        fresh = model.objects.select_for_update().get(pk=pk)
        if expected_versions is not None and fresh.version not in expected_versions:
            raise StaleVersion(fresh.version)
        before = field_values(fresh)
        runtime = set(getattr(model, "runtime_fields", ()))
        for name, value in changes.items():
            if name not in runtime:
                setattr(fresh, name, value)
        if prepare is not None:
            prepare(fresh)
        fresh.full_clean()
        changed = [f.name for f in model._meta.concrete_fields
                   if getattr(fresh, f.attname) != before[f.attname]]
        if not changed:
            return fresh
        fresh.version = before["version"] + 1
        stamps = [f.name for f in model._meta.concrete_fields if getattr(f, "auto_now", False)]
        fresh.save(update_fields=sorted({*changed, "version", *stamps}))
        return fresh
