"""No apply run is left hanging: runs whose queueing failed or whose worker died end "failed".

Whether a run is really running is answered by the apply lock, not by the database: the process that
executes an apply holds the host-wide file lock from before it marks the run "running" until after
it records how it ended, and the kernel frees a flock when its holder dies (kill -9 included). So a
run still "running" while the lock is free lost its worker. A "queued" run that nobody has started
FULCRUM_APPLY_QUEUE_SECONDS after it was queued, while no apply holds the lock, lost its message
(a worker killed with it prefetched, Redis restarted): it is failed too, and its task, should it ever
arrive, does nothing (see claimable()).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from appliance.exceptions import QueueUnavailable

from .models import ApplyRun
from .writer import KernelBusy, kernel_lock

log = logging.getLogger("fulcrum.apply")

WORKER_LOST = ("worker lost: the process running this apply stopped (killed or crashed) before it "
               "finished; the kernel lock is free again and the next apply re-reads the kernel")
NOT_PICKED_UP = ("worker lost: no kernel worker started this apply within {seconds:.0f} s of queueing "
                 "(is fulcrum-worker running?); the change is still pending")


def fail_unqueued(run: ApplyRun, exc: Exception) -> QueueUnavailable:
    """Queueing ``run`` failed: mark it failed with the reason and return the error to raise."""
    reason = (f"could not queue the apply: the task queue (Redis) is unreachable ({type(exc).__name__}: {exc}). "
              "Nothing saved was lost; the change is still pending. Apply again when Redis is back.")
    _mark_failed(ApplyRun.objects.filter(pk=run.pk, status=ApplyRun.QUEUED), reason)
    run.refresh_from_db()
    return QueueUnavailable(reason)


def fail_unstarted(run_id: int, exc: Exception) -> None:
    """The in-process apply thread failed before execute() took run ``run_id``: end it with the reason,
    rather than leave "Queued…" until the sweep's FULCRUM_APPLY_QUEUE_SECONDS."""
    reason = (f"the apply could not start ({type(exc).__name__}: {exc}). Nothing saved was lost; the change "
              "is still pending. Apply again.")
    _mark_failed(ApplyRun.objects.filter(pk=run_id, status__in=[ApplyRun.QUEUED, ApplyRun.RUNNING]), reason)


def _mark_failed(runs, reason: str) -> int:
    now = timezone.now()
    count = runs.update(status=ApplyRun.FAILED, error=reason[:2000], finished_at=now, change_id=0)
    if count:
        log.warning("%d apply run(s) failed: %s", count, reason)
    return count


def claimable(run_id: int) -> bool:
    """The task may execute this run: it is still queued (not failed meanwhile as lost)."""
    return ApplyRun.objects.filter(pk=run_id, status=ApplyRun.QUEUED).exists()


def sweep_stale_runs(include_queued: bool = True) -> int:
    """Fail runs whose worker is gone; the number failed. Cheap when nothing is queued or running
    (one query), so pages and the apply status call it on every read."""
    open_runs = ApplyRun.objects.filter(status__in=[ApplyRun.QUEUED, ApplyRun.RUNNING])
    if not open_runs.exists():
        return 0
    try:
        with kernel_lock(wait=False):
            # Holding the lock, no apply is executing anywhere on this host: a "running" run is dead.
            failed = _mark_failed(open_runs.filter(status=ApplyRun.RUNNING), WORKER_LOST)
            if include_queued:
                seconds = settings.FULCRUM_APPLY_QUEUE_SECONDS
                too_old = timezone.now() - timedelta(seconds=seconds)
                failed += _mark_failed(open_runs.filter(status=ApplyRun.QUEUED, queued_at__lt=too_old),
                                       NOT_PICKED_UP.format(seconds=seconds))
            return failed
    except KernelBusy:
        return 0  # an apply is executing: its run is alive, and queued ones wait behind it
