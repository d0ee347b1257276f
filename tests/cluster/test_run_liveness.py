"""Stale apply runs: the apply lock (a real flock, held by a real process) says who is alive."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

import cluster.tasks as tasks
from cluster.models import ApplyRun
from cluster.run_liveness import NOT_PICKED_UP, WORKER_LOST, claimable, sweep_stale_runs
from cluster.tasks import apply_task


@pytest.fixture
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.FULCRUM_APPLY_QUEUE_SECONDS = 60
    return tmp_path


def _run(status: str, age_seconds: float = 0) -> ApplyRun:
    run = ApplyRun.objects.create(username="admin", status=status)
    ApplyRun.objects.filter(pk=run.pk).update(queued_at=timezone.now() - timedelta(seconds=age_seconds))
    return run


def _hold_lock(data_dir):
    """Another process holding the apply lock, as a worker does while it applies."""
    code = ("import fcntl, sys, time; f = open(sys.argv[1], 'a+'); fcntl.flock(f, fcntl.LOCK_EX); "
            "print('held', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(data_dir / "apply.lock")], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_running_run_is_alive_while_its_process_holds_the_lock_and_lost_once_it_dies(db, data_dir):
    run = _run(ApplyRun.RUNNING)
    holder = _hold_lock(data_dir)
    try:
        assert sweep_stale_runs() == 0
        run.refresh_from_db()
        assert run.status == ApplyRun.RUNNING
    finally:
        holder.kill()
        holder.wait(5)
    assert sweep_stale_runs() == 1
    run.refresh_from_db()
    assert (run.status, run.error, run.change_id) == (ApplyRun.FAILED, WORKER_LOST, 0)
    assert run.finished_at is not None


def test_a_queued_run_is_lost_only_when_old_and_no_apply_runs(db, data_dir):
    young, old = _run(ApplyRun.QUEUED, age_seconds=5), _run(ApplyRun.QUEUED, age_seconds=120)
    holder = _hold_lock(data_dir)
    try:
        assert sweep_stale_runs() == 0  # queued behind a running apply: waiting, not lost
    finally:
        holder.kill()
        holder.wait(5)
    assert sweep_stale_runs(include_queued=False) == 0  # a worker starting: its messages may still come
    assert sweep_stale_runs() == 1
    young.refresh_from_db()
    old.refresh_from_db()
    assert young.status == ApplyRun.QUEUED
    assert old.status == ApplyRun.FAILED and old.error == NOT_PICKED_UP.format(seconds=60)


def test_the_task_of_a_run_failed_as_lost_does_nothing(db, data_dir):
    run = _run(ApplyRun.QUEUED, age_seconds=120)
    sweep_stale_runs()
    assert not claimable(run.pk)
    assert apply_task(run.pk).startswith("skipped")
    run.refresh_from_db()
    assert run.status == ApplyRun.FAILED and run.started_at is None


def test_pages_stop_showing_apply_running_for_a_dead_run(db, data_dir, admin_session):
    _run(ApplyRun.RUNNING)
    page = admin_session.get("/maintenance/apply/")
    assert page.status_code == 200
    assert b"Apply running" not in page.content and b"is running" not in page.content
    assert ApplyRun.objects.get().status == ApplyRun.FAILED


def test_an_embedded_apply_that_cannot_start_ends_failed_with_the_reason(transactional_db, data_dir, settings,
                                                                          monkeypatch):
    # Embedded mode runs the apply in a thread: should it fail before execute() takes the run (here the
    # database refuses the run's first read), the run ends at once with why, not "Queued…" for a minute.
    settings.CELERY_TASK_ALWAYS_EAGER = True

    def refused(run_id):
        raise OperationalError("database table is locked: cluster_applyrun")

    monkeypatch.setattr(tasks, "claimable", refused)
    run = tasks.start_apply(actor="admin")
    for thread in [t for t in threading.enumerate() if t.name == f"apply-{run.pk}"]:
        thread.join(10)
    run.refresh_from_db()
    assert run.status == ApplyRun.FAILED
    assert "could not start (OperationalError: database table is locked" in run.error
    assert "still pending" in run.error
