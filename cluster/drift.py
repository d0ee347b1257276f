"""Drift: does the kernel still hold what the journal says? Report it; repair it when locked.

The journal covers everything the appliance owns in the kernel (IPVS, its chains, its addresses,
its sysctls), so comparing the kernel with it covers all of them."""

from __future__ import annotations

import logging

from dataplane.diff import plan

from .models import ClusterSettings, DriftCheck
from .writer import distrust, kernel_lock, make_driver, record, recorded

log = logging.getLogger("fulcrum.drift")


def check_drift(repair: bool | None = None) -> DriftCheck:
    _, stored, _ = recorded()
    if stored is None:
        return DriftCheck.objects.create(drift=False, differences=[], error="nothing applied yet")
    if repair is None:
        repair = ClusterSettings.load().lock
    with kernel_lock():
        _, stored, _ = recorded()  # another writer may have changed it while this waited for the lock
        driver = make_driver(stored)
        try:
            actual = driver.read(sysctl_names={n for n, _ in stored.sysctls})
            ops = plan(actual, stored)
            repaired, error = False, ""
            if ops:
                log.warning("drift: the kernel differs from the journal in %d place(s): %s", len(ops),
                            "; ".join(op.describe() for op in ops[:10]))
                if repair:
                    result = driver.apply(ops)
                    repaired = result.ok
                    error = "; ".join(f"{op.describe()}: {err}" for op, err in result.failed)
                if repaired:
                    record(stored)
                    log.warning("drift repaired (lock is on)")
                else:
                    distrust()  # the journal is not the kernel: the next writer reads the kernel
        finally:
            driver.close()
    return DriftCheck.objects.create(drift=bool(ops), differences=[op.describe() for op in ops[:2000]],
                                     repaired=repaired, error=error)
