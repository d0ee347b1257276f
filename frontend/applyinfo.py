"""The apply layer as the pages need it: pending changes, the running and the last apply."""

from __future__ import annotations

from audit.models import ChangeRecord
from cluster.apply import CONFIG_OBJECT_TYPES
from cluster.models import ApplyRun, ClusterSettings
from cluster.run_liveness import sweep_stale_runs


def apply_summary() -> dict:
    """Four small queries: last successful run, pending count, running run, Auto apply on or off."""
    last_ok = ApplyRun.objects.filter(status=ApplyRun.SUCCESS).order_by("-id").only(
        "id", "change_id", "started_at", "finished_at").first()
    since = last_ok.change_id if last_ok else 0
    pending = ChangeRecord.objects.filter(object_type__in=CONFIG_OBJECT_TYPES, id__gt=since).count()
    open_runs = ApplyRun.objects.filter(status__in=[ApplyRun.QUEUED, ApplyRun.RUNNING]).order_by("-id").only(
        "id", "status", "progress_done", "progress_total", "progress_text")
    running = open_runs.first()
    if running is not None and sweep_stale_runs():  # its worker died: never "Apply running…" forever
        running = open_runs.first()
    return {
        "pending": pending,
        "last_ok": last_ok,
        "applied_at": last_ok.started_at if last_ok else None,
        "running": running,
        "auto_apply": ClusterSettings.objects.filter(pk=1, auto_apply=True).exists(),
    }
