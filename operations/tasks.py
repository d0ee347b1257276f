from celery import shared_task


@shared_task(name="kernel.apply_mgmt_chain")
def apply_mgmt_chain() -> dict:
    """Worker side (CAP_NET_ADMIN): render the management networks into FULCRUM-MGMT."""
    from cluster.runtime import dataplane_mode

    from .lockdown import apply_chain

    if dataplane_mode() != "kernel":
        return {"skipped": "render-only dataplane"}
    return {str(k): v for k, v in apply_chain().items()}


@shared_task(name="operations.prune_history")
def prune_history() -> dict:
    """Unprivileged: delete history past its retention (operations/retention.py)."""
    from .retention import prune

    return prune()
