"""The whole appliance end to end in the kernel lab (runs inside the UML guest).

Redis, the web process (``manage.py runserver``, not eager) and a real Celery worker
(``celery -A appliance worker -P solo``) run in the guest on a fresh SQLite database. An admin
configures services over HTTP with an API token and applies them with ``POST /api/v1/apply/``;
the worker drives the guest's real kernel; real packets from the ``client`` namespace prove it.

    client 10.8.0.100 ── front ── LB (guest root ns: VIPs, IPVS, Redis, web, worker) ── back ── rs1..rs3

DR TCP service ``web`` 10.9.0.60:80 → rs1, rs2 (rs3:8443 is its fallback "sorry" server);
SNAT service ``sstp`` 10.8.0.60:443 → rs1, rs2 on port 8443, real servers see 10.9.0.1.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.netlab import lab
from tests.netlab.inside import appliance_lab as A

pytestmark = pytest.mark.netlab

DR_VIP, SNAT_VIP, LB_BACK = "10.9.0.60", "10.8.0.60", "10.9.0.1"
RS = {"rs1": "10.9.0.11", "rs2": "10.9.0.12", "rs3": "10.9.0.13"}


@pytest.fixture(scope="module")
def lab_net():
    net = lab.Net.build(servers=3)
    for h in net.servers:
        net.serve(h.name, tcp=[80, 8443], udp=[53], six=False)
    net.dr_vip(DR_VIP)
    yield net
    net.close()


@pytest.fixture(scope="module")
def app(lab_net, request):
    blocker = _db_blocker(request)
    if blocker is not None:
        blocker.unblock()
    a = A.start(Path(os.environ.get("TMPDIR", "/tmp")) / "appliance-e2e")
    yield a
    a.stop()
    if blocker is not None:
        blocker.restore()


def _db_blocker(request):
    """pytest-django blocks database access outside its own fixtures; this module shares the
    appliance's database instead (see appliance.use_database)."""
    if not request.config.pluginmanager.has_plugin("django"):
        return None
    return request.getfixturevalue("django_db_blocker")


def ipvsadm_ln() -> str:
    return A.sh("ipvsadm", "-L", "-n")


def counters(app: A.Appliance, label: str) -> dict:
    return next(s for s in app.get("/api/v1/status/")["services"] if s["label"] == label)


def test_whole_appliance_api_worker_kernel_packets(app, lab_net):
    net = lab_net
    addr_before = A.sh("ip", "-o", "addr")
    status = app.get("/api/v1/apply/")
    assert status["celery"] == "worker" and status["dataplane"] == "kernel", status  # not eager: Redis + worker

    # --- configure over HTTP
    app.ok("PATCH", "/api/v1/cluster/", {"vip_interface": "back"})
    web = app.ok("POST", "/api/v1/virtual-services/", {
        "label": "web", "vip": DR_VIP, "ports": "80", "protocol": "tcp", "method": "dr", "scheduler": "rr",
        "fallback_address": RS["rs3"], "fallback_port": 8443, "check_type": "none"})
    sstp = app.ok("POST", "/api/v1/virtual-services/", {
        "label": "sstp", "vip": SNAT_VIP, "ports": "443", "protocol": "tcp", "method": "snat", "scheduler": "rr",
        "snat_source": LB_BACK, "check_type": "none"})
    rs_ids = {}
    for name in ("rs1", "rs2"):
        rs_ids[name] = app.ok("POST", f"/api/v1/virtual-services/{web['id']}/real-servers/",
                              {"label": name, "address": RS[name]})["id"]
        app.ok("POST", f"/api/v1/virtual-services/{sstp['id']}/real-servers/",
               {"label": name, "address": RS[name], "port": 8443})
    assert app.get("/api/v1/apply/")["pending_changes"] is True

    # --- apply through Redis and the worker
    run = app.apply()
    assert run["dataplane"] == "kernel" and run["username"] == A.ADMIN and run["operation_count"] > 0
    assert any("10.9.0.60" in op for op in run["operations"]), run["operations"]
    assert app.get("/api/v1/apply/")["pending_changes"] is False
    # the worker, not the web process, ran it (Celery logs each task it receives; the per-task
    # "succeeded" line is kept out of the logs: the status publisher would print it every 2 s)
    A.wait_for(lambda: re.search(r"Task kernel\.apply\[[^]]+\] received", app.log("worker", 100_000)), 10,
               "the worker's log of the apply task")

    # --- the table, as ipvsadm prints it
    table = ipvsadm_ln()
    assert re.search(r"TCP\s+10\.9\.0\.60:80 rr", table) and re.search(r"TCP\s+10\.8\.0\.60:443 rr", table), table
    for name in ("rs1", "rs2"):
        assert re.search(rf"-> {RS[name]}:80\s+Route\s+100", table), table
        assert re.search(rf"-> {RS[name]}:8443\s+Masq\s+100", table), table
    assert "10.9.0.13" not in table  # the fallback waits until no real server takes connections
    assert f"--vaddr {SNAT_VIP}" in "\n".join(A.ours(A.iptables_save(4)))
    assert f" {DR_VIP}/32 " in A.sh("ip", "-o", "addr", "show", "dev", "back")

    # --- real packets from the client namespace
    dr = [net.tcp_hello(DR_VIP, 80) for _ in range(6)]
    assert {r[0] for r in dr} == {"rs1", "rs2"}
    assert {r[1] for r in dr} == {"10.8.0.100"}  # DR is transparent
    snat = [net.tcp_hello(SNAT_VIP, 443) for _ in range(6)]
    assert {r[0] for r in snat} == {"rs1", "rs2"}
    assert {r[1] for r in snat} == {LB_BACK}  # real servers see the load balancer
    assert {r[3] for r in snat} == {"8443"}  # 443 → 8443

    # --- connections and counters through the API (the kernel folds per-CPU counters every 2 s)
    def counted():
        w, s = counters(app, "web"), counters(app, "sstp")
        return (w, s) if w["conns"] >= 6 and s["conns"] >= 6 else None

    w, s = A.wait_for(counted, 10, "IPVS counters in GET /api/v1/status/", every=0.5)
    for svc in (w, s):
        assert svc["in_kernel"] and svc["inpkts"] > 0 and svc["inbytes"] > 0
        assert svc["active_conns"] + svc["inactive_conns"] > 0, svc
        assert sum(rs["conns"] for rs in svc["real_servers"]) >= 6
        assert {rs["label"] for rs in svc["real_servers"] if rs["in_kernel"] and rs["conns"]} == {"rs1", "rs2"}
    assert s["outpkts"] > 0  # SNAT (masquerade) sees the replies; DR does not

    # --- drain, at once (runtime state: no Apply, nothing pending): new connections avoid it, an open one
    # keeps working. The web process asks the worker (task kernel.runtime) and answers with the kernel's result.
    applies = app.get("/api/v1/apply/runs/")["count"]
    conn = net.socket("client")
    conn.settimeout(5)
    conn.connect((DR_VIP, 80))
    f = conn.makefile("rwb")
    first = f.readline().decode().split()[0]
    other = "rs2" if first == "rs1" else "rs1"
    drained = app.ok("POST", f"/api/v1/real-servers/{rs_ids[first]}/drain/")
    assert drained["state"] == "drain" and drained["matched"] == 1
    assert drained["kernel"]["status"] == "done", drained["kernel"]
    [op] = drained["kernel"]["operations"]
    assert op.startswith("ipvsadm -e ") and f"-r {RS[first]}:" in op and op.endswith("-w 0"), op  # the op as a command
    assert re.search(rf"-> {RS[first]}:80\s+Route\s+0\s", ipvsadm_ln())  # already, when the answer came
    assert app.get("/api/v1/apply/")["pending_changes"] is False
    assert {net.tcp_hello(DR_VIP, 80)[0] for _ in range(6)} == {other}
    f.write(b"still there\n")
    f.flush()
    assert f.readline().decode().strip() == f"{first} still there"
    conn.close()
    assert re.search(r"Task kernel\.runtime\[[^]]+\] received", app.log("worker", 100_000))

    # --- halt, at once: removed from the table
    halted = app.ok("POST", f"/api/v1/real-servers/{rs_ids[first]}/halt/")
    assert halted["kernel"]["status"] == "done"
    table = ipvsadm_ln()
    assert f"{RS[first]}:80" not in table and f"{RS[other]}:80" in table
    assert {net.tcp_hello(DR_VIP, 80)[0] for _ in range(4)} == {other}
    assert app.get("/api/v1/apply/")["pending_changes"] is False

    # --- online again, at once; then an Apply finds nothing to do (the journal holds what the kernel holds)
    assert app.ok("POST", f"/api/v1/real-servers/{rs_ids[first]}/online/")["kernel"]["status"] == "done"
    assert re.search(rf"-> {RS[first]}:80\s+Route\s+100\s", ipvsadm_ln())
    assert {net.tcp_hello(DR_VIP, 80)[0] for _ in range(6)} == {"rs1", "rs2"}
    assert app.get("/api/v1/apply/runs/")["count"] == applies  # no apply ran for any of it
    assert app.get("/api/v1/apply/")["pending_changes"] is False
    assert app.apply()["operation_count"] == 0

    # --- no real server left (halted by address, at once): the fallback server answers
    for name in ("rs1", "rs2"):
        answer = app.ok("POST", "/api/v1/real-servers/by-address/halt/", {"address": RS[name]})
        assert answer["kernel"]["status"] == "done", answer
    table = ipvsadm_ln()
    assert re.search(r"-> 10\.9\.0\.13:8443\s+Masq\s+1\s", table), table
    assert "10.9.0.11:80" not in table and "10.9.0.12:80" not in table
    sorry = [net.tcp_hello(DR_VIP, 80) for _ in range(3)]
    assert {(r[0], r[3]) for r in sorry} == {("rs3", "8443")}
    # by address halts sstp's rs1/rs2 too (same addresses, port 8443): nothing left there
    assert "10.8.0.60:443" in ipvsadm_ln() and not re.search(r"-> 10\.9\.0\.1[12]:8443", ipvsadm_ln())
    assert app.get("/api/v1/apply/")["pending_changes"] is False

    # --- delete both services: nothing of ours is left in the kernel
    app.ok("DELETE", f"/api/v1/virtual-services/{web['id']}/")
    app.ok("DELETE", f"/api/v1/virtual-services/{sstp['id']}/")
    run = app.apply()
    assert run["operation_count"] > 0
    assert [x for x in ipvsadm_ln().splitlines() if x.startswith(("TCP", "UDP", "FWM"))] == []
    assert A.ipvsadm_save() == []
    for family in (4, 6):
        assert A.ours(A.iptables_save(family)) == [], f"IPv{family}: FULCRUM chains or jumps left behind"
    addrs = A.sh("ip", "-o", "addr")
    assert DR_VIP not in addrs and SNAT_VIP not in addrs
    assert addrs == addr_before
    assert app.get("/api/v1/status/")["services"] == []
