"""Auto apply: each saved configuration change is applied after commit, coalesced."""

from __future__ import annotations

from unittest import mock

import pytest

from cluster import apply as apply_mod
from cluster.apply import pending_changes
from cluster.models import ApplyRun, ClusterSettings
from cluster.writer import journal

pytestmark = pytest.mark.django_db(transaction=True)  # on_commit runs on real commits only


@pytest.fixture
def worker(settings, tmp_path, monkeypatch):
    """Queued applies are recorded, not run: the test runs them when "the worker" gets to them."""
    settings.FULCRUM_DATAPLANE = "render-only"
    settings.DATA_DIR = tmp_path
    settings.CELERY_TASK_ALWAYS_EAGER = False
    monkeypatch.setattr(apply_mod, "dataplane_mode", lambda: "render-only")
    queued: list[int] = []
    with mock.patch("cluster.tasks.apply_task.delay", side_effect=queued.append):
        yield queued


def auto_apply(on: bool):
    settings = ClusterSettings.load()
    settings.auto_apply = on
    settings.save()


def test_a_burst_of_edits_makes_one_apply_that_includes_every_edit(worker, api, make_service):
    svc = make_service(servers=[{}])
    auto_apply(True)
    assert len(worker) == 1  # turning it on applies what was pending
    apply_mod.execute(ApplyRun.objects.get(pk=worker[0]))
    assert not pending_changes()

    for i in range(50):
        r = api.patch(f"/api/v1/virtual-services/{svc.pk}/", {"description": f"edit {i}",
                                                              "scheduler": "rr" if i % 2 else "wlc"}, format="json")
        assert r.status_code == 200, r.content
    assert len(worker) == 2  # coalesced: one waiting apply takes the whole burst
    run = ApplyRun.objects.get(pk=worker[1])
    assert run.reason == "auto apply" and run.username == "alice (auto apply)"
    apply_mod.execute(run)
    run.refresh_from_db()
    assert run.status == "success", run.error
    assert [s.scheduler for s in journal()[1].services] == ["rr"]  # edit 49, the last
    assert not pending_changes()  # the last apply holds every edit

    r = api.patch(f"/api/v1/virtual-services/{svc.pk}/", {"scheduler": "sh"}, format="json")
    assert r.status_code == 200 and len(worker) == 3  # after the apply started, a new edit queues a new one


def test_runtime_actions_and_auto_apply_off_queue_nothing(worker, client_for, make_service):
    svc = make_service(servers=[{}])
    assert worker == []
    client_for("operator").post(f"/api/v1/real-servers/{svc.real_servers.get().pk}/drain/")
    auto_apply(True)
    apply_mod.execute(ApplyRun.objects.get(pk=worker[0]))
    client_for("operator").post(f"/api/v1/real-servers/{svc.real_servers.get().pk}/halt/")
    assert len(worker) == 1  # runtime state is not configuration


def test_a_queue_that_cannot_be_reached_does_not_hold_later_auto_applies(api, make_service, settings, tmp_path):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.DATA_DIR = tmp_path
    svc = make_service()
    with mock.patch("cluster.tasks.apply_task.delay", side_effect=ConnectionError("redis down")):
        auto_apply(True)
        assert api.patch(f"/api/v1/virtual-services/{svc.pk}/", {"description": "x"},
                         format="json").status_code == 200
    assert not ApplyRun.objects.filter(status=ApplyRun.QUEUED).exists()
    assert ApplyRun.objects.filter(status=ApplyRun.FAILED, error__contains="redis down").exists()
    assert pending_changes()


def test_the_top_bar_says_auto_apply_is_on(client, admin, worker):
    client.force_login(admin)
    assert "Auto apply on" not in client.get("/").content.decode()
    auto_apply(True)
    assert "Auto apply on" in client.get("/").content.decode()
