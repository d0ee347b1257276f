"""The active-active lab (guest side), shared by tests/netlab/inside/test_scaleout.py and bench/scaleout.py:
three appliance members behind a router that spreads flows by BGP ECMP (L4 hash), Maglev (mh) on every
member.

    clients 10.30.0.100.. ── edge ── rtr (FRR, ECMP) ── core ──┬── m1 10.20.0.11 ┐ FRR bgpd+bfdd, Fulcrum
                                                               ├── m2 10.20.0.12 ├ (its own SQLite, kernel
                                                               ├── m3 10.20.0.13 ┘  dataplane, VIP on lo)
                                                               └── rs1 .21, rs2 .22, rs0 .20 (DR, VIP on lo)

Each member runs one long-lived agent process in its namespace (Django set up once) that takes JSON
commands on stdin: it configures the member through the project's models (their validation included)
and applies with ``cluster.apply.apply_now()`` (the one kernel writer), which also loads the rendered
FRR configuration into that member's own FRR (pathspace = namespace). Two services on the VIP: TCP 80
(``web``) and UDP 53 (``dns``), both DR and mh over rs1 and rs2; rs0 serves too but is configured
only when a test adds it (it sorts before the others, so a runtime add exercises the canonical order).
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tests.netlab import lab
from tests.netlab.inside import frr_lab

ROOT = Path(__file__).resolve().parents[3]
VIP = "10.50.0.10"
TCP_PORT, UDP_PORT = 80, 53
MEMBERS = {"m1": "10.20.0.11", "m2": "10.20.0.12", "m3": "10.20.0.13"}
SERVERS = {"rs1": "10.20.0.21", "rs2": "10.20.0.22"}
SPARE = ("rs0", "10.20.0.20")  # sorts before rs1/rs2: added at runtime it lands at the kernel list's head
BFD_INTERVAL_MS, BFD_MULTIPLIER = 300, 3


def clients(n: int) -> list[str]:
    return [f"10.30.{i // 150}.{100 + i % 150}" for i in range(n)]


def router_conf() -> str:
    peers = "".join(f" neighbor {a} peer-group MEMBERS\n" for a in MEMBERS.values())
    # "timers connect 1": a member back from the dark is peered again within a second or two.
    return f"""frr defaults traditional
hostname rtr
bfd
 profile members
  detect-multiplier {BFD_MULTIPLIER}
  receive-interval {BFD_INTERVAL_MS}
  transmit-interval {BFD_INTERVAL_MS}
 exit
exit
router bgp 65000
 bgp router-id 10.20.0.1
 no bgp ebgp-requires-policy
 neighbor MEMBERS peer-group
 neighbor MEMBERS remote-as 65010
 neighbor MEMBERS bfd profile members
 neighbor MEMBERS timers 3 9
 neighbor MEMBERS timers connect 1
{peers} address-family ipv4 unicast
  maximum-paths 8
 exit-address-family
exit
"""


# One agent per member: JSON commands in, one JSON answer line out per command.
_AGENT = """
import json, sys, django; django.setup()
from cluster.models import BgpNeighbour, BgpSettings, ClusterSettings
from realservers.models import RealServer
from virtualservices.models import VirtualService
from cluster.apply import apply_now
from cluster import bgp

def setup(router_id, vip, servers, interval, multiplier):
    s = ClusterSettings.load(); s.mode = "active_active"; s.full_clean(); s.save()
    b = BgpSettings.load(); b.asn = 65010; b.router_id = router_id
    b.bfd_interval_ms, b.bfd_multiplier = interval, multiplier; b.full_clean(); b.save()
    n = BgpNeighbour(address="10.20.0.1", asn=65000, description="rtr"); n.full_clean(); n.save()
    for label, port, proto in (("web", "80", "tcp"), ("dns", "53", "udp")):
        svc = VirtualService(label=label, vip=vip, ports=port, protocol=proto, method="dr", scheduler="mh",
                             check_type="none")
        svc.full_clean(); svc.save()
    for name, address in servers.items():
        add_server(name, address)
    return {}

def add_server(label, address):
    for svc in VirtualService.objects.all():
        rs = RealServer(service=svc, label=label, address=address); rs.full_clean(); rs.save()
    return {}

def remove_server(label):
    RealServer.objects.filter(label=label).delete()
    return {}

def frr_networks(vip):  # after an apply: what the loaded FRR configuration announces
    return {"frr_networks": bgp.conf_path().read_text().count(f"network {vip}/32")}

def sessions():
    return {"sessions": bgp.status()["sessions"]}

def fresh():
    # As a member that starts afresh: an empty IPVS table and no trusted journal, so the next apply
    # reads the kernel and adds every destination (in the compiler's order).
    import subprocess
    from cluster.writer import distrust
    subprocess.run(["ipvsadm", "-C"], check=True)
    distrust()
    return {}

for line in sys.stdin:
    cmd = json.loads(line)
    op = cmd.pop("op")
    try:
        answer = globals()[op](**cmd)
        run = apply_now(actor="lab") if op in ("setup", "add_server", "remove_server", "fresh") else None
        answer.update(status=run.status if run else "success", error=(run.error if run else "") or "")
    except Exception as exc:  # the test reads it and fails with it
        answer = {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(answer), flush=True)
"""


def sh(*argv: str, ns: str | None = None) -> str:
    return lab.sh(*argv, ns=ns)


def wait(check, seconds: float, what: str, every: float = 0.02):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


def _env(data_dir: Path, member: str) -> dict:
    env = {**os.environ, "FULCRUM_DATA_DIR": str(data_dir), "FULCRUM_DATAPLANE": "kernel",
           "FULCRUM_CELERY_EAGER": "1", "DJANGO_SETTINGS_MODULE": "appliance.settings",
           "FULCRUM_FRR_PATHSPACE": member, "FULCRUM_LOG_LEVEL": "WARNING"}
    env.pop("DATABASE_URL", None)
    return env


def _build_network(client_addresses: list[str]) -> lab.Net:
    for br in ("core", "edge"):
        sh("ip", "link", "add", br, "type", "bridge")
        sh("ip", "link", "set", br, "up")

    def host(name: str, bridge: str, addresses: list[str], gw: str):
        sh("ip", "netns", "add", name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
        sh("ip", "link", "add", f"v-{name}", "type", "veth", "peer", "name", "eth0", "netns", name)
        sh("ip", "link", "set", f"v-{name}", "master", bridge, "up")
        sh("ip", "-n", name, "link", "set", "eth0", "up")
        for a in addresses:
            sh("ip", "-n", name, "addr", "add", a, "dev", "eth0")
        sh("ip", "-n", name, "route", "add", "default", "via", gw)

    sh("ip", "netns", "add", "rtr")
    sh("ip", "-n", "rtr", "link", "set", "lo", "up")
    for i, (br, addr) in enumerate((("core", "10.20.0.1/24"), ("edge", "10.30.0.1/16"))):
        sh("ip", "link", "add", f"v-rtr{i}", "type", "veth", "peer", "name", f"eth{i}", "netns", "rtr")
        sh("ip", "link", "set", f"v-rtr{i}", "master", br, "up")
        sh("ip", "-n", "rtr", "link", "set", f"eth{i}", "up")
        sh("ip", "-n", "rtr", "addr", "add", addr, "dev", f"eth{i}")
    # The L4 hash: flows of one client address spread over the members by their ports.
    sh("sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.fib_multipath_hash_policy=1",
       "net.ipv4.conf.all.rp_filter=0", ns="rtr")
    host("client", "edge", [f"{c}/16" for c in client_addresses], "10.30.0.1")
    servers = {**SERVERS, SPARE[0]: SPARE[1]}
    for name, address in {**MEMBERS, **servers}.items():
        host(name, "core", [f"{address}/24"], "10.20.0.1")
    net = lab.Net(client=lab.Host("client", client_addresses[0], "", "edge"),
                  servers=[lab.Host(n, a, "", "core") for n, a in servers.items()])
    net.dr_vip(VIP)
    for name in servers:
        net.serve(name, tcp=[TCP_PORT], udp=[UDP_PORT], six=False)
    return net


@dataclass
class Cluster:
    net: lab.Net
    clients: list[str]
    workdir: Path
    agents: dict[str, subprocess.Popen] = field(default_factory=dict)

    def tell(self, member: str, op: str, **kwargs) -> dict:
        """Run one agent command on ``member`` (configure + apply); fails loudly unless applied."""
        agent = self.agents[member]
        agent.stdin.write(json.dumps({"op": op, **kwargs}) + "\n")
        agent.stdin.flush()
        line = agent.stdout.readline()
        if not line:
            raise AssertionError(f"{member} agent died: {(self.workdir / f'{member}-agent.log').read_text()[-3000:]}")
        answer = json.loads(line)
        assert answer["status"] == "success", (member, op, answer)
        return answer

    def tell_all(self, op: str, **kwargs) -> None:
        for member in MEMBERS:
            self.tell(member, op, **kwargs)

    def close(self) -> None:
        for agent in self.agents.values():
            agent.stdin.close()
            agent.wait(timeout=30)
        for name in ("rtr", *MEMBERS):
            frr_lab.stop(name)
        self.net.close()


def build(workdir: Path, n_clients: int = 24) -> Cluster:
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    # The guest boots without a hostname ("(none)"): FRR daemons print it in their running
    # configuration, which frr-reload.py cannot parse back. A real host has a name.
    sh("hostname", "scaleout-lab")
    addresses = clients(n_clients)
    cluster = Cluster(_build_network(addresses), addresses, workdir)
    frr_lab.start("rtr", router_conf(), workdir)
    first = workdir / "m1"
    first.mkdir()
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=_env(first, "m1"), check=True,
                   timeout=300)
    for member in ("m2", "m3"):
        shutil.copytree(first, workdir / member)
        (workdir / member / "secret_key").unlink(missing_ok=True)
    for member, address in MEMBERS.items():
        frr_lab.start(member, "", workdir)
        log = open(workdir / f"{member}-agent.log", "w")  # noqa: SIM115 (the agent's lifetime)
        cluster.agents[member] = subprocess.Popen(
            ["ip", "netns", "exec", member, sys.executable, "-c", _AGENT], cwd=ROOT, env=_env(workdir / member, member),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True)
        cluster.tell(member, "setup", router_id=address, vip=VIP, servers=SERVERS, interval=BFD_INTERVAL_MS,
                     multiplier=BFD_MULTIPLIER)
        answer = cluster.tell(member, "frr_networks", vip=VIP)
        assert answer["frr_networks"] == 1, answer
    return cluster


def next_hops() -> set[str]:
    """The router's next hops for the VIP, as its kernel holds them (what ECMP uses)."""
    text = sh("ip", "route", "show", f"{VIP}/32", ns="rtr")
    return set(re.findall(r"via (\S+)", text))


def bfd_up() -> int:
    return frr_lab.vtysh("rtr", "-c", "show bfd peers brief").count(" up ")


def wait_all_members(seconds: float = 90) -> None:
    wait(lambda: next_hops() == set(MEMBERS.values()), seconds, "the router's ECMP route over all members",
         every=0.1)
    wait(lambda: bfd_up() >= len(MEMBERS), 30, "BFD up with all members", every=0.1)


def carriers_of(member: str, proto: str) -> dict[tuple[str, int], str]:
    port = TCP_PORT if proto == "TCP" else UDP_PORT
    seen = {}
    for line in sh("ipvsadm", "-L", "-c", "-n", ns=member).splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[0] == proto and parts[4] == f"{VIP}:{port}":
            address, sport = parts[3].rsplit(":", 1)
            seen[(address, int(sport))] = member
    return seen


def carriers(proto: str = "TCP") -> dict[tuple[str, int], str]:
    """(client address, port) → the member whose IPVS holds the connection."""
    seen = {}
    for member in MEMBERS:
        seen.update(carriers_of(member, proto))
    return seen


def holders(proto: str = "TCP") -> dict[tuple[str, int], set[str]]:
    """(client address, port) → every member whose IPVS holds a connection entry for it."""
    held: dict[tuple[str, int], set[str]] = {}
    for member in MEMBERS:
        for key, m in carriers_of(member, proto).items():
            held.setdefault(key, set()).add(m)
    return held


@dataclass
class Flow:
    address: str
    sock: socket.socket
    server: str
    key: tuple[str, int] = field(init=False)  # (client address, source port): kept after the socket closes

    def __post_init__(self):
        self.key = (self.address, self.sock.getsockname()[1])


def open_tcp(net: lab.Net, addresses: Iterable[str], per_client: int) -> list[Flow]:
    """Established TCP connections to the VIP, ``per_client`` from each address."""
    flows = []
    for address in addresses:
        for _ in range(per_client):
            s = net.socket("client")
            s.settimeout(5)
            s.bind((address, 0))
            s.connect((VIP, TCP_PORT))
            flows.append(Flow(address, s, lab._readline(s).split()[0]))
    return flows


def open_udp(net: lab.Net, addresses: Iterable[str], per_client: int,
             ports: dict[str, list[int]] | None = None) -> list[Flow]:
    """Connected UDP sockets to the VIP, each asked once: ``per_client`` flows from each address
    (``ports``: address → the source ports to use, else any)."""
    flows = []
    for address in addresses:
        for i in range(per_client):
            s = net.socket("client", type=socket.SOCK_DGRAM)
            s.bind((address, ports[address][i] if ports else 0))
            flows.append(Flow(address, s, net.udp_ask(VIP, UDP_PORT, sock=s, timeout=5)[0]))
    return flows


def by_client(flows: list[Flow], carried: dict) -> tuple[dict[str, set], dict[str, set]]:
    """Client address → the real servers its flows reached, and → the members that carried them."""
    servers, members = defaultdict(set), defaultdict(set)
    for f in flows:
        servers[f.address].add(f.server)
        members[f.address].add(carried.get(f.key))
    return servers, members


def talk(flows: list[Flow]) -> list[str]:
    """Send a line on every TCP flow; what went wrong (a reset, silence, another server's answer)."""
    wrong = []
    for f in flows:
        try:
            f.sock.sendall(b"ping\n")
            answer = lab._readline(f.sock)
        except OSError as exc:
            wrong.append(f"{f.address}:{f.key[1]} ({f.server}): {type(exc).__name__} {exc}")
            continue
        if not answer.startswith(f.server):
            wrong.append(f"{f.address}:{f.key[1]}: {f.server} before, now {answer!r}")
    return wrong


def udp_recovery(flows: list[Flow], t0: float, seconds: float = 10, every: float = 0.02) -> dict[tuple, tuple]:
    """Probe every UDP flow every ``every`` s until each has answered once (or ``seconds`` pass):
    flow key → (seconds after ``t0`` of its first answer, the server that answered)."""
    for f in flows:  # nothing from before t0 may count
        f.sock.setblocking(False)
        while True:
            try:
                f.sock.recv(512)
            except OSError:
                break
    waiting = {f.sock: f for f in flows}
    got: dict[tuple, tuple] = {}
    deadline = time.monotonic() + seconds
    while waiting and time.monotonic() < deadline:
        for s in waiting:
            try:
                s.send(b"?")
            except OSError:  # ICMP unreachable from a moment ago: try again next round
                pass
        until = time.monotonic() + every
        while waiting and (left := until - time.monotonic()) > 0:
            ready, _, _ = select.select(list(waiting), [], [], left)
            for s in ready:
                try:
                    data = s.recv(512)
                except OSError:
                    continue
                f = waiting.pop(s)
                got[f.key] = (time.monotonic() - t0, data.decode().split()[0])
    for f in flows:
        f.sock.setblocking(True)
        f.sock.settimeout(5)
    return got


def close(flows: list[Flow]) -> None:
    for f in flows:
        f.sock.close()
