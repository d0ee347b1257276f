"""Celery: run the checklist probes in the privileged worker, on demand and after each apply."""

from __future__ import annotations

import threading

from celery import shared_task
from django.conf import settings
from django.db import connection

from .models import CheckRun


@shared_task(name="kernel.checklists")  # raw sockets and the kernel's tables: the privileged worker
def run_checklist_task(run_id: int) -> str:
    from .runner import execute

    run = CheckRun.objects.filter(pk=run_id).first()
    if run is None or run.status != CheckRun.QUEUED:
        return "skipped"
    return execute(run).status


def _in_thread(run_id: int) -> None:
    try:
        run_checklist_task(run_id)
    finally:
        connection.close()


def start_recheck(service=None, user=None, actor: str = "system", reason: str = "manual") -> CheckRun:
    """Queue a run for ``service`` (None: all services). A run for all services that is still
    queued covers this request too: after a burst of applies, the probes run once."""
    waiting = CheckRun.objects.filter(status=CheckRun.QUEUED, service__isnull=True)
    if service is not None:
        waiting = waiting | CheckRun.objects.filter(status=CheckRun.QUEUED, service=service)
    found = waiting.order_by("id").first()
    if found is not None:
        return found
    run = CheckRun.objects.create(service=service, user=user if getattr(user, "pk", None) else None,
                                  username=actor, reason=reason)
    if settings.CELERY_TASK_ALWAYS_EAGER:
        threading.Thread(target=_in_thread, args=(run.pk,), name=f"checklist-{run.pk}", daemon=True).start()
    else:
        run_checklist_task.delay(run.pk)
    return run
