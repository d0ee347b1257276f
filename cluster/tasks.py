"""Celery tasks of the cluster app: apply, the periodic drift check, the status publisher.

All three touch the kernel, so they are named "kernel.<name>" and run on the privileged worker's queue
(CELERY_TASK_ROUTES)."""

from __future__ import annotations

import logging
import threading

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.db import connection
from kombu.exceptions import OperationalError

from .apply import execute, queue_run
from .drift import check_drift
from .models import ApplyRun
from .run_liveness import claimable, fail_unqueued, fail_unstarted, sweep_stale_runs

log = logging.getLogger("fulcrum.apply")


@shared_task(name="kernel.apply", ignore_result=True)  # the ApplyRun row is its result
def apply_task(run_id: int) -> str:
    if not claimable(run_id):
        return "skipped: no longer queued"  # failed meanwhile as lost: its change is still pending
    run = execute(ApplyRun.objects.get(pk=run_id))
    return run.status


@shared_task(name="kernel.runtime")
def runtime_task(server_ids: list[int]) -> dict:
    """Online/drain/halt in the kernel now (privileged: routed to the "kernel" queue)."""
    from .runtime_state import push_runtime_state

    return push_runtime_state(server_ids)


@shared_task(name="kernel.drift_check")
def drift_check_task() -> bool:
    return check_drift().drift


@shared_task(name="kernel.publish_status", ignore_result=True)
def publish_status_task() -> None:
    from .status import publish_status

    publish_status()


@shared_task(name="cluster.sweep_stale_runs", ignore_result=True)
def sweep_stale_runs_task() -> int:
    """Periodic (beat), unprivileged: it reads the database and tries the apply lock, nothing else."""
    return sweep_stale_runs()


@worker_ready.connect
def _fail_runs_of_a_dead_worker(**kwargs) -> None:
    # A worker (re)starting after a crash: the apply its predecessor was running is lost. Queued runs
    # are left alone here: their messages may still be waiting in Redis for this very worker.
    sweep_stale_runs(include_queued=False)


def _in_thread(run_id: int) -> None:
    try:
        apply_task(run_id)
    except Exception as exc:  # before execute() took the run (it ends its own runs): no one else will
        log.exception("apply #%s could not start", run_id)
        fail_unstarted(run_id, exc)
    finally:
        connection.close()  # this thread's own database connection


def start_apply(user=None, actor: str = "system", reason: str = "apply") -> ApplyRun:
    """Queue an apply for the worker. Without Redis (embedded mode) it runs in a thread of this
    process, so the request returns at once and the progress bar has something to show."""
    run = queue_run(user, actor, reason)
    if settings.CELERY_TASK_ALWAYS_EAGER:
        threading.Thread(target=_in_thread, args=(run.pk,), name=f"apply-{run.pk}", daemon=True).start()
        return run
    try:
        apply_task.delay(run.pk)
    except OperationalError as exc:  # refused or timed out (CELERY_BROKER_CONNECTION_TIMEOUT): Redis is down
        raise fail_unqueued(run, exc) from exc
    return run
