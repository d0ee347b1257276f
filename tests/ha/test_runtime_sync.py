"""Runtime state reaches the HA peer: a server drained on the master is drained on the backup too (so
after a failover), without the master's pending configuration travelling with it. Real second
appliance over HTTP (tests/ha/conftest.py)."""

from __future__ import annotations

import pytest

from cluster.apply import apply_now
from cluster.models import ApplyRun
from ha import replication, sync
from ha.models import Outbox
from tests.ha.conftest import PEER_ADMIN, PEER_PASSWORD

pytestmark = pytest.mark.django_db
V1 = "/api/v1"


def test_drain_on_the_master_reaches_the_backup(api, client_for, peer_app, make_service, monkeypatch,
                                                django_capture_on_commit_callbacks):
    syncs = []
    monkeypatch.setattr("ha.api.views.start_apply", lambda *a, **k: None)
    monkeypatch.setattr(replication, "start_sync", lambda: syncs.append(1))
    svc = make_service(servers=[{}, {}], label="web", vip="192.0.2.80", method="nat")
    body = {"peer_address": "127.0.0.1", "peer_port": peer_app.port, "username": PEER_ADMIN,
            "password": PEER_PASSWORD, "node_name": "lb1", "scheme": "http", "my_port": 8000}
    assert api.post(f"{V1}/ha/pair/", body, format="json").status_code == 201
    with django_capture_on_commit_callbacks(execute=True):
        assert apply_now(actor="test").status == ApplyRun.SUCCESS
    assert sync.push_config()["apply"] == "success"

    rs1, rs2 = svc.real_servers.get(label="rs1"), svc.real_servers.get(label="rs2")
    rs2.weight = 5  # configuration, not applied on the master: must not reach the backup
    rs2.save()
    before = len(syncs)
    answer = client_for("operator").post(f"{V1}/real-servers/{rs1.pk}/drain/")
    assert answer.status_code == 200 and answer.json()["kernel"]["status"] == "done"
    assert len(syncs) == before + 1  # a sync was queued at once, no Apply
    assert sync.push_config()["apply"] == "success"

    there = {rs["label"]: rs for rs in peer_app.get(f"{V1}/real-servers/")["results"]}
    assert there["rs1"]["admin_state"] == "drain" and there["rs2"]["admin_state"] == "online"
    assert there["rs2"]["weight"] == 100
    assert peer_app.get(f"{V1}/apply/")["pending_changes"] is False  # the backup's kernel has it
    bundle_states = {rs["label"]: rs["admin_state"] for rs in Outbox.objects.get().bundle["virtual_services"][0]
                     ["real_servers"]}
    assert bundle_states == {"rs1": "drain", "rs2": "online"}
