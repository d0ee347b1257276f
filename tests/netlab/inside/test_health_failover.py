"""healthcheckd against real IPVS, in the kernel lab (runs inside the UML guest).

The real `manage.py healthcheckd` (own process, SQLite database and Redis inside the guest)
watches a NAT service with two real servers and a fallback server. A real server is "killed"
(its link goes down, so its checks time out) while a client keeps connecting:

* within interval + timeout + 0.3 s its weight is 0 in ``ipvsadm -Ln`` and new connections
  go to the other server;
* it comes back after ``rise`` successful checks;
* with every real server down the fallback server is switched in and answers; it is
  switched out again when a real server returns.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.netlab import lab

pytestmark = pytest.mark.netlab

ROOT = Path(__file__).resolve().parents[3]
VIP, PORT = "10.8.0.50", 80
INTERVAL, TIMEOUT, RISE, FALL = 1.0, 0.5, 2, 1
BOUND = INTERVAL + TIMEOUT + 0.3

SEED = f"""
import django
django.setup()
from cluster.compile import cluster_spec
from cluster.models import ClusterSettings
from dataplane.compiler import compile_state
from dataplane.diff import plan
from dataplane.kernel import KernelDriver
from realservers.models import RealServer
from virtualservices.models import VirtualService

settings = ClusterSettings.load()
settings.vip_interface = "front"
settings.save()
svc = VirtualService(label="web", vip="{VIP}", ports="{PORT}", protocol="tcp", method="nat", scheduler="rr",
                     check_type="tcp", check_interval={INTERVAL}, check_timeout={TIMEOUT}, check_rise={RISE},
                     check_fall={FALL}, fallback_address="10.9.0.13", fallback_port={PORT})
svc.full_clean()
svc.save()
for label, ip in (("rs1", "10.9.0.11"), ("rs2", "10.9.0.12")):
    rs = RealServer(service=svc, label=label, address=ip, weight=100)
    rs.full_clean()
    rs.save()
desired = compile_state(cluster_spec())
with KernelDriver() as driver:
    result = driver.apply(plan(driver.read(sysctl_names=[n for n, _ in desired.sysctls]), desired))
    assert result.ok, result.failed
"""


def weights() -> dict[str, int]:
    """Destination address -> weight, from the C tool."""
    out = subprocess.run(["ipvsadm", "-Ln"], capture_output=True, text=True, check=True).stdout
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"->\s+([\d.]+):\d+\s+\w+\s+(\d+)", out)}


def table_weights() -> dict[str, int]:
    """The same kernel table read from /proc/net/ip_vs: no process to spawn (ipvsadm takes ~0.2 s on
    a loaded guest), so the time a change is seen is within a few ms of when it happened."""
    text = Path("/proc/net/ip_vs").read_text()
    return {".".join(str(int(m.group(1)[i:i + 2], 16)) for i in range(0, 8, 2)): int(m.group(2))
            for m in re.finditer(r"->\s+([0-9A-F]{8}):[0-9A-F]{4}\s+\w+\s+(\d+)", text)}


def wait(predicate, timeout: float, step: float = 0.02):
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(step)
    raise AssertionError(f"not within {timeout} s; ipvsadm: {weights()}")


class Client(threading.Thread):
    """Connects to the VIP every 50 ms and records who answered."""

    def __init__(self, net):
        super().__init__(daemon=True)
        self.net, self.log, self.stop = net, [], threading.Event()

    def run(self):
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                who = self.net.tcp_hello(VIP, PORT, timeout=1.0)[0]
            except OSError as e:
                conns = subprocess.run(["ipvsadm", "-Lnc"], capture_output=True, text=True).stdout
                who = f"error: {e} after {time.monotonic() - started:.2f} s; {weights()}; {conns}"
            self.log.append((started, who))
            self.stop.wait(0.05)

    def since(self, t: float, count: int = 8, timeout: float = 5.0) -> list[str]:
        """Who answered the first ``count`` connections started at or after ``t`` (waits for them).

        Waiting for a count, not a fixed time: a connection caught by a switch may hang for the
        client's whole 1 s timeout, and the ones after it must still be seen."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = [who for at, who in self.log if at >= t]
            if len(seen) >= count:
                return seen[:count]
            time.sleep(0.05)
        raise AssertionError(f"only {len(seen)} connections started in {timeout} s: {seen}")


@pytest.fixture(scope="module")
def lab_env():
    tmp = Path(os.environ["TMPDIR"])
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp}/hc.sqlite3", FULCRUM_DATA_DIR=str(tmp / "data"),
               DJANGO_SETTINGS_MODULE="appliance.settings", REDIS_URL="redis://127.0.0.1:6379/0",
               FULCRUM_DATAPLANE="kernel", PYTHONPATH=str(ROOT))
    redis = subprocess.Popen(["redis-server", "--port", "6379", "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no", "--dir", str(tmp)], stdout=subprocess.DEVNULL)
    net = lab.Net.build(servers=3)
    for h in net.servers:
        net.serve(h.name, tcp=[PORT], six=False)
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=ROOT)
    subprocess.run([sys.executable, "-c", SEED], env=env, check=True, cwd=ROOT)
    log = open(tmp / "healthcheckd.log", "wb")
    daemon = subprocess.Popen([*manage, "healthcheckd", "--dataplane", "kernel", "--no-alerts"], env=env,
                              cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield net, tmp / "healthcheckd.log"
    finally:
        daemon.terminate()
        daemon.wait(10)
        redis.terminate()
        redis.wait(10)
        log.close()


def link(ns: str, state: str) -> None:
    """A dead host: its link goes down (checks time out). Up again, it gets its default route back."""
    lab.sh("ip", "-n", ns, "link", "set", "eth0", state)
    if state == "up":
        lab.sh("ip", "-n", ns, "route", "replace", "default", "via", "10.9.0.1")


def test_failover_restore_and_fallback(lab_env):
    net, log = lab_env
    assert weights() == {"10.9.0.11": 100, "10.9.0.12": 100}
    # healthcheckd up and checking: give it time to start in the (slow) guest, both stay in.
    wait(lambda: b"watching 2 real servers" in log.read_bytes(), 60, step=0.2)
    time.sleep(2 * INTERVAL)
    client = Client(net)
    client.start()
    try:
        assert set(client.since(0)) == {"rs1", "rs2"}, client.log[-10:]

        # 1. kill rs1: its weight is 0 within interval + timeout + 0.3 s, new connections go to rs2.
        killed = time.monotonic()
        link("rs1", "down")
        took = wait(lambda: table_weights().get("10.9.0.11") == 0, BOUND + 1.0, step=0.005)
        assert took <= BOUND, f"quiesced after {took:.2f} s, bound {BOUND:.2f} s; {log.read_text()[-1500:]}"
        assert weights() == {"10.9.0.11": 0, "10.9.0.12": 100}  # as ipvsadm -Ln shows it
        settled = killed + took + 0.1
        after = client.since(settled)
        assert after and set(after) == {"rs2"}, after

        # 2. rs1 returns: back after `rise` successes (not on the first one).
        link("rs1", "up")
        back = time.monotonic()
        took = wait(lambda: weights().get("10.9.0.11") == 100, RISE * INTERVAL + TIMEOUT + 2.0)
        # A SYN sent while the link was down waits in the ARP queue and may complete just after the
        # link returns: the first success can come up to TIMEOUT after `back` from a check started before.
        assert took >= (RISE - 1) * INTERVAL - TIMEOUT, f"restored after {took:.2f} s: rise {RISE} not honoured"
        assert set(client.since(back + took + 0.1)) == {"rs1", "rs2"}

        # 3. every real server down: the fallback server (rs3) answers.
        link("rs1", "down")
        link("rs2", "down")
        wait(lambda: weights().get("10.9.0.13") == 1, BOUND + 1.5)
        assert weights()["10.9.0.11"] == 0 and weights()["10.9.0.12"] == 0
        fallback_at = time.monotonic()
        assert set(client.since(fallback_at)) == {"rs3"}, client.since(fallback_at)

        # 4. one returns: the fallback server is switched out.
        link("rs2", "up")
        wait(lambda: "10.9.0.13" not in weights() and weights().get("10.9.0.12") == 100, RISE * INTERVAL + 3)
        returned = time.monotonic()
        assert set(client.since(returned)) == {"rs2"}
    finally:
        client.stop.set()
        client.join(5)
    text = log.read_text()
    assert "rs1 10.9.0.11: up -> down (connect timeout after 0.5 s)" in text, text[-2000:]
    assert "fallback in" in text and "fallback out" in text
