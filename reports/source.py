"""Where live counters come from: the apply layer's reading of the kernel's IPVS table.

The sampler task runs on the worker (the privileged process that may read IPVS over netlink);
web pages read what it stored, never the kernel.
"""

from __future__ import annotations

import logging

from cluster import status as cluster_status

log = logging.getLogger(__name__)


def read_status() -> dict | None:
    """The live status in the shape `reports.sampling.sample` takes, or None when unavailable."""
    try:
        return cluster_status.kernel_status()
    except Exception:  # a missing Redis or worker must not break a page or the sampler
        log.warning("live status unavailable", exc_info=True)
        return None
