"""Two load-balancer namespaces running two real Fulcrum appliances (guest side only).

    client 10.8.0.100 ── front ──┬── lb1 eth0 10.8.0.2   eth1 10.9.0.2 ──┬── back ── rs1 10.9.0.11
                                 └── lb2 eth0 10.8.0.3   eth1 10.9.0.3 ──┘          rs2 10.9.0.12

Each lb namespace runs ``manage.py runserver`` on its front address with its own SQLite file
(Celery in-process, kernel dataplane). The pair is configured through the real API: floating
IPs 10.8.0.1 (client gateway) and 10.9.0.1 (real servers' gateway), a DR service (TCP 80,
UDP 53 on 10.8.0.50) and a NAT service (10.8.0.51:80 → real servers' 8080), then paired.
keepalived runs from the appliance's rendered configuration under its own supervisor
(``manage.py keepalived``, one per namespace, as the fulcrum-keepalived unit does), never as a child of
the appliance's process, which is the kernel worker here (Celery in-process).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.netlab import lab

ROOT = Path(__file__).resolve().parents[3]
DR_VIP, NAT_VIP = "10.8.0.50", "10.8.0.51"
ADMIN, PASSWORD = "admin", "pair-password-123"
LBS = {"lb1": ("10.8.0.2", "10.9.0.2"), "lb2": ("10.8.0.3", "10.9.0.3")}
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

_SETUP = """
import django, json; django.setup()
from django.contrib.auth import get_user_model
from accounts.models import ApiToken, Profile
u = get_user_model().objects.create_user({user!r}, password={password!r})
Profile.objects.create(user=u, role="admin")
print(json.dumps({{"key": ApiToken.issue(u, "lab")[1]}}))
"""


def build_network() -> lab.Net:
    sh = lab.sh
    for br in ("front", "back"):
        sh("ip", "link", "add", br, "type", "bridge")
        sh("ip", "link", "set", br, "up")

    def host(name, legs, gw=None):
        sh("ip", "netns", "add", name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
        for i, (br, addr) in enumerate(legs):
            sh("ip", "link", "add", f"v-{name}-{i}", "type", "veth", "peer", "name", f"eth{i}", "netns", name)
            sh("ip", "link", "set", f"v-{name}-{i}", "master", br, "up")
            sh("ip", "-n", name, "link", "set", f"eth{i}", "up")
            sh("ip", "-n", name, "addr", "add", addr, "dev", f"eth{i}")
        if gw:
            sh("ip", "-n", name, "route", "add", "default", "via", gw)

    host("client", [("front", "10.8.0.100/24")], "10.8.0.1")
    for n in (1, 2):
        host(f"rs{n}", [("back", f"10.9.0.1{n}/24")], "10.9.0.1")
    for name, (front, back) in LBS.items():
        host(name, [("front", f"{front}/24"), ("back", f"{back}/24")])
        # DR replies come back through the master (the real servers' gateway) with the VIP, one of
        # its own addresses, as source: without accept_local they are dropped as martians.
        sh("ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.conf.all.accept_local=1",
           "net.ipv4.conf.all.rp_filter=0")
    net = lab.Net(client=lab.Host("client", "10.8.0.100", "", "front"),
                  servers=[lab.Host(f"rs{n}", f"10.9.0.1{n}", "", "back") for n in (1, 2)])
    net.dr_vip(DR_VIP)
    for h in net.servers:
        net.serve(h.name, tcp=[80, 8080], udp=[53, 500, 4500], six=False)
    return net


def cut(lb: str, up: bool = False) -> None:
    """Power loss, as the network sees it: both of the node's links go dark (or come back)."""
    for i in (0, 1):
        lab.sh("ip", "link", "set", f"v-{lb}-{i}", "up" if up else "down")


@dataclass
class Appliance:
    name: str
    data_dir: Path
    key: str = ""
    proc: subprocess.Popen | None = None
    keepalived: subprocess.Popen | None = None
    _ipvs_fd: int | None = None

    @property
    def address(self) -> str:
        return LBS[self.name][0]

    def env(self) -> dict:
        env = {**os.environ, "FULCRUM_DATA_DIR": str(self.data_dir), "FULCRUM_DATAPLANE": "kernel",
               "FULCRUM_CELERY_EAGER": "1", "DJANGO_SETTINGS_MODULE": "appliance.settings",
               "FULCRUM_LOG_LEVEL": "INFO", "FULCRUM_LISTEN": f"{self.address}:8000"}  # its Host name
        env.pop("DATABASE_URL", None)
        return env

    def start(self) -> Appliance:
        log = open(self.data_dir / "server.log", "ab")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.name, sys.executable, "manage.py", "runserver", f"{self.address}:8000",
             "--noreload"], cwd=ROOT, env=self.env(), stdout=log, stderr=log, start_new_session=True)
        log.close()
        if self.keepalived is None:  # its own session: killing the appliance's process group spares it
            with open(self.data_dir / "keepalived.log", "ab") as ka_log:
                self.keepalived = subprocess.Popen(
                    ["ip", "netns", "exec", self.name, sys.executable, "manage.py", "keepalived"], cwd=ROOT,
                    env=self.env(), stdout=ka_log, stderr=ka_log, start_new_session=True)
        try:
            wait_for(lambda: self._alive(), 60, f"{self.name} runserver", every=0.2)
        except AssertionError as exc:
            raise AssertionError(f"{exc}: exit {self.proc.poll()}\n{self.log()}") from None
        return self

    def _alive(self) -> bool:
        try:
            self.get("/api/v1/ha/")
            return True
        except OSError:
            return False

    def stop(self, keepalived: bool = False) -> None:
        if self._ipvs_fd is not None:
            os.close(self._ipvs_fd)
            self._ipvs_fd = None
        if self.proc:
            self.proc.terminate()
            self.proc.wait(20)
            self.proc = None
        if keepalived and self.keepalived:
            self.keepalived.terminate()  # its supervisor stops keepalived, which gives up its addresses
            self.keepalived.wait(20)
            self.keepalived = None

    def kill(self) -> None:
        """kill -9 of the appliance's whole process group (web and in-process kernel worker), as a crash
        or a systemd stop of the worker's unit would; keepalived's supervisor is not in it."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(20)
        self.proc = None

    def request(self, method: str, path: str, body=None, timeout: float = 30):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://{self.address}:8000{path}", data=data, method=method,
                                     headers={"Authorization": f"Bearer {self.key}",
                                              "Content-Type": "application/json"})
        with lab.netns("client"):  # the admin's browser: on the front network
            conn = _opener.open(req, timeout=timeout)
        with conn as resp:
            return json.loads(resp.read() or b"null")

    def get(self, path: str):
        return self.request("GET", path)

    def ipvs(self) -> str:
        return lab.sh("ipvsadm", "-S", "-n", ns=self.name)

    def ipvs_table(self) -> str:
        """/proc/net/ip_vs of this namespace, read without spawning a process (each ipvsadm costs
        ~0.2 s on a loaded guest, which would swamp a latency measured in milliseconds). The file
        is opened once inside the namespace; the kernel keeps that namespace for the open file."""
        if self._ipvs_fd is None:
            with lab.netns(self.name):
                self._ipvs_fd = os.open(f"/proc/{os.getpid()}/task/{threading.get_native_id()}/net/ip_vs",
                                        os.O_RDONLY)
        os.lseek(self._ipvs_fd, 0, os.SEEK_SET)
        chunks = []
        while chunk := os.read(self._ipvs_fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks).decode()

    def holds(self, address: str) -> bool:
        return f" {address}/" in lab.sh("ip", "-o", "addr", "show", ns=self.name)

    def vrrp_transitions(self) -> list[str]:
        """keepalived's own record of every VRRP state change, in order."""
        try:
            text = (self.data_dir / "keepalived.log").read_text()
        except OSError:
            return []
        return [line for line in text.splitlines() if "Entering" in line and "STATE" in line]

    def log(self) -> str:
        try:
            return (self.data_dir / "server.log").read_text()[-4000:]
        except OSError:
            return ""


def wait_for(check, seconds: float, what: str, every: float = 0.02):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


@dataclass
class Pair:
    net: lab.Net
    lb: dict[str, Appliance] = field(default_factory=dict)

    def holders(self, address: str = DR_VIP) -> list[str]:
        return [n for n, a in self.lb.items() if a.holds(address)]

    def master(self) -> Appliance:
        return self.lb[wait_for(lambda: (h := self.holders()) and len(h) == 1 and h[0], 10, "one VIP holder")]

    def diagnose(self) -> str:
        out = [f"holders {self.holders()} {self.holders('10.9.0.1')}", lab.sh("ps", "ax", check=False)[-3000:]]
        for a in self.lb.values():
            out += [f"--- {a.name} addr", lab.sh("ip", "-o", "addr", ns=a.name, check=False),
                    f"--- {a.name} status", json.dumps(a.get("/api/v1/ha/"))[:1500], f"--- {a.name} log", a.log()]
        return "\n".join(out)

    def close(self) -> None:
        for a in self.lb.values():
            try:
                a.stop(keepalived=True)
            finally:
                pid = a.data_dir / "keepalived" / "keepalived.pid"
                if pid.exists():
                    subprocess.run(["kill", pid.read_text().strip()], check=False)
        self.net.close()


def build_pair(workdir: Path, advert_int: float = 0.05) -> Pair:
    net = build_network()
    first = workdir / "lb1"
    first.mkdir(parents=True)
    apps = {"lb1": Appliance("lb1", first)}
    env = apps["lb1"].env()
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=300)
    out = subprocess.run([sys.executable, "-c", _SETUP.format(user=ADMIN, password=PASSWORD)], cwd=ROOT, env=env,
                         check=True, capture_output=True, text=True, timeout=120)
    key = json.loads(out.stdout.strip().splitlines()[-1])["key"]
    # lb2 starts from a copy of the fresh database (same admin): a new, unconfigured appliance.
    shutil.copytree(first, workdir / "lb2")
    (workdir / "lb2" / "secret_key").unlink()
    apps["lb2"] = Appliance("lb2", workdir / "lb2")
    pair = Pair(net, apps)
    for a in apps.values():
        a.key = key
        a.start()
    lb1, lb2 = apps["lb1"], apps["lb2"]
    # Local settings on each node: VRRP adverts on the back network go to the peer's address there.
    lb1.request("POST", "/api/v1/ha/links/", {"interface": "eth1", "peer_address": "10.9.0.3"})
    lb2.request("POST", "/api/v1/ha/links/", {"interface": "eth1", "peer_address": "10.9.0.2"})
    # The configuration, on the master only.
    lb1.request("PATCH", "/api/v1/cluster/", {"vip_interface": "eth0"})
    for address, iface in (("10.8.0.1", "eth0"), ("10.9.0.1", "eth1")):
        lb1.request("POST", "/api/v1/floating-ips/", {"address": address, "prefixlen": 24, "interface": iface})
    servers = [{"label": f"rs{n}", "address": f"10.9.0.1{n}"} for n in (1, 2)]
    for body in ({"label": "web-dr", "vip": DR_VIP, "ports": "80", "protocol": "tcp", "method": "dr"},
                 {"label": "dns-dr", "vip": DR_VIP, "ports": "53", "protocol": "udp", "method": "dr"},
                 {"label": "web-nat", "vip": NAT_VIP, "ports": "80", "protocol": "tcp", "method": "nat"},
                 # IKEv2 as the AOVPN template makes it: 500 and 4500 on one persistent firewall mark
                 {"label": "ike-dr", "vip": DR_VIP, "ports": "500,4500", "protocol": "udp", "method": "dr",
                  "persistent": True, "persistence_timeout": 3600}):
        svc = lb1.request("POST", "/api/v1/virtual-services/", {**body, "scheduler": "rr"})
        for rs in servers:
            port = {"port": 8080} if body["method"] == "nat" else {}
            lb1.request("POST", f"/api/v1/virtual-services/{svc['id']}/real-servers/", {**rs, **port})
    # The lab's appliances serve plain HTTP on 8000 (runserver); a real pair pairs over HTTPS on 443.
    lb1.request("POST", "/api/v1/ha/pair/", {"peer_address": LBS["lb2"][0], "username": ADMIN,
                                             "password": PASSWORD, "node_name": "lb1", "advert_int": advert_int,
                                             "scheme": "http", "peer_port": 8000, "my_port": 8000})
    # Pairing applies on both; the master's apply syncs to the backup; keepalived elects lb1.
    try:
        wait_for(lambda: "10.8.0.51:80" in lb2.ipvs() and lb1.get("/api/v1/ha/")["in_sync"], 60,
                 "the backup's kernel to hold the synced services")
        wait_for(lambda: pair.holders() == ["lb1"] and pair.holders("10.9.0.1") == ["lb1"], 30,
                 "lb1 to hold the VIPs")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{pair.diagnose()}") from None
    return pair


class Prober:
    """UDP to the DR VIP every 10 ms from the client; records when answers arrive."""

    def __init__(self, net: lab.Net, address: str = DR_VIP, port: int = 53, interval: float = 0.01):
        self.sock = net.socket("client", socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(0.05)
        self.target, self.interval = (address, port), interval
        self.replies: list[float] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._send, daemon=True),
                         threading.Thread(target=self._recv, daemon=True)]

    def __enter__(self):
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._threads:
            t.join(2)
        self.sock.close()

    def _send(self):
        nxt = time.monotonic()
        while not self._stop.is_set():
            try:
                self.sock.sendto(b"?", self.target)
            except OSError:
                pass
            nxt += self.interval
            time.sleep(max(0.0, nxt - time.monotonic()))

    def _recv(self):
        while not self._stop.is_set():
            try:
                self.sock.recvfrom(512)
                self.replies.append(time.monotonic())
            except OSError:
                continue

    def gap_since(self, t0: float) -> float:
        """Longest silence (seconds) around and after t0: last answer before it → next answer after."""
        times = [t for t in self.replies]
        before = [t for t in times if t <= t0]
        after = [t for t in times if t > t0]
        if not before or not after:
            return float("inf")
        seq = [before[-1], *after]
        return max(b - a for a, b in zip(seq, seq[1:], strict=False))


class LockstepProber:
    """One UDP probe to the DR VIP at a time from the client: each is answered or lost (no answer within
    ``timeout``), so a lost probe is counted exactly, whatever the guest's scheduling jitter."""

    def __init__(self, net: lab.Net, address: str = DR_VIP, port: int = 53, timeout: float = 1.0):
        self.sock = net.socket("client", socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(timeout)
        self.target = (address, port)
        self.answered = self.lost = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)
        self.sock.close()

    def _run(self):
        while not self._stop.is_set():
            self.sock.sendto(b"?", self.target)
            try:
                self.sock.recvfrom(512)
                self.answered += 1
            except TimeoutError:
                self.lost += 1
            time.sleep(0.005)


def failover_gap(pair: Pair, settle: float = 1.0) -> tuple[float, str, str]:
    """Cut the current VIP holder off; return (gap seconds, old master, new master). Restores the link
    and waits for one holder again before returning."""
    old = pair.master().name
    with Prober(pair.net) as probe:
        wait_for(lambda: len(probe.replies) > 20, 5, "probes answered before the failover")
        t0 = time.monotonic()
        cut(old)
        other = next(n for n in pair.lb if n != old)
        wait_for(lambda: pair.lb[other].holds(DR_VIP), 5, f"{other} to take the VIP")
        wait_for(lambda: probe.replies and probe.replies[-1] > t0 and len([t for t in probe.replies if t > t0]) > 20,
                 5, "probes answered after the failover")
        gap = probe.gap_since(t0)
    cut(old, up=True)
    time.sleep(settle)
    wait_for(lambda: len(pair.holders()) == 1, 10, "split brain to heal")
    return gap, old, other
