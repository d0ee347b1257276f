"""Drift: does the kernel still hold what the last apply left? Report it; repair it when locked."""

from __future__ import annotations

import logging

from dataplane.diff import plan

from .apply import _verified, apply_lock, forget_verified_view, make_driver, stored_state
from .models import ClusterSettings, DriftCheck

log = logging.getLogger("fulcrum.drift")


def check_drift(repair: bool | None = None) -> DriftCheck:
    version, stored = stored_state()
    if stored is None:
        return DriftCheck.objects.create(drift=False, differences=[], error="nothing applied yet")
    if repair is None:
        repair = ClusterSettings.load().lock
    with apply_lock():
        driver = make_driver(stored)
        try:
            actual = driver.read(sysctl_names={n for n, _ in stored.sysctls})
            ops = plan(actual, stored)
            repaired, error = False, ""
            if ops:
                forget_verified_view()
                log.warning("drift: the kernel differs from the last apply in %d place(s): %s", len(ops),
                            "; ".join(op.describe() for op in ops[:10]))
                if repair:
                    result = driver.apply(ops)
                    repaired = result.ok
                    error = "; ".join(f"{op.describe()}: {err}" for op, err in result.failed)
                    if repaired:
                        _verified.update(version=version, state=stored)
                        log.warning("drift repaired (lock is on)")
        finally:
            driver.close()
    return DriftCheck.objects.create(drift=bool(ops), differences=[op.describe() for op in ops[:2000]],
                                     repaired=repaired, error=error)
