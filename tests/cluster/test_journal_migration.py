"""The migration to the JSON journal: an old pickled applied state is never unpickled; its row is
left without a journal, which the writer does not trust, so it reads the kernel and rewrites it."""

from __future__ import annotations

import pickle

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from dataplane.desired import DesiredState

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("cluster", "0002_apply")]
AFTER = [("cluster", "0003_applied_state_json_journal")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


class Exploding:
    """Unpickling this runs code: exactly what must never happen in the privileged writer."""

    def __reduce__(self):
        return (pytest.fail, ("the migration unpickled the old row",))


def test_an_old_pickled_row_is_dropped_not_unpickled_and_the_kernel_is_read(settings, tmp_path, monkeypatch):
    old_apps = migrate(BEFORE)
    OldAppliedState = old_apps.get_model("cluster", "AppliedState")
    OldAppliedState.objects.create(pk=1, state=pickle.dumps(Exploding()))
    try:
        new_apps = migrate(AFTER)
        row = new_apps.get_model("cluster", "AppliedState").objects.get(pk=1)
        assert row.journal is None
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    from cluster import writer
    from dataplane.kernel import RenderOnlyDriver

    settings.DATA_DIR = tmp_path
    kernel = RenderOnlyDriver(state=DesiredState.empty())
    monkeypatch.setattr(writer, "make_driver", lambda stored=None: kernel)
    writer.forget_view()
    assert writer.journal()[1] is None  # not trusted
    assert writer.submit(lambda current: []).ok  # any writer's turn: the kernel is read, the journal rewritten
    assert writer.journal()[1] == kernel.read(sysctl_names=())
