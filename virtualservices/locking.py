"""Validate-and-save under a lock, so that two concurrent requests cannot both pass a uniqueness rule.

The rules (a real server's destination, a service's VIP/protocol/ports and mark) span rows and ranges that
no single UNIQUE constraint can express, so each save takes a lock for its key, checks again, then writes,
all in one transaction:
- PostgreSQL: a transaction-scoped advisory lock on a number derived from the key;
- SQLite: settings open every transaction with BEGIN IMMEDIATE, which takes the database's write lock.
"""

from __future__ import annotations

import hashlib
from contextlib import contextmanager

from django.db import connection, transaction

from .validation import Duplicate, named


def lock_number(*key) -> int:
    """A stable signed 64-bit number for pg_advisory_xact_lock."""
    digest = hashlib.sha256(repr(("fulcrum",) + key).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def touches(save_kwargs: dict, fields: set[str]) -> bool:
    """Whether a save may change these fields (a save(update_fields=[...]) of others cannot)."""
    update_fields = save_kwargs.get("update_fields")
    return update_fields is None or bool(fields & set(update_fields))


@contextmanager
def held(*key):
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [lock_number(*key)])
        yield


def label_conflict(queryset, obj) -> Duplicate | None:
    """The label taken by another object of `queryset`: checked under the lock, so the loser of a race
    gets the field and the id rather than the database's "UNIQUE constraint failed"."""
    other = queryset.filter(label=obj.label).exclude(pk=obj.pk).only("pk", "label").first()
    return Duplicate({"label": [f"The label is already used by {named(other)}."]}, other.pk) if other else None
