"""Kernel status reaches the unprivileged web process through the worker's Redis snapshot."""

import pytest

from cluster import apply as apply_mod
from cluster import status as status_mod
from cluster.apply import apply_now

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def render_only(settings, tmp_path, monkeypatch):
    settings.DATA_DIR = tmp_path
    settings.REDIS_URL = "redis://127.0.0.1:6379/15"
    monkeypatch.setattr(apply_mod, "dataplane_mode", lambda: "render-only")
    monkeypatch.setattr(status_mod, "dataplane_mode", lambda: "render-only")
    apply_mod.forget_verified_view()
    status_mod._redis().delete(status_mod.KERNEL_STATUS_KEY)
    yield
    status_mod._redis().delete(status_mod.KERNEL_STATUS_KEY)


def test_web_reads_the_workers_snapshot(make_service, settings, monkeypatch):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    make_service(servers=[{}, {}])
    apply_now()
    published = status_mod.publish_status()
    assert published["services"][0]["in_kernel"]

    def no_direct_read():
        raise AssertionError("the web process must not read the kernel when the worker published")

    monkeypatch.setattr(status_mod, "read_kernel_status", no_direct_read)
    status = status_mod.kernel_status()
    assert status["source"] == "worker"
    assert [rs["weight"] for rs in status["services"][0]["real_servers"]] == [100, 100]


def test_without_a_snapshot_or_in_embedded_mode_it_reads_directly(make_service, settings):
    make_service(servers=[{}])
    apply_now()
    settings.CELERY_TASK_ALWAYS_EAGER = False
    assert status_mod.kernel_status()["source"] == "direct"
    settings.CELERY_TASK_ALWAYS_EAGER = True
    status_mod.publish_status()
    assert status_mod.kernel_status()["source"] == "direct"
