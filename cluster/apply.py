"""Apply: compile the configuration, diff it against the kernel's verified view, push the difference.

One apply at a time (a host-wide file lock, since the web process in embedded mode and the
worker may both apply). Ops go to the driver in chunks so progress can be reported; on any
failure the kernel is rolled back to the state before the apply and the run says what failed.

The verified view: the state the last apply left, kept in memory by the process that applied
it. A process that has none (just started, or drift was suspected) reads the kernel once.
"""

from __future__ import annotations

import fcntl
import logging
import os
import pickle
import time
from collections.abc import Callable
from contextlib import contextmanager

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.models import ChangeRecord
from dataplane.compiler import compile_state
from dataplane.diff import Op, plan, simulate
from dataplane.state import DesiredState

from .compile import cluster_spec
from .models import AppliedState, ApplyRun, ClusterSettings
from .runtime import dataplane_mode

log = logging.getLogger("fulcrum.apply")

CHUNK = 500  # ops per driver call: big enough to keep netlink batching, small enough for a live bar
MAX_LOGGED_OPS = 2000
CONFIG_OBJECT_TYPES = ("virtualservice", "realserver", "floatingip", "clustersettings", "config")

Progress = Callable[[int, int, str], None]

_verified: dict[str, object] = {"version": None, "state": None}


class ApplyBusy(RuntimeError):
    pass


@contextmanager
def apply_lock(wait: bool = True):
    path = os.path.join(settings.DATA_DIR, "apply.lock")
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise ApplyBusy("another apply is running") from exc
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def make_driver(stored: DesiredState | None = None):
    if dataplane_mode() == "kernel":
        from dataplane.kernel import KernelDriver

        return KernelDriver()
    from dataplane.kernel import RenderOnlyDriver

    return RenderOnlyDriver(state=stored or DesiredState.empty())


def _version(row: AppliedState) -> str:
    # Run id and write time: ids can repeat (a test's rolled-back transaction), both together do not.
    return f"{row.run_id}@{row.updated_at.isoformat()}"


def stored_state() -> tuple[str | None, DesiredState | None]:
    """(version, state) of the last successful apply, or (None, None)."""
    row = AppliedState.objects.filter(pk=1).first()
    return (_version(row), pickle.loads(row.state)) if row else (None, None)


def forget_verified_view() -> None:
    """Drift was suspected: the next apply reads the kernel again."""
    _verified.update(version=None, state=None)


def _current_state(driver, desired: DesiredState, version, stored) -> DesiredState:
    if _verified["state"] is not None:
        if _verified["version"] == version:
            return _verified["state"]
        if stored is not None:
            return stored  # another kernel writer (healthcheckd, a drift repair) recorded its change there
    # No view yet in this process (just started; or drift suspected): read the kernel once.
    names = {n for n, _ in desired.sysctls} | {n for n, _ in (stored.sysctls if stored else ())}
    return driver.read(sysctl_names=names)


def record_external_ops(ops: list[Op]) -> None:
    """A writer other than apply (healthcheckd) changed the kernel: keep the stored view true to it."""
    with apply_lock(), transaction.atomic():
        row = AppliedState.objects.select_for_update().filter(pk=1).first()
        if row is None:
            return
        row.state = pickle.dumps(simulate(pickle.loads(row.state), ops))
        row.save(update_fields=["state", "updated_at"])


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
    with apply_lock():
        started = time.perf_counter()
        mode = dataplane_mode()
        ApplyRun.objects.filter(pk=run.pk).update(status=ApplyRun.RUNNING, started_at=timezone.now(), dataplane=mode)
        run.refresh_from_db()

        def report(done, total, text):
            _save_progress(run, done, total, text)
            if progress:
                progress(done, total, text)

        try:
            ClusterSettings.load()  # created on first use: that must not count as a change after this apply
            change_id = latest_change_id()
            desired = compile_state(cluster_spec())
            version, stored = stored_state()
            driver = make_driver(stored)
            try:
                current = _current_state(driver, desired, version, stored)
                ops = plan(current, desired)
                report(0, len(ops), "planned")
                applied, failed = _apply_chunked(driver, ops, report)
                if failed:
                    rollback_error = _roll_back(driver, current, applied)
                    _finish(run, ApplyRun.FAILED, ops, started, change_id,
                            error=_failure_text(failed, rollback_error))
                else:
                    _record_success(run, desired)
                    _finish(run, ApplyRun.SUCCESS, ops, started, change_id)
            finally:
                driver.close()
        except Exception as exc:  # a bug or a broken host must still end the run, never leave it "running"
            log.exception("apply #%s crashed", run.pk)
            forget_verified_view()
            _finish(run, ApplyRun.FAILED, [], started, 0, error=f"{type(exc).__name__}: {exc}")
    return run


def _roll_back(driver, before: DesiredState, applied: list[Op]) -> str:
    now = simulate(before, applied)
    result = driver.apply(plan(now, before))
    if result.ok:
        _verified.update(state=before)  # the kernel holds `before` again
        return ""
    forget_verified_view()
    return "; rollback also failed: " + "; ".join(f"{op.describe()}: {err}" for op, err in result.failed)


def _failure_text(failed, rollback_error: str) -> str:
    text = "; ".join(f"{op.describe()}: {err}" for op, err in failed)
    return f"{text}. The kernel was rolled back to its state before this apply{rollback_error}"


def _record_success(run: ApplyRun, desired: DesiredState) -> None:
    with transaction.atomic():
        row, _ = AppliedState.objects.update_or_create(pk=1, defaults={"state": pickle.dumps(desired), "run": run})
    _verified.update(version=_version(row), state=desired)


def _finish(run: ApplyRun, status: str, ops: list[Op], started: float, change_id: int, error: str = "") -> None:
    run.status = status
    run.finished_at = timezone.now()
    run.duration_ms = (time.perf_counter() - started) * 1000
    run.operation_count = len(ops)
    run.operations = [op.describe() for op in ops[:MAX_LOGGED_OPS]]
    run.change_id = change_id if status == ApplyRun.SUCCESS else 0
    run.error = error
    if status == ApplyRun.SUCCESS:
        run.progress_done = run.progress_total = len(ops)
        run.progress_text = "done"
    run.save()
    log.info("%s", run.report().splitlines()[0])


def apply_now(user=None, actor: str = "system", progress: Progress | None = None, reason: str = "apply") -> ApplyRun:
    """Queue and run an apply in this process, synchronously."""
    return execute(queue_run(user, actor, reason), progress)
