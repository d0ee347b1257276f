"""The apply layer as the pages need it: pending changes, the running and the last apply."""

from __future__ import annotations

from django.db import OperationalError, transaction

from audit.models import ChangeRecord
from cluster.apply import CONFIG_OBJECT_TYPES
from cluster.models import ApplyRun, ClusterSettings
from cluster.run_liveness import sweep_stale_runs


def request_apply_summary(request) -> dict:
    """apply_summary() once per request: the page's view and the top bar (context.py) share it, so the
    overview's 2-second refresh does not pay for it twice."""
    if not hasattr(request, "_apply_summary"):
        request._apply_summary = apply_summary()
    return request._apply_summary


def apply_summary() -> dict:
    """Four small queries: last successful run, pending count, running run, Auto apply on or off."""
    last_ok = ApplyRun.objects.filter(status=ApplyRun.SUCCESS).order_by("-id").only(
        "id", "change_id", "started_at", "finished_at").first()
    since = last_ok.change_id if last_ok else 0
    pending = ChangeRecord.objects.filter(object_type__in=CONFIG_OBJECT_TYPES, id__gt=since).count()
    open_runs = ApplyRun.objects.filter(status__in=[ApplyRun.QUEUED, ApplyRun.RUNNING]).order_by("-id").only(
        "id", "status", "progress_done", "progress_total", "progress_text")
    running = open_runs.first()
    if running is not None and _swept():  # its worker died: never "Apply running…" forever
        running = open_runs.first()
    return {
        "pending": pending,
        "last_ok": last_ok,
        "applied_at": last_ok.started_at if last_ok else None,
        "running": running,
        "auto_apply": ClusterSettings.objects.filter(pk=1, auto_apply=True).exists(),
    }


def _swept() -> bool:
    """sweep_stale_runs(), or False while the worker holds the runs table (SQLite: an apply is
    writing its run): a page only reads, and the next refresh sweeps."""
    try:
        with transaction.atomic():
            return bool(sweep_stale_runs())
    except OperationalError:
        return False


def apply_progress(run: ApplyRun | None) -> dict:
    """What the apply card's progress bar shows for `run` (None: idle): percent, text, finished, and
    the finished run's changes as command lines."""
    if run is None:
        return {"percent": 0, "text": "Idle.", "finished": False, "commands": ""}
    done, total = run.progress_done or 0, run.progress_total or 0
    finished = run.status in (ApplyRun.SUCCESS, ApplyRun.FAILED)
    if run.status == ApplyRun.SUCCESS:
        percent = 100
    else:  # a running apply that has not counted its operations yet still shows it started
        percent = round(100 * done / total) if total else (5 if run.status == ApplyRun.RUNNING else 0)
    if run.status == ApplyRun.QUEUED:
        text = "Queued…"
    elif run.status == ApplyRun.RUNNING:
        text = f"Applying: {done} of {total} operations" + (f" — {run.progress_text}" if run.progress_text else "")
    elif run.status == ApplyRun.SUCCESS:
        ops = f"{run.operation_count} operation{'' if run.operation_count == 1 else 's'}"
        text = f"Finished: {ops} in {round(run.duration_ms or 0)} ms"
    else:
        text = "Failed, rolled back"
    return {"percent": percent, "text": text, "finished": finished, "commands": run.commands() if finished else ""}
