"""Active-active scale-out in the kernel lab (runs inside the UML guest): three appliance members
behind a router that spreads flows by BGP ECMP (L4 hash), Maglev (mh) on every member.

    clients 10.30.0.100-123 ── edge ── rtr (FRR, ECMP) ── core ──┬── m1 10.20.0.11 ┐ FRR bgpd+bfdd, Fulcrum
                                                                 ├── m2 10.20.0.12 ├ (its own SQLite, kernel
                                                                 ├── m3 10.20.0.13 ┘  dataplane, VIP on lo)
                                                                 └── rs1 .21, rs2 .22 (DR, VIP on lo)

Each member is configured with the project's models and applied with ``cluster.apply.apply_now()``
(the one kernel writer), which also loads the rendered FRR configuration through frr-reload.py
into that member's own FRR (pathspace = namespace). Checked: flows spread over all three members;
every flow of a client reaches the same real server whichever member carried it; a member whose
bgpd dies, then a member that goes dark (BFD), is withdrawn and the established flows it carried go
on, through the others, to the same real server with no reset.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from tests.netlab import lab
from tests.netlab.inside import frr_lab

pytestmark = pytest.mark.netlab

ROOT = Path(__file__).resolve().parents[3]
VIP = "10.50.0.10"
MEMBERS = {"m1": "10.20.0.11", "m2": "10.20.0.12", "m3": "10.20.0.13"}
SERVERS = {"rs1": "10.20.0.21", "rs2": "10.20.0.22"}
CLIENTS = [f"10.30.0.{100 + i}" for i in range(24)]
FLOWS_PER_CLIENT = 4
BFD_INTERVAL_MS, BFD_MULTIPLIER = 300, 3
ROUTER_CONF = f"""frr defaults traditional
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
{"".join(f" neighbor {a} peer-group MEMBERS{chr(10)}" for a in MEMBERS.values())} address-family ipv4 unicast
  maximum-paths 8
 exit-address-family
exit
"""

# Each member's configuration, made through the models (their validation included) and applied by
# the one kernel writer; argv: router id.
_MEMBER_SETUP = """
import sys, django; django.setup()
from cluster.models import BgpNeighbour, BgpSettings, ClusterSettings
from realservers.models import RealServer
from virtualservices.models import VirtualService
from cluster.apply import apply_now
from cluster import bgp
s = ClusterSettings.load(); s.mode = "active_active"; s.full_clean(); s.save()
b = BgpSettings.load(); b.asn = 65010; b.router_id = sys.argv[1]
b.bfd_interval_ms, b.bfd_multiplier = {interval}, {multiplier}; b.full_clean(); b.save()
n = BgpNeighbour(address="10.20.0.1", asn=65000, description="rtr"); n.full_clean(); n.save()
svc = VirtualService(label="web", vip="{vip}", ports="80", protocol="tcp", method="dr", scheduler="mh",
                     check_type="none")
svc.full_clean(); svc.save()
for label, address in {servers!r}.items():
    rs = RealServer(service=svc, label=label, address=address); rs.full_clean(); rs.save()
run = apply_now(actor="lab")
print("APPLY", run.status, run.error or "-")
print("FRR", bgp.conf_path().read_text().count("network {vip}/32"))
"""


def _sh(*argv: str, ns: str | None = None) -> str:
    return lab.sh(*argv, ns=ns)


def _build_network() -> lab.Net:
    for br in ("core", "edge"):
        _sh("ip", "link", "add", br, "type", "bridge")
        _sh("ip", "link", "set", br, "up")

    def host(name: str, bridge: str, addresses: list[str], gw: str | None):
        _sh("ip", "netns", "add", name)
        _sh("ip", "-n", name, "link", "set", "lo", "up")
        _sh("ip", "link", "add", f"v-{name}", "type", "veth", "peer", "name", "eth0", "netns", name)
        _sh("ip", "link", "set", f"v-{name}", "master", bridge, "up")
        _sh("ip", "-n", name, "link", "set", "eth0", "up")
        for a in addresses:
            _sh("ip", "-n", name, "addr", "add", a, "dev", "eth0")
        if gw:
            _sh("ip", "-n", name, "route", "add", "default", "via", gw)

    _sh("ip", "netns", "add", "rtr")
    _sh("ip", "-n", "rtr", "link", "set", "lo", "up")
    for i, (br, addr) in enumerate((("core", "10.20.0.1/24"), ("edge", "10.30.0.1/24"))):
        _sh("ip", "link", "add", f"v-rtr{i}", "type", "veth", "peer", "name", f"eth{i}", "netns", "rtr")
        _sh("ip", "link", "set", f"v-rtr{i}", "master", br, "up")
        _sh("ip", "-n", "rtr", "link", "set", f"eth{i}", "up")
        _sh("ip", "-n", "rtr", "addr", "add", addr, "dev", f"eth{i}")
    # The L4 hash: flows of one client address spread over the members by their ports.
    _sh("sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.fib_multipath_hash_policy=1",
        "net.ipv4.conf.all.rp_filter=0", ns="rtr")
    host("client", "edge", [f"{c}/24" for c in CLIENTS], "10.30.0.1")
    for name, address in {**MEMBERS, **SERVERS}.items():
        host(name, "core", [f"{address}/24"], "10.20.0.1")
    net = lab.Net(client=lab.Host("client", CLIENTS[0], "", "edge"),
                  servers=[lab.Host(n, a, "", "core") for n, a in SERVERS.items()])
    net.dr_vip(VIP)
    for name in SERVERS:
        net.serve(name, tcp=[80], six=False)
    return net


def _env(data_dir: Path, member: str) -> dict:
    env = {**os.environ, "FULCRUM_DATA_DIR": str(data_dir), "FULCRUM_DATAPLANE": "kernel",
           "FULCRUM_CELERY_EAGER": "1", "DJANGO_SETTINGS_MODULE": "appliance.settings",
           "FULCRUM_FRR_PATHSPACE": member, "FULCRUM_LOG_LEVEL": "WARNING"}
    env.pop("DATABASE_URL", None)
    return env


def _wait(check, seconds: float, what: str, every: float = 0.02):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


def next_hops() -> set[str]:
    """The router's next hops for the VIP, as its kernel holds them (what ECMP uses)."""
    text = _sh("ip", "route", "show", f"{VIP}/32", ns="rtr")
    return set(re.findall(r"via (\S+)", text))


def _carriers() -> dict[tuple[str, int], str]:
    """(client address, port) → the member whose IPVS holds the connection."""
    seen = {}
    for member in MEMBERS:
        for line in _sh("ipvsadm", "-L", "-c", "-n", ns=member).splitlines():
            parts = line.split()
            if len(parts) >= 5 and parts[0] == "TCP" and parts[4] == f"{VIP}:80":
                address, port = parts[3].rsplit(":", 1)
                seen[(address, int(port))] = member
    return seen


@pytest.fixture(scope="module")
def cluster():
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / "scaleout"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    # The guest boots without a hostname ("(none)"): FRR daemons print it in their running
    # configuration, which frr-reload.py cannot parse back. A real host has a name.
    _sh("hostname", "scaleout-lab")
    net = _build_network()
    frr_lab.start("rtr", ROUTER_CONF, workdir)
    first = workdir / "m1"
    first.mkdir()
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=_env(first, "m1"), check=True,
                   timeout=300)
    for member in ("m2", "m3"):
        shutil.copytree(first, workdir / member)
        (workdir / member / "secret_key").unlink(missing_ok=True)
    script = _MEMBER_SETUP.format(vip=VIP, servers=SERVERS, interval=BFD_INTERVAL_MS, multiplier=BFD_MULTIPLIER)
    for member, address in MEMBERS.items():
        frr_lab.start(member, "", workdir)
        out = subprocess.run(["ip", "netns", "exec", member, sys.executable, "-c", script, address], cwd=ROOT,
                             env=_env(workdir / member, member), capture_output=True, text=True, timeout=300)
        assert "APPLY success -" in out.stdout and "FRR 1" in out.stdout, out.stdout + out.stderr[-3000:]
    yield net
    for name in ("rtr", *MEMBERS):
        frr_lab.stop(name)
    net.close()


def _open_flows(net: lab.Net) -> list[tuple[str, socket.socket, str]]:
    """FLOWS_PER_CLIENT established TCP connections from each client address: (address, socket, server)."""
    flows = []
    for address in CLIENTS:
        for _ in range(FLOWS_PER_CLIENT):
            s = net.socket("client")
            s.settimeout(5)
            s.bind((address, 0))
            s.connect((VIP, 80))
            flows.append((address, s, lab._readline(s).split()[0]))
    return flows


def _talk(flows) -> list[str]:
    """Send a line on every flow; what went wrong (a reset, silence, another server's answer)."""
    wrong = []
    for address, s, server in flows:
        try:
            s.sendall(b"ping\n")
            answer = lab._readline(s)
        except OSError as exc:
            wrong.append(f"{address}:{s.getsockname()[1]} ({server}): {type(exc).__name__} {exc}")
            continue
        if not answer.startswith(server):
            wrong.append(f"{address}:{s.getsockname()[1]}: {server} before, now {answer!r}")
    return wrong


def test_scaleout_spreads_keeps_servers_and_survives_member_loss(cluster):
    net = cluster
    _wait(lambda: next_hops() == set(MEMBERS.values()), 90, "the router's ECMP route over all three members",
          every=0.2)
    _wait(lambda: frr_lab.vtysh("rtr", "-c", "show bfd peers brief").count(" up ") >= 3, 30,
          "BFD up with all three members", every=0.2)
    for member in MEMBERS:  # the appliance's compiled state: the VIP on lo, Maglev with a sorted list
        assert f"{VIP}/32" in _sh("ip", "-o", "addr", "show", "dev", "lo", ns=member)
        assert "-A -t 10.50.0.10:80 -s mh" in _sh("ipvsadm", "-S", "-n", ns=member)

    flows = _open_flows(net)
    carriers = _carriers()
    by_member = Counter(carriers.get((a, s.getsockname()[1]), "?") for a, s, _ in flows)
    print(f"flows per member: {dict(by_member)} of {len(flows)}")
    for member in MEMBERS:
        assert by_member[member] >= 0.15 * len(flows), by_member
    servers_of = defaultdict(set)
    members_of = defaultdict(set)
    for address, s, server in flows:
        servers_of[address].add(server)
        members_of[address].add(carriers.get((address, s.getsockname()[1])))
    assert all(len(v) == 1 for v in servers_of.values()), dict(servers_of)  # one server per client
    spanning = [a for a, m in members_of.items() if len(m) > 1]
    assert len(spanning) >= len(CLIENTS) // 2, members_of  # ...whichever member carried its flows
    assert {next(iter(v)) for v in servers_of.values()} == set(SERVERS)

    # 1. m1's bgpd dies: its session closes, the router withdraws it; m1's flows go on elsewhere.
    started = time.monotonic()
    frr_lab.kill("m1", "bgpd")
    _wait(lambda: next_hops() == {MEMBERS["m2"], MEMBERS["m3"]}, 10, "m1 withdrawn")
    print(f"bgpd killed → route withdrawn in {time.monotonic() - started:.2f} s")
    assert _talk(flows) == []

    # 2. m2 goes dark (its link down: no FIN, no NOTIFICATION): BFD finds out.
    detection = BFD_INTERVAL_MS * BFD_MULTIPLIER / 1000
    started = time.monotonic()
    _sh("ip", "link", "set", "v-m2", "down")
    _wait(lambda: next_hops() == {MEMBERS["m3"]}, 10, "m2 withdrawn")
    took = time.monotonic() - started
    print(f"m2 dark → route withdrawn in {took:.2f} s (BFD detection {detection:.1f} s)")
    assert took <= detection + 1.0  # the guest's timers are coarse; the hold time would be 9 s
    assert _talk(flows) == []
    for address, server in ((a, next(iter(v))) for a, v in servers_of.items()):  # new flows too
        s = net.socket("client")
        s.settimeout(5)
        s.bind((address, 0))
        s.connect((VIP, 80))
        assert lab._readline(s).split()[0] == server
        s.close()
    for _, s, _ in flows:
        s.close()
