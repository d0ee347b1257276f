"""What this appliance process is running with (kernel or render-only dataplane): banners and the API's status."""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings
from django.db import connection


@lru_cache(maxsize=1)
def dataplane_mode() -> str:
    """'kernel' when this host has usable IPVS and the privilege to change it, else 'render-only'."""
    if settings.FULCRUM_DATAPLANE in ("kernel", "render-only"):
        return settings.FULCRUM_DATAPLANE
    try:
        # pyroute2 (netlink) loads when the kernel is asked, not at import
        from dataplane.kernel import ipvs_available
    except ImportError:
        return "render-only"
    return "kernel" if ipvs_available() else "render-only"


def reported_dataplane_mode() -> str:
    """The mode of the process that applies: the worker's, from its status snapshot, when there is a
    worker (an unprivileged web process cannot tell IPVS is there); else this process's own."""
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        from .status import snapshot  # cluster.status imports this module

        raw = snapshot()
        if raw:
            import json

            return json.loads(raw).get("dataplane", dataplane_mode())
    return dataplane_mode()


def runtime_facts() -> dict:
    return {
        "celery_eager": bool(settings.CELERY_TASK_ALWAYS_EAGER),
        "dataplane": reported_dataplane_mode(),
        "database": connection.vendor,
    }
