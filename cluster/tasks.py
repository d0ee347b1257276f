"""Celery tasks of the cluster app: apply and the periodic drift check."""

from __future__ import annotations

import threading

from celery import shared_task
from django.conf import settings
from django.db import connection

from .apply import execute, queue_run
from .drift import check_drift
from .models import ApplyRun


@shared_task(name="kernel.apply")
def apply_task(run_id: int) -> str:
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


def _in_thread(run_id: int) -> None:
    try:
        apply_task(run_id)
    finally:
        connection.close()  # this thread's own database connection


def start_apply(user=None, actor: str = "system", reason: str = "apply") -> ApplyRun:
    """Queue an apply for the worker. Without Redis (embedded mode) it runs in a thread of this
    process, so the request returns at once and the progress bar has something to show."""
    run = queue_run(user, actor, reason)
    if settings.CELERY_TASK_ALWAYS_EAGER:
        threading.Thread(target=_in_thread, args=(run.pk,), name=f"apply-{run.pk}", daemon=True).start()
    else:
        apply_task.delay(run.pk)
    return run
