"""Bounded retention (issue 13): old HA events, change-log entries and apply runs are pruned; what is still
needed (the last good apply, pending changes, the newest rows) stays."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import ChangeRecord
from cluster.models import ApplyRun
from ha.models import Event
from operations.retention import prune

pytestmark = pytest.mark.django_db
LONG_AGO = timezone.now() - timedelta(days=400)


def aged(model, field, n, **fields):
    rows = [model.objects.create(**fields) for _ in range(n)]
    model.objects.filter(pk__in=[r.pk for r in rows]).update(**{field: LONG_AGO})
    return rows


def test_prune_keeps_what_is_needed(settings):
    settings.FULCRUM_RETENTION_KEEP_MIN = 2
    aged(Event, "time", 5, kind=Event.REFUSED, message="x")
    fresh_event = Event.objects.create(kind=Event.SYNC, message="today")
    old_changes = aged(ChangeRecord, "time", 5, action="update", object_type="x", summary="old")
    aged(ApplyRun, "queued_at", 3, username="a", status=ApplyRun.FAILED)
    good = aged(ApplyRun, "queued_at", 1, username="a", status=ApplyRun.SUCCESS, change_id=old_changes[2].pk)[0]
    stuck = aged(ApplyRun, "queued_at", 1, username="a", status=ApplyRun.RUNNING)[0]
    aged(ApplyRun, "queued_at", 2, username="a", status=ApplyRun.FAILED)  # the newest two: kept by KEEP_MIN
    pending = aged(ChangeRecord, "time", 1, action="update", object_type="x", summary="not applied")[0]

    counts = prune()
    assert counts["ha_events"] == 4  # 5 old + 1 fresh; the newest two stay (one of them old)
    assert Event.objects.filter(pk=fresh_event.pk).exists() and Event.objects.count() == 2
    # change log: only entries the last good apply already includes, and not the newest two
    assert counts["change_log"] == 3
    assert ChangeRecord.objects.filter(pk=pending.pk).exists()
    # apply runs: the last success and unfinished runs stay
    assert ApplyRun.objects.filter(pk__in=[good.pk, stuck.pk]).count() == 2
    assert counts["apply_runs"] == 3
    assert prune() == {"ha_events": 0, "change_log": 0, "apply_runs": 0, "login_log": 0}


def test_nothing_applied_yet_keeps_every_change(settings):
    settings.FULCRUM_RETENTION_KEEP_MIN = 0
    aged(ChangeRecord, "time", 3, action="update", object_type="x", summary="old")
    assert prune()["change_log"] == 0 and ChangeRecord.objects.count() == 3


def test_the_beat_runs_it(settings):
    from appliance.celery import app  # noqa: F401  (registers shared tasks)

    entry = settings.CELERY_BEAT_SCHEDULE["prune-history"]
    assert entry["task"] == "operations.prune_history"
    from operations.tasks import prune_history

    assert prune_history.name == entry["task"] and set(prune_history()) == {"ha_events", "change_log",
                                                                             "apply_runs", "login_log"}
