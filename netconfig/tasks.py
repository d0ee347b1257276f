"""Kernel-worker tasks of the network configuration ("kernel." names: the privileged queue)."""

from __future__ import annotations

import threading

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.db import connection

from dataplane.kernel.snapshot import kernel_sections

from .apply import expire, run_change
from .models import NetworkChange


@shared_task(name="kernel.network_apply")
def network_apply_task(change_id: int) -> str:
    return run_change(change_id).status


@shared_task(name="kernel.network_expire")
def network_expire_task(change_id: int) -> str:
    return expire(change_id).status


def _closing(func, *args):
    try:
        func(*args)
    finally:
        connection.close()


def dispatch_apply(change_id: int) -> None:
    """To the kernel worker; without a broker (embedded mode) in a thread of this process."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        threading.Thread(target=_closing, args=(network_apply_task, change_id), daemon=True).start()
    else:
        network_apply_task.delay(change_id)


def schedule_expiry(change_id: int, seconds: int) -> None:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        t = threading.Timer(seconds, _closing, args=(network_expire_task, change_id))
        t.daemon = True
        t.start()
    else:
        network_expire_task.apply_async((change_id,), countdown=seconds)


@shared_task(name="kernel.support_snapshot")
def support_snapshot_task() -> dict:
    """The privileged sections of the support archive (ipvsadm, iptables-save of our chains)."""
    return kernel_sections()


@worker_ready.connect(dispatch_uid="netconfig-resume-timers")
def resume_rollback_timers(**kwargs) -> None:
    """A worker that restarts while a change waits would leave its timer with the broker for up to the
    visibility timeout: re-arm every waiting change's timer (or roll it back now if it is overdue)."""
    from django.utils import timezone

    for change in NetworkChange.objects.filter(status=NetworkChange.AWAITING):
        left = (change.deadline - timezone.now()).total_seconds() if change.deadline else 0
        schedule_expiry(change.pk, max(0, int(left) + 1))
