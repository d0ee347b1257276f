"""After a reboot the appliance serves again, with the defaults (no drift lock): the boot command
(``manage.py network_boot``, unit fulcrum-network) puts the last applied kernel state back through
the one writer before the services start (runs inside the UML guest).

    client 10.8.0.100 ── front ── LB (IPVS, FULCRUM chains, VIPs on back) ── back ── rs1..rs3

DR service ``web`` 10.9.0.60:80 → rs1, rs2 (drained: runtime state), rs3; SNAT service ``sstp``
10.8.0.60:443 → rs1, rs2 on 8443 (FULCRUM nat chains); a management network (FULCRUM-MGMT).
After the apply, edits are saved and never applied. The kernel is then wiped as a reboot wipes
it (IPVS, every netfilter table, the VIPs, the sysctls) with no process of the appliance running.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.netlab import lab
from tests.netlab.inside import appliance_lab as A

pytestmark = pytest.mark.netlab

DR_VIP, SNAT_VIP, LATER_VIP, LB_BACK = "10.9.0.60", "10.8.0.60", "10.9.0.61", "10.9.0.1"
RS = {"rs1": "10.9.0.11", "rs2": "10.9.0.12", "rs3": "10.9.0.13"}
SYSCTLS = {"net.ipv4.ip_forward": "0", "net.ipv4.vs.conntrack": "0", "net.ipv4.vs.expire_nodest_conn": "0",
           "net.ipv4.vs.expire_quiescent_template": "0"}  # a fresh kernel's values


@pytest.fixture(scope="module")
def lab_net():
    net = lab.Net.build(servers=3)
    for h in net.servers:
        net.serve(h.name, tcp=[80, 8443], six=False)
    net.dr_vip(DR_VIP, LATER_VIP)
    yield net
    net.close()


@pytest.fixture(scope="module")
def app(lab_net, request):
    blocker = A.db_blocker(request)
    if blocker is not None:
        blocker.unblock()
    a = A.start(Path(os.environ.get("TMPDIR", "/tmp")) / "appliance-boot")
    yield a
    a.stop()
    if blocker is not None:
        blocker.restore()


def kernel() -> dict:
    """Everything of the appliance's in the kernel, read with the C tools."""
    return {
        "ipvs": sorted(A.ipvsadm_save()),
        "rules4": A.ours(A.iptables_save(4)),
        "rules6": A.ours(A.iptables_save(6)),
        "vips": sorted(x.split()[3] for x in A.sh("ip", "-o", "-4", "addr", "show", "dev", "back").splitlines()
                       if "/32 " in x),  # the lab's own address on back is a /24
        "sysctls": {n: A.sh("sysctl", "-n", n).strip() for n in SYSCTLS},
    }


def reboot_the_kernel() -> None:
    """What a reboot leaves: no IPVS, empty netfilter tables, no VIPs, the sysctls at their defaults."""
    A.sh("ipvsadm", "-C")
    for tool, names in (("iptables-legacy", "ip_tables_names"), ("ip6tables-legacy", "ip6_tables_names")):
        for table in Path(f"/proc/net/{names}").read_text().split():  # every table this kernel has
            A.sh(tool, "-t", table, "-F")
            A.sh(tool, "-t", table, "-X")
    for vip in kernel()["vips"]:
        A.sh("ip", "addr", "del", vip, "dev", "back")
    for name, value in SYSCTLS.items():
        A.sh("sysctl", "-qw", f"{name}={value}")


def weight(address: str, port: int) -> int | None:
    m = re.search(rf"-> {re.escape(address)}:{port}\s+\S+\s+(\d+)\s", A.sh("ipvsadm", "-L", "-n"))
    return int(m.group(1)) if m else None


def test_the_last_applied_state_comes_back_at_boot_without_the_lock(app, lab_net):
    net = lab_net
    assert app.get("/api/v1/cluster/")["lock"] is False  # the default: no drift repair
    app.ok("PATCH", "/api/v1/cluster/", {"vip_interface": "back"})
    web = app.ok("POST", "/api/v1/virtual-services/", {
        "label": "web", "vip": DR_VIP, "ports": "80", "protocol": "tcp", "method": "dr", "scheduler": "rr",
        "check_type": "none"})
    sstp = app.ok("POST", "/api/v1/virtual-services/", {
        "label": "sstp", "vip": SNAT_VIP, "ports": "443", "protocol": "tcp", "method": "snat", "scheduler": "rr",
        "snat_source": LB_BACK, "check_type": "none"})
    ids = {name: app.ok("POST", f"/api/v1/virtual-services/{web['id']}/real-servers/",
                        {"label": name, "address": RS[name]})["id"] for name in RS}
    for name in ("rs1", "rs2"):
        app.ok("POST", f"/api/v1/virtual-services/{sstp['id']}/real-servers/",
               {"label": name, "address": RS[name], "port": 8443})
    app.ok("POST", "/api/v1/management-networks/", {"network": "10.8.0.0/24"})  # the API comes from loopback
    app.apply()
    assert app.ok("POST", f"/api/v1/real-servers/{ids['rs2']}/drain/")["kernel"]["status"] == "done"
    A.wait_for(lambda: any("FULCRUM-MGMT" in x for x in A.ours(A.iptables_save(4))), 30, "FULCRUM-MGMT")
    A.worker_idle()
    served = kernel()
    assert served["vips"] == [f"{SNAT_VIP}/32", f"{DR_VIP}/32"] and served["rules4"] and weight(RS["rs2"], 80) == 0
    assert served["sysctls"]["net.ipv4.vs.conntrack"] == "1"

    # Saved, never applied: after the reboot they still wait for Apply.
    app.ok("PATCH", f"/api/v1/real-servers/{ids['rs1']}/", {"weight": 7})
    app.ok("POST", "/api/v1/virtual-services/", {
        "label": "later", "vip": LATER_VIP, "ports": "80", "protocol": "tcp", "method": "dr", "scheduler": "rr",
        "check_type": "none"})
    assert app.get("/api/v1/apply/")["pending_changes"] is True

    # --- the reboot: no appliance process, an empty kernel, nothing answers on the VIPs
    worker = app.procs.pop("worker")
    worker.terminate()
    worker.wait(30)
    reboot_the_kernel()
    gone = kernel()
    assert not gone["ipvs"] and not gone["rules4"] and not gone["vips"], gone
    with pytest.raises(OSError):
        net.tcp_hello(DR_VIP, 80, timeout=1.0)

    # --- the boot command, as fulcrum-network runs it before the services
    out = subprocess.run([sys.executable, "manage.py", "network_boot"], cwd=A.ROOT, env=A.server_env(app.data_dir),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "restored the kernel state from the journal:" in out.stdout, out.stdout
    assert kernel() == served  # IPVS, the chains (FULCRUM-MGMT too), the VIPs, the sysctls
    assert weight(RS["rs2"], 80) == 0 and weight(RS["rs1"], 80) == 100  # drained stays drained; no edit
    assert LATER_VIP not in A.sh("ipvsadm", "-L", "-n")

    # real packets through the VIPs: DR to rs1/rs3 (rs2 drained), SNAT seen from the load balancer
    assert {net.tcp_hello(DR_VIP, 80)[0] for _ in range(6)} == {"rs1", "rs3"}
    snat = [net.tcp_hello(SNAT_VIP, 443) for _ in range(6)]
    assert {r[0] for r in snat} == {"rs1", "rs2"} and {r[1] for r in snat} == {LB_BACK}

    # --- the services start; the journal is trusted again: an Apply makes only the pending edits
    app.start_worker()
    run = app.apply()
    assert run["operation_count"] == 3, run["operations"]  # rs1's weight, the new service and its VIP
    assert weight(RS["rs1"], 80) == 7 and LATER_VIP in A.sh("ipvsadm", "-L", "-n")
    assert app.get("/api/v1/apply/")["pending_changes"] is False
