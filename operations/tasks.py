from celery import shared_task

from .lockdown import push_lockdown
from .retention import prune


@shared_task(name="kernel.lockdown")
def lockdown_task() -> dict:
    """Worker side (CAP_NET_ADMIN): the management networks into FULCRUM-MGMT, through the kernel writer."""
    return push_lockdown()


@shared_task(name="operations.prune_history")
def prune_history() -> dict:
    """Unprivileged: delete history past its retention (operations/retention.py)."""
    return prune()
