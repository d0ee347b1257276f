"""/metrics: Prometheus text that prometheus_client's own parser reads, token or login protected,
with the kernel figures of cluster.status, health, weights, apply runs and peer sync state."""

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from cluster import apply as apply_mod
from cluster import status as status_mod
from cluster.apply import apply_now
from cluster.models import ApplyRun, DriftCheck

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def render_only(settings, tmp_path, monkeypatch):
    settings.DATA_DIR = tmp_path
    monkeypatch.setattr(apply_mod, "dataplane_mode", lambda: "render-only")
    monkeypatch.setattr(status_mod, "dataplane_mode", lambda: "render-only")
    apply_mod.forget_verified_view()


def samples(body: bytes) -> dict:
    """{(name, frozenset(labels)): value} for every sample."""
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def find(all_samples: dict, name: str, **labels) -> float:
    want = set(labels.items())
    hits = [v for (n, ls), v in all_samples.items() if n == name and want <= ls]
    assert len(hits) == 1, (name, labels, hits)
    return hits[0]


KERNEL = {
    "dataplane": "kernel", "source": "worker",
    "services": [{
        "id": 1, "label": "web", "in_kernel": True, "active_conns": 3, "inactive_conns": 1,
        "conns": 40, "inpkts": 500, "outpkts": 450, "inbytes": 70000, "outbytes": 900000,
        "cps": 0, "inpps": 0, "outpps": 0, "inbps": 0, "outbps": 0, "fallback": [],
        "real_servers": [{
            "id": 7, "label": "rs1", "address": "10.0.0.1", "port": 80, "in_kernel": True, "weight": 0,
            "active_conns": 3, "inactive_conns": 1, "persistent_conns": 2, "conns": 40, "inpkts": 500,
            "outpkts": 450, "inbytes": 70000, "outbytes": 900000, "cps": 0, "inpps": 0, "outpps": 0,
            "inbps": 0, "outbps": 0,
        }],
    }],
}


def test_needs_a_token_or_a_login(client, anon, client_for):
    assert anon.get("/metrics").status_code == 401
    assert anon.get("/metrics", HTTP_AUTHORIZATION="Bearer flc_nope").status_code == 401
    for role in ("readonly", "operator", "admin"):
        assert client_for(role, "token").get("/metrics").status_code == 200, role
    assert client_for("readonly", "session").get("/metrics").status_code == 200


def test_kernel_figures_health_weight_and_latency(client_for, monkeypatch):
    monkeypatch.setattr(status_mod, "kernel_status", lambda: KERNEL)
    monkeypatch.setattr("healthchecks.live.live_statuses",
                        lambda: {7: {"state": "down", "ok": False, "latency_ms": 12.5, "reason": "timeout"}})
    res = client_for("readonly").get("/metrics")
    assert res.status_code == 200
    assert res["Content-Type"].startswith("text/plain; version=0.0.4")
    s = samples(res.content)
    svc = {"service": "web", "service_id": "1"}
    rs = {**svc, "real_server": "rs1", "address": "10.0.0.1", "port": "80"}
    assert find(s, "fulcrum_service_connections_total", **svc) == 40
    assert find(s, "fulcrum_service_connections", **svc, state="active") == 3
    assert find(s, "fulcrum_service_packets_total", **svc, direction="in") == 500
    assert find(s, "fulcrum_service_bytes_total", **svc, direction="out") == 900000
    assert find(s, "fulcrum_realserver_connections", **rs, state="persistent") == 2
    assert find(s, "fulcrum_realserver_packets_total", **rs, direction="out") == 450
    assert find(s, "fulcrum_realserver_bytes_total", **rs, direction="in") == 70000
    assert find(s, "fulcrum_realserver_weight", **rs) == 0
    assert find(s, "fulcrum_realserver_health", **rs, state="down") == 1
    assert find(s, "fulcrum_realserver_health", **rs, state="up") == 0
    assert find(s, "fulcrum_realserver_check_latency_seconds", **rs) == pytest.approx(0.0125)
    assert find(s, "fulcrum_dataplane_info", dataplane="kernel", source="worker") == 1


def test_real_apply_in_render_only_mode(make_service, client_for, monkeypatch):
    monkeypatch.setattr("healthchecks.live.live_statuses", dict)
    svc = make_service(servers=[{"weight": 5}, {"weight": 9}])
    apply_now()
    s = samples(client_for("readonly").get("/metrics").content)
    weights = sorted(v for (n, ls), v in s.items() if n == "fulcrum_realserver_configured_weight")
    assert weights == [5, 9]
    assert find(s, "fulcrum_service_in_kernel", service=svc.label) == 1
    assert find(s, "fulcrum_realserver_health", real_server="rs1", state="unknown") == 1
    assert find(s, "fulcrum_apply_runs_total", status="success") == 1
    assert find(s, "fulcrum_apply_duration_seconds_count") == 1
    assert find(s, "fulcrum_apply_last_success") == 1
    assert find(s, "fulcrum_peer_paired") == 0


def test_apply_runs_durations_drift_and_peer_sync(client_for, monkeypatch):
    from ha.models import Peer

    monkeypatch.setattr(status_mod, "kernel_status", lambda: {"dataplane": "render-only", "services": []})
    now = timezone.now()
    ApplyRun.objects.create(username="a", status=ApplyRun.SUCCESS, duration_ms=200, finished_at=now)
    ApplyRun.objects.create(username="a", status=ApplyRun.FAILED, duration_ms=300, finished_at=now)
    ApplyRun.objects.create(username="a", status=ApplyRun.QUEUED)
    DriftCheck.objects.create(drift=True, differences=["add x"])
    Peer.objects.create(pk=1, address="192.0.2.9", role="master", secret="ab" * 16, peer_name="lb2",
                        node_name="lb1", local_version=4, peer_version=3, sync_state=Peer.OUT_OF_SYNC,
                        reachable=True, vrrp_state="MASTER")
    s = samples(client_for("readonly").get("/metrics").content)
    assert find(s, "fulcrum_apply_runs_total", status="failed") == 1
    assert find(s, "fulcrum_apply_runs_total", status="queued") == 1
    assert find(s, "fulcrum_apply_duration_seconds_count") == 2
    assert find(s, "fulcrum_apply_duration_seconds_sum") == pytest.approx(0.5)
    assert find(s, "fulcrum_apply_last_success") == 0
    assert find(s, "fulcrum_apply_pending_runs") == 1
    assert find(s, "fulcrum_drift_detected") == 1
    assert find(s, "fulcrum_peer_sync_state", peer="lb2", state="out_of_sync") == 1
    assert find(s, "fulcrum_peer_sync_state", peer="lb2", state="in_sync") == 0
    assert find(s, "fulcrum_peer_in_sync") == 0
    assert find(s, "fulcrum_peer_local_version") == 4
    assert find(s, "fulcrum_vrrp_state", state="master") == 1


def test_metrics_survive_a_broken_kernel_read(client_for, monkeypatch):
    def broken():
        raise RuntimeError("no ipvs")

    monkeypatch.setattr(status_mod, "kernel_status", broken)
    s = samples(client_for("readonly").get("/metrics").content)
    assert find(s, "fulcrum_kernel_status_up") == 0
