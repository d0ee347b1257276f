"""Bounded history: HA events, change-log entries, apply runs and axes' login log are pruned by age.

Run hourly by beat (task "operations.prune_history"). What is still needed is never pruned: the
newest successful apply (HA sync and "pending changes" read it), runs not finished, change-log
entries newer than that apply, and the newest FULCRUM_RETENTION_KEEP_MIN rows of each kind whatever their age.
The ages are settings (appliance/settings.py, documented in the README).
"""

from __future__ import annotations

from datetime import timedelta

from axes.models import AccessLog
from django.conf import settings
from django.utils import timezone

from audit.models import ChangeRecord
from cluster.models import ApplyRun
from ha.models import Event


def _older_than(queryset, time_field: str, days: int, now):
    """Rows older than `days`, minus the newest KEEP_MIN (by id)."""
    keep = list(queryset.order_by("-id").values_list("id", flat=True)[: settings.FULCRUM_RETENTION_KEEP_MIN])
    return queryset.filter(**{f"{time_field}__lt": now - timedelta(days=days)}).exclude(id__in=keep)


def prune(now=None) -> dict[str, int]:
    now = now or timezone.now()
    days = settings.FULCRUM_RETENTION_DAYS
    last_good = ApplyRun.objects.filter(status=ApplyRun.SUCCESS).order_by("-id").first()
    runs = _older_than(ApplyRun.objects.filter(status__in=(ApplyRun.SUCCESS, ApplyRun.FAILED)), "queued_at",
                       days["apply_runs"], now)
    changes = _older_than(ChangeRecord.objects.all(), "time", days["change_log"], now)
    if last_good is not None:
        runs = runs.exclude(pk=last_good.pk)
        changes = changes.filter(id__lte=last_good.change_id)
    else:
        changes = changes.none()  # nothing applied yet: every change is still pending
    return {
        "ha_events": _older_than(Event.objects.all(), "time", days["ha_events"], now).delete()[0],
        "change_log": changes.delete()[0],
        "apply_runs": runs.delete()[0],
        "login_log": _older_than(AccessLog.objects.all(), "attempt_time", days["login_log"], now).delete()[0],
    }
