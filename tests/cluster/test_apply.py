"""The apply layer on the render-only driver: planning from the verified view, progress, rollback,
pending changes, drift, status and the API. (The kernel driver itself is proven in tests/netlab.)"""

from __future__ import annotations

import pytest

from cluster import apply as apply_mod
from cluster.apply import apply_now, pending_changes
from cluster.drift import check_drift
from cluster.models import ApplyRun, ClusterSettings
from cluster.writer import journal as stored_state
from dataplane.diff import AddDest
from dataplane.kernel import RenderOnlyDriver

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def render_only(settings, tmp_path, monkeypatch):
    settings.FULCRUM_DATAPLANE = "render-only"
    settings.DATA_DIR = tmp_path
    monkeypatch.setattr(apply_mod, "dataplane_mode", lambda: "render-only")
    apply_mod.forget_verified_view()
    yield
    apply_mod.forget_verified_view()


def test_first_apply_adds_everything_then_nothing_is_left_to_do(make_service):
    make_service(servers=[{}, {}], method="nat")
    run = apply_now(actor="test")
    assert run.status == ApplyRun.SUCCESS, run.error
    assert run.operation_count > 0 and run.progress_done == run.progress_total == run.operation_count
    _, state = stored_state()
    assert len(state.services) == 1 and len(state.destinations) == 2
    again = apply_now(actor="test")
    assert again.status == ApplyRun.SUCCESS and again.operation_count == 0


def test_a_weight_change_is_one_edit_of_that_destination_only(make_service):
    svc = make_service(servers=[{}, {}, {}])
    apply_now()
    rs = svc.real_servers.get(label="rs2")
    rs.weight = 7
    rs.save()
    run = apply_now()
    assert run.operation_count == 1
    assert run.operations[0].startswith("ipvsadm -e -t ") and "-r 10.0.0.2:" in run.operations[0]
    assert "-w 7" in run.operations[0]


def test_drain_is_weight_zero_and_halt_removes(make_service):
    svc = make_service(servers=[{}, {}])
    apply_now()
    from realservers.actions import set_state

    set_state([svc.real_servers.get(label="rs1")], "drain")
    set_state([svc.real_servers.get(label="rs2")], "halt")
    run = apply_now()
    assert run.status == ApplyRun.SUCCESS
    _, state = stored_state()
    assert {(d.address, d.weight) for d in state.destinations} == {("10.0.0.1", 0)}


def test_failure_rolls_back_to_the_state_before_and_says_what_failed(make_service, monkeypatch):
    make_service(servers=[{}])
    apply_now()
    _, before = stored_state()
    refuse = lambda op: isinstance(op, AddDest) and op.dest.address == "10.0.0.9"  # noqa: E731
    driver = RenderOnlyDriver(state=before, fail_on=refuse)
    monkeypatch.setattr(apply_mod, "make_driver", lambda stored=None: driver)
    svc2 = make_service(servers=[{"address": "10.0.0.8"}, {"address": "10.0.0.9"}])
    run = apply_now()
    assert run.status == ApplyRun.FAILED
    assert "10.0.0.9" in run.error and "rolled back" in run.error
    assert driver.state == before  # nothing of the failed apply is left in the "kernel"
    _, still = stored_state()
    assert still == before
    assert svc2.pk and pending_changes()  # the configuration is kept and still pending


def test_pending_changes_follow_the_change_log(make_service):
    assert not pending_changes()
    svc = make_service()
    assert pending_changes()
    apply_now()
    assert not pending_changes()
    svc.description = "changed"
    svc.save()
    assert pending_changes()


def test_progress_is_reported_in_chunks(make_service, monkeypatch):
    monkeypatch.setattr(apply_mod, "CHUNK", 2)
    make_service(servers=[{}, {}, {}])
    seen = []
    run = apply_now(progress=lambda done, total, text: seen.append((done, total)))
    assert run.status == ApplyRun.SUCCESS
    assert seen[0] == (0, run.operation_count) and seen[-1] == (run.operation_count, run.operation_count)
    assert len(seen) >= 3


def test_drift_is_reported_and_repaired_only_when_locked(make_service, monkeypatch):
    svc = make_service(servers=[{}])
    apply_now()
    _, applied = stored_state()
    dest = next(iter(applied.destinations))
    from dataclasses import replace

    tampered = replace(applied, destinations=frozenset({replace(dest, weight=1)}))
    driver = RenderOnlyDriver(state=tampered)
    monkeypatch.setattr(apply_mod, "make_driver", lambda stored=None: driver)
    import cluster.drift as drift_mod

    monkeypatch.setattr(drift_mod, "make_driver", lambda stored=None: driver)
    report = check_drift()
    assert report.drift and not report.repaired and driver.state == tampered
    assert any(op.startswith("ipvsadm -e ") and "-w 1" in op for op in report.differences)
    settings = ClusterSettings.load()
    settings.lock = True
    settings.save()
    report = check_drift()
    assert report.drift and report.repaired and driver.state == applied
    assert not check_drift().drift
    assert svc.pk


def test_apply_api_status_start_and_runs(client_for, make_service, settings, own_redis_keys):
    # No worker's kernel snapshot in Redis: the status below is read directly, after this apply.
    settings.CELERY_TASK_ALWAYS_EAGER = False
    from unittest import mock

    make_service(servers=[{}])
    api = client_for("operator")
    status = api.get("/api/v1/apply/").json()
    assert status["pending_changes"] is True and status["dataplane"] == "render-only"
    with mock.patch("cluster.tasks.apply_task.delay", side_effect=lambda pk: apply_mod.execute(
            ApplyRun.objects.get(pk=pk))):
        response = api.post("/api/v1/apply/")
    assert response.status_code == 202
    run = api.get(f"/api/v1/apply/runs/{response.json()['id']}/").json()
    assert run["status"] == "success" and run["operation_count"] > 0
    assert api.get("/api/v1/apply/").json()["pending_changes"] is False
    assert "-A -t 192.0.2.1:80" in api.get("/api/v1/apply/rendered/").json()["text"]
    status = api.get("/api/v1/status/").json()
    assert status["services"][0]["in_kernel"] is True
    assert status["services"][0]["real_servers"][0]["weight"] == 100


def test_read_only_may_not_apply(client_for):
    assert client_for("readonly").post("/api/v1/apply/").status_code == 403
    assert client_for("readonly").get("/api/v1/apply/").status_code == 200


@pytest.fixture
def no_after_apply_checklists():
    """The after-apply checklist run would outlive this test in its own thread."""
    from django.db.models.signals import post_save

    from checklists.signals import after_apply

    post_save.disconnect(sender=ApplyRun, dispatch_uid="checklists.after_apply")
    yield
    post_save.connect(after_apply, sender=ApplyRun, dispatch_uid="checklists.after_apply")


@pytest.mark.django_db(transaction=True)
def test_embedded_mode_applies_in_a_thread(client_for, make_service, settings, no_after_apply_checklists):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    make_service(servers=[{}])
    run_id = client_for("admin").post("/api/v1/apply/").json()["id"]
    import time

    for _ in range(100):
        run = ApplyRun.objects.get(pk=run_id)
        if run.status in (ApplyRun.SUCCESS, ApplyRun.FAILED):
            break
        time.sleep(0.05)
    assert run.status == ApplyRun.SUCCESS, run.error


def test_health_changes_made_outside_apply_keep_the_view_true(make_service, monkeypatch):
    """healthcheckd removes a dead server and puts it back; apply and drift must agree with it."""
    import cluster.drift as drift_mod
    import cluster.writer as writer_mod
    from dataplane.diff import DelDest

    svc = make_service(servers=[{}, {}], on_down="remove")
    apply_now()
    _, applied = stored_state()
    driver = RenderOnlyDriver(state=applied)
    monkeypatch.setattr(apply_mod, "make_driver", lambda stored=None: driver)
    monkeypatch.setattr(drift_mod, "make_driver", lambda stored=None: driver)
    apply_now()  # this process now holds a verified view

    dead = next(d for d in applied.destinations if d.address == "10.0.0.1")
    # What healthcheckd does: through the one writer, which changes the kernel and journals it.
    assert writer_mod.submit(lambda current: [DelDest(dead)], driver=driver).ok
    svc.real_servers.filter(label="rs1").update(health="down")
    assert not check_drift(repair=False).drift

    svc.real_servers.filter(label="rs1").update(health="up")
    assert writer_mod.submit(lambda current: [AddDest(dead)], driver=driver).ok
    run = apply_now()  # would fail with "exists" if it planned from a stale view
    assert run.status == ApplyRun.SUCCESS and run.operation_count == 0
    assert not check_drift(repair=False).drift
