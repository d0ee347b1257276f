"""/metrics against `ipvsadm -Ln --stats --exact` in a real kernel (runs inside the UML guest).

The whole appliance (Redis, web, Celery worker) applies a DR service over the API; real TCP
connections go through it; then every per service and per real server figure on /metrics
(parsed with prometheus_client's parser) equals what ipvsadm prints.
"""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.netlab import lab
from tests.netlab.inside import appliance_lab as A

pytestmark = pytest.mark.netlab

VIP = "10.9.0.60"
RS = {"rs1": "10.9.0.11", "rs2": "10.9.0.12"}


@pytest.fixture(scope="module")
def lab_net():
    net = lab.Net.build(servers=2)
    for h in net.servers:
        net.serve(h.name, tcp=[80], six=False)
    net.dr_vip(VIP)
    yield net
    net.close()


@pytest.fixture(scope="module")
def app(lab_net, request):
    blocker = request.getfixturevalue("django_db_blocker") if request.config.pluginmanager.has_plugin(
        "django") else None
    if blocker is not None:
        blocker.unblock()
    a = A.start(Path(os.environ.get("TMPDIR", "/tmp")) / "appliance-metrics")
    yield a
    a.stop()
    if blocker is not None:
        blocker.restore()


def ipvsadm_stats() -> dict:
    """{(service or None, "addr:port"): [conns, inpkts, outpkts, inbytes, outbytes]} from ipvsadm."""
    out, service = {}, None
    for line in A.sh("ipvsadm", "-L", "-n", "--stats", "--exact").splitlines():
        words = line.split()
        if words[:1] in (["TCP"], ["UDP"]):
            service = words[1]
            out[(None, service)] = [int(w) for w in words[2:7]]
        elif words[:1] == ["->"] and len(words) >= 7 and words[1][0].isdigit():
            out[(service, words[1])] = [int(w) for w in words[2:7]]
    return out


def scrape(app) -> dict:
    req = urllib.request.Request(f"http://127.0.0.1:{A.PORT}/metrics", headers={"Authorization": f"Bearer {app.key}"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        body = resp.read().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(body) for s in fam.samples}


def one(samples: dict, name: str, **labels) -> float:
    hits = [v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= ls]
    assert len(hits) == 1, (name, labels, hits)
    return hits[0]


def test_metrics_match_ipvsadm_stats(app, lab_net):
    app.ok("PATCH", "/api/v1/cluster/", {"vip_interface": "back"})
    svc = app.ok("POST", "/api/v1/virtual-services/", {
        "label": "web", "vip": VIP, "ports": "80", "protocol": "tcp", "method": "dr", "scheduler": "rr",
        "check_type": "none"})
    for name, address in RS.items():
        app.ok("POST", f"/api/v1/virtual-services/{svc['id']}/real-servers/",
               {"label": name, "address": address, "weight": 7 if name == "rs1" else 3})
    app.apply()
    for _ in range(6):
        assert lab_net.tcp_hello(VIP, 80)[0] in RS

    # The kernel folds its per-CPU counters into the totals ipvsadm reads every 2 s (the estimator).
    A.wait_for(lambda: ipvsadm_stats()[(None, f"{VIP}:80")][0] == 6, 10, "IPVS to count the 6 connections")
    m = scrape(app)
    kernel = ipvsadm_stats()
    names = ("connections_total", "packets_total", "packets_total", "bytes_total", "bytes_total")
    dirs = (None, "in", "out", "in", "out")

    def figures(prefix, **labels):
        return [int(one(m, f"{prefix}_{n}", **labels, **({"direction": d} if d else {})))
                for n, d in zip(names, dirs, strict=True)]

    service_row = kernel[(None, f"{VIP}:80")]
    assert service_row[0] == 6 and service_row[1] > 0
    assert figures("fulcrum_service", service="web") == service_row
    for name, address in RS.items():
        assert figures("fulcrum_realserver", service="web", real_server=name) == kernel[(f"{VIP}:80", f"{address}:80")]
        assert one(m, "fulcrum_realserver_in_kernel", real_server=name) == 1
    assert one(m, "fulcrum_realserver_weight", real_server="rs1") == 7
    assert one(m, "fulcrum_realserver_weight", real_server="rs2") == 3
    assert one(m, "fulcrum_apply_runs_total", status="success") >= 1
    assert one(m, "fulcrum_dataplane_info", dataplane="kernel") == 1
