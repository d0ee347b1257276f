"""Fixtures for the Ansible collection's tests: the API tests' live server, and an apply that runs
render-only in a thread of the test process (no worker, no kernel)."""

from __future__ import annotations

import pytest

from tests.api.conftest import live_url  # noqa: F401  (a fixture, used by name)


@pytest.fixture
def render_only_apply(settings, tmp_path, monkeypatch):
    from django.db.models.signals import post_save

    from checklists.signals import after_apply
    from cluster import apply as apply_mod
    from cluster.models import ApplyRun

    settings.FULCRUM_DATAPLANE = "render-only"
    settings.DATA_DIR = tmp_path
    settings.CELERY_TASK_ALWAYS_EAGER = True  # the apply runs in a thread of the live server's process
    monkeypatch.setattr(apply_mod, "dataplane_mode", lambda: "render-only")
    apply_mod.forget_verified_view()
    # The after-apply checklist run would outlive the test in its own thread.
    post_save.disconnect(sender=ApplyRun, dispatch_uid="checklists.after_apply")
    yield
    post_save.connect(after_apply, sender=ApplyRun, dispatch_uid="checklists.after_apply")
    apply_mod.forget_verified_view()
