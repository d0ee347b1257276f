from celery import shared_task


@shared_task(name="kernel.lockdown")
def lockdown_task() -> dict:
    """Worker side (CAP_NET_ADMIN): the management networks into FULCRUM-MGMT, through the kernel writer."""
    from .lockdown import push_lockdown

    return push_lockdown()
