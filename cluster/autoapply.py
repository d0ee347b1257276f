"""Auto apply: with ClusterSettings.auto_apply on, each saved configuration change is applied
once its transaction commits, coalesced: while an apply waits in the queue, later changes join it
(an apply compiles the configuration when it starts, so the queued one takes every change saved
before then). A burst of edits makes a handful of applies, the last of which holds every edit.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models.signals import post_save

from audit.context import current_actor
from audit.models import ChangeRecord

from .apply import AUTO_APPLY, CONFIG_OBJECT_TYPES
from .models import ApplyRun, ClusterSettings

log = logging.getLogger("fulcrum.apply")

REASON = AUTO_APPLY


def request_auto_apply(user=None, name: str = "system") -> ApplyRun | None:
    """Queue an apply unless Auto apply is off or an apply is already waiting to start."""
    if not ClusterSettings.objects.filter(pk=1, auto_apply=True).exists():
        return None
    if ApplyRun.objects.filter(status=ApplyRun.QUEUED).exists():
        return None  # coalesced: the waiting apply will include this change
    from .tasks import start_apply

    try:
        return start_apply(user, f"{name} (auto apply)", reason=REASON)
    except Exception as exc:  # the worker's queue is unreachable: the change stays pending, shown as such
        log.warning("auto apply not queued: %s", exc)
        # A run left "queued" would hold every later auto apply back (see above): end it.
        ApplyRun.objects.filter(status=ApplyRun.QUEUED, reason=REASON).update(
            status=ApplyRun.FAILED, error=f"could not be queued: {type(exc).__name__}: {exc}"[:2000])
        return None


def _on_change_record(sender, instance: ChangeRecord, created: bool, raw: bool = False, **kwargs) -> None:
    if raw or not created or instance.object_type not in CONFIG_OBJECT_TYPES:
        return
    user, name = current_actor()
    transaction.on_commit(lambda: request_auto_apply(user, name))


def connect() -> None:
    post_save.connect(_on_change_record, sender=ChangeRecord, dispatch_uid="cluster-auto-apply")
