"""Apply: compile the configuration, diff it against the kernel journal, push the difference.

Configuration (services, real servers, cluster settings) reaches the kernel here, when an
operator applies or, with Auto apply on, right after each saved change (cluster/autoapply.py).
Runtime state (online/drain/halt, health) goes at once through cluster/runtime_state.py.
Both write through the one kernel writer (cluster/writer.py): its lock, its journal.

Ops go to the driver in chunks so progress can be reported; on any failure the kernel is
rolled back to the state before the apply and the run says what failed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace

from django.utils import timezone

from audit.models import ChangeRecord
from dataplane.compiler import compile_state
from dataplane.desired import DesiredState
from dataplane.diff import Op, plan, simulate

from . import incremental
from .compile import cluster_settings_spec, service_specs
from .mode import dataplane_mode
from .models import ApplyRun, ClusterSettings
from .writer import KernelBusy as ApplyBusy  # noqa: F401 (the name callers of apply know)
from .writer import append, current_state, distrust, journal, kernel_lock, make_driver, record
from .writer import forget_view as forget_verified_view  # noqa: F401 (tests and older callers)

log = logging.getLogger("fulcrum.apply")

CHUNK = 500  # ops per driver call: big enough to keep netlink batching, small enough for a live bar
MAX_LOGGED_OPS = 2000
SMALL_APPLY = 100  # ops: journalled as an entry after the base, not as a new base
AUTO_APPLY = "auto apply"  # the reason of an Auto apply run: it may compile only what changed
CONFIG_OBJECT_TYPES = ("virtualservice", "realserver", "floatingip", "clustersettings", "config")

Progress = Callable[[int, int, str], None]


def latest_change_id() -> int:
    return ChangeRecord.objects.filter(object_type__in=CONFIG_OBJECT_TYPES).order_by("-id").values_list(
        "id", flat=True).first() or 0


def pending_changes() -> bool:
    last = ApplyRun.objects.filter(status=ApplyRun.SUCCESS).order_by("-id").values_list("change_id", flat=True).first()
    return latest_change_id() > (last or 0)


def queue_run(user=None, actor: str = "system", reason: str = "apply") -> ApplyRun:
    return ApplyRun.objects.create(user=user if getattr(user, "pk", None) else None, username=actor, reason=reason)


def _save_progress(run: ApplyRun, done: int, total: int, text: str) -> None:
    run.progress_done, run.progress_total, run.progress_text = done, total, text[:200]
    ApplyRun.objects.filter(pk=run.pk).update(progress_done=done, progress_total=total, progress_text=text[:200])


def _apply_chunked(driver, ops: list[Op], report: Progress):
    applied: list[Op] = []
    for start in range(0, len(ops), CHUNK):
        chunk = ops[start:start + CHUNK]
        result = driver.apply(chunk)
        applied.extend(result.applied)
        if not result.ok:
            return applied, result.failed
        report(start + len(chunk), len(ops), chunk[-1].describe())
    return applied, ()


def execute(run: ApplyRun, progress: Progress | None = None) -> ApplyRun:
    """Run a queued apply to its end (called by the Celery task and by `manage.py apply`)."""
    with kernel_lock():
        started = time.perf_counter()
        mode = dataplane_mode()
        ApplyRun.objects.filter(pk=run.pk).update(status=ApplyRun.RUNNING, started_at=timezone.now(), dataplane=mode)
        run.refresh_from_db()

        def report(done, total, text):
            if total > CHUNK:  # one chunk has nothing to show between planned and done: no commit for it
                _save_progress(run, done, total, text)
            if progress:
                progress(done, total, text)

        try:
            ClusterSettings.load()  # created on first use: that must not count as a change after this apply
            change_id = latest_change_id()
            _, stored = journal()
            edit = incremental.plan_edit(stored) if run.reason == AUTO_APPLY else None
            if edit is None:
                mark, settings = incremental.read_mark(), cluster_settings_spec()
                spec = replace(settings, services=service_specs())
                desired = compile_state(spec)
            else:  # only the edited services, from the journal's state (cluster/incremental.py)
                desired = edit.state
            driver = make_driver(stored)
            try:
                current = current_state(driver, stored, sysctl_names={n for n, _ in desired.sysctls})
                ops = plan(current, desired) if edit is None else edit.ops
                report(0, len(ops), "planned")
                applied, failed = _apply_chunked(driver, ops, report)
                if failed:
                    incremental.forget()
                    rollback_error = _roll_back(driver, current, applied)
                    _finish(run, ApplyRun.FAILED, ops, started, change_id,
                            error=_failure_text(failed, rollback_error))
                else:
                    _journal(run, stored, ops, desired)
                    if edit is None:
                        incremental.remember(mark, settings, spec.services)
                    else:
                        edit.done()
                    _load_bgp(run)
                    _finish(run, ApplyRun.SUCCESS, ops, started, change_id)
            finally:
                driver.close()
        except Exception as exc:  # a bug or a broken host must still end the run, never leave it "running"
            log.exception("apply #%s crashed", run.pk)
            distrust()
            incremental.forget()
            _finish(run, ApplyRun.FAILED, [], started, 0, error=f"{type(exc).__name__}: {exc}")
    return run


def _load_bgp(run: ApplyRun) -> None:
    """Active-active: FRR takes the configuration's VIPs and BGP settings. A refusal is the run's error
    text, not a failed apply: the kernel holds the new state, and the VIPs it holds stay announced."""
    from .bgp import after_apply

    try:
        after_apply()
    except Exception as exc:  # FRR missing or refusing must not roll back a good kernel state
        log.warning("apply #%s: BGP: %s", run.pk, exc)
        run.error = f"BGP: {exc}"


def _journal(run: ApplyRun, stored, ops: list[Op], desired) -> None:
    """A small apply (one edit) adds an entry after the base; a big one, or one that planned from
    a kernel read, writes a new base: encoding 40,000 destinations costs more than the edit."""
    if stored is not None and len(ops) <= SMALL_APPLY:
        if ops:
            append(ops, desired)
    else:
        record(desired, run)


def _roll_back(driver, before: DesiredState, applied: list[Op]) -> str:
    now = simulate(before, applied)
    result = driver.apply(plan(now, before))
    record(simulate(now, result.applied))  # the journal holds what the kernel holds, rolled back or not
    if result.ok:
        return ""
    return "; rollback also failed: " + "; ".join(f"{op.describe()}: {err}" for op, err in result.failed)


def _failure_text(failed, rollback_error: str) -> str:
    text = "; ".join(f"{op.describe()}: {err}" for op, err in failed)
    return f"{text}. The kernel was rolled back to its state before this apply{rollback_error}"


def _finish(run: ApplyRun, status: str, ops: list[Op], started: float, change_id: int, error: str = "") -> None:
    run.status = status
    run.finished_at = timezone.now()
    run.duration_ms = (time.perf_counter() - started) * 1000
    run.operation_count = len(ops)
    run.operations = [op.describe() for op in ops[:MAX_LOGGED_OPS]]
    run.change_id = change_id if status == ApplyRun.SUCCESS else 0
    run.error = error or run.error  # a success may carry a BGP warning (_load_bgp)
    if status == ApplyRun.SUCCESS:
        run.progress_done = run.progress_total = len(ops)
        run.progress_text = "done"
    run.save()
    log.info("%s", run.report().splitlines()[0])


def apply_now(user=None, actor: str = "system", progress: Progress | None = None, reason: str = "apply") -> ApplyRun:
    """Queue and run an apply in this process, synchronously."""
    return execute(queue_run(user, actor, reason), progress)
