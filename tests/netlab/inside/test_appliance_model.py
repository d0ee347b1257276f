"""Model-based test of the whole apply path in the kernel lab (runs inside the UML guest).

A seeded random walk of configuration changes through the real HTTP API of a running appliance
(Redis, ``runserver`` not eager, a Celery solo worker; see appliance_lab.py): services of every
protocol and method (single port, multi-port and TCP+UDP firewall-mark, manual marks, IPv4 and
IPv6), real servers added, removed and edited (weight, state, thresholds), persistence toggled,
schedulers changed, services enabled and disabled, VIPs moved. Every change is followed by an
apply: the first ones through ``POST /api/v1/apply/`` and the worker, the rest with
``cluster.apply.apply_now()`` in this process for speed. After each apply the kernel, read back
with the C tools (``ipvsadm -S -n``, ``iptables-save``, ``ip addr``), must equal the desired
state compiled from the database, and the IPVS table must have the shape the test's own model
predicts. Invalid changes must be refused with 400 (never 500) and change nothing.

Interleaved with the configuration changes, the other kernel writers take their turns, all through
the one kernel writer (cluster/writer.py): runtime actions (online/drain/halt through the API and
the worker's kernel.runtime task, no apply), healthcheckd transitions (its own kernel code path,
``KernelWeights`` in a writer session, in this process) and phases of Auto apply (the worker
applies each saved change). After every step the kernel, read back with the C tools, must equal
what the journal says; whenever nothing is pending it must also equal the desired state, and an
apply then finds nothing to do (no update was lost between the writers).

``FULCRUM_MODEL_SEED`` and ``FULCRUM_MODEL_CHANGES`` override the seed and the number of
(valid) changes.
"""

from __future__ import annotations

import ipaddress
import os
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.netlab import lab
from tests.netlab.inside import appliance_lab as A

pytestmark = pytest.mark.netlab
# The walk takes ~2-3 minutes in the guest on a quiet host; each step spawns the C tools, and where
# the host makes a spawn in the guest slow (~170 ms for `ip` measured, vs ~40) it takes ~12. A hang guard.
NETLAB_TIMEOUT = 1500

SEED = int(os.environ.get("FULCRUM_MODEL_SEED", "20240611"))
CHANGES = int(os.environ.get("FULCRUM_MODEL_CHANGES", "200"))
VERBOSE = bool(os.environ.get("FULCRUM_MODEL_VERBOSE"))
THROUGH_WORKER = 20  # the first applies go API -> Redis -> worker; the rest run in this process
MAX_SERVICES = 24
PROTOCOLS = ("tcp", "udp", "tcpudp", "ops", "fwm")
METHODS = ("dr", "nat", "snat", "tun")
SCHEDULERS = ("rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh", "fo", "ovf")
LB_BACK = {4: "10.9.0.1", 6: "fd00:9::1"}


class Refused(Exception):
    """The change was invalid and the API said so (400)."""


@dataclass
class Svc:
    id: int
    family: int
    vip: str
    protocol: str
    ports: str
    method: str
    fallback: bool
    enabled: bool = True
    servers: dict[int, dict] = field(default_factory=dict)  # id -> {label, address, port, weight, state}
    next_label: int = 1

    @property
    def single_port(self) -> int | None:
        return int(self.ports) if self.ports.isdigit() else None


@dataclass
class Walk:
    """The test's own model of the configuration, and the random changes it makes through the API."""

    app: A.Appliance
    rnd: random.Random
    services: dict[int, Svc] = field(default_factory=dict)
    n: int = 0
    manual_mark: int = 4_000_000_000  # manual marks count down, automatic ones (max + 1) up: never equal
    stats: Counter = field(default_factory=Counter)

    # --- helpers

    def call(self, method: str, path: str, body=None, refused: bool = False):
        code, payload = self.app.request(method, path, body)
        if refused:
            # 409: a key another object holds (with its existing_id); 400: any other refused input
            assert code in (400, 409), f"invalid change {method} {path} {body!r} -> {code} (want 400/409): {payload}"
            raise Refused(payload)
        assert code in (200, 201, 204), f"{method} {path} {body!r} -> {code}: {payload}"
        return payload

    def fresh(self) -> int:
        self.n += 1
        return self.n

    def vip(self, family: int) -> str:
        n = self.fresh()
        return f"10.7.{n // 200}.{n % 200 + 1}" if family == 4 else f"fd00:7::{n:x}"

    def pick(self, want=lambda s: True) -> Svc | None:
        found = [s for s in self.services.values() if want(s)]
        return self.rnd.choice(found) if found else None

    def ports_for(self, protocol: str) -> str:
        r = self.rnd
        if protocol == "fwm":
            return ""
        kind = r.choice(("single", "single", "list", "range"))
        base = r.randrange(1, 60000)
        if kind == "single":
            return str(base)
        if kind == "list":
            return ",".join(str(p) for p in sorted(r.sample(range(base, base + 2000), r.randint(2, 17))))
        return f"{base}-{base + r.randint(1, 40)}"

    def persistence(self, family: int) -> dict:
        r = self.rnd
        if r.random() < 0.5:
            return {"persistent": False}
        masks = ["", "255.255.255.0", "/16"] if family == 4 else ["", "64", "/48"]
        return {"persistent": True, "persistence_timeout": r.choice((1, 60, 300, 86400)),
                "persistence_netmask": r.choice(masks)}

    def rs_address(self, svc: Svc) -> str:
        taken = {s["address"] for s in svc.servers.values()}
        while True:
            x = self.rnd.randrange(2, 250)
            a = f"10.9.1.{x}" if svc.family == 4 else f"fd00:9::1:{x:x}"
            if a not in taken:
                return a

    def rs_port(self, svc: Svc) -> int | None:
        if svc.method in ("dr", "tun"):  # no port translation: blank, or the VIP's own port
            return svc.single_port if svc.single_port and self.rnd.random() < 0.3 else None
        return self.rnd.choice((None, 8080, self.rnd.randrange(1, 65536)))

    def weight(self) -> int:
        return self.rnd.choice((0, 1, 5, 100, 100, 250, 1000, 65535))

    def thresholds(self) -> dict:
        if self.rnd.random() < 0.6:
            return {"min_conns": 0, "max_conns": 0}
        high = self.rnd.randrange(1, 50000)
        return {"max_conns": high, "min_conns": self.rnd.randrange(0, high)}

    # --- valid changes

    def create_service(self):
        r = self.rnd
        family = 6 if r.random() < 0.2 else 4
        protocol, method = r.choice(PROTOCOLS), r.choice(METHODS)
        ports = self.ports_for(protocol)
        label = f"s{self.fresh()}"
        body = {"label": label, "vip": self.vip(family), "protocol": protocol, "ports": ports, "method": method,
                "scheduler": r.choice(SCHEDULERS), "check_type": "none", **self.persistence(family)}
        if protocol == "fwm":
            self.manual_mark -= r.randint(1, 5)
            body["fwmark"] = self.manual_mark
        if method == "snat" and r.random() < 0.5:
            body["snat_source"] = LB_BACK[family]
        fallback = r.random() < 0.25
        if fallback:
            body["fallback_address"] = f"10.9.2.{r.randrange(2, 250)}" if family == 4 else f"fd00:9::2:{self.n:x}"
            if method in ("nat", "snat") or r.random() < 0.5:
                body["fallback_port"] = r.randrange(1, 65536)
        if r.random() < 0.1:
            body["enabled"] = False
        made = self.call("POST", "/api/v1/virtual-services/", body)
        self.stats.update((f"protocol {protocol}", f"method {method}", f"IPv{family}"))
        svc = Svc(made["id"], family, made["vip"], protocol, ports, method, fallback, made["enabled"])
        self.services[svc.id] = svc
        for _ in range(r.randint(0, 3)):
            self.add_server(svc)

    def delete_service(self):
        svc = self.pick()
        self.call("DELETE", f"/api/v1/virtual-services/{svc.id}/")
        del self.services[svc.id]

    def add_server(self, svc: Svc | None = None):
        svc = svc or self.pick()
        label = f"r{svc.next_label}"
        svc.next_label += 1
        body = {"label": label, "address": self.rs_address(svc), "port": self.rs_port(svc), "weight": self.weight(),
                **self.thresholds()}
        if self.rnd.random() < 0.15:
            body["admin_state"] = self.rnd.choice(("drain", "halt"))
        made = self.call("POST", f"/api/v1/virtual-services/{svc.id}/real-servers/", body)
        svc.servers[made["id"]] = {"label": label, "address": made["address"], "port": made["port"],
                                   "weight": made["weight"], "state": made["admin_state"], "health": "unknown"}

    def _server(self):
        svc = self.pick(lambda s: s.servers)
        if svc is None:
            return None, None
        return svc, self.rnd.choice(list(svc.servers))

    def delete_server(self):
        svc, rid = self._server()
        self.call("DELETE", f"/api/v1/real-servers/{rid}/")
        del svc.servers[rid]

    def edit_server(self):
        svc, rid = self._server()
        r = self.rnd
        body = {}
        if r.random() < 0.6:
            body["weight"] = self.weight()
        if r.random() < 0.4:
            body.update(self.thresholds())
        if not body:
            body["weight"] = self.weight()
        # admin_state is runtime state: a PATCH refuses to change it (server_action changes it at once)
        made = self.call("PATCH", f"/api/v1/real-servers/{rid}/", body)
        svc.servers[rid].update(weight=made["weight"], state=made["admin_state"])

    def server_action(self):
        """Runtime state: the kernel changes at once through the worker, without an apply."""
        svc, rid = self._server()
        state = self.rnd.choice(("online", "drain", "halt"))
        A.worker_idle()  # the solo worker may be re-running checklists after its last apply
        out = self.call("POST", f"/api/v1/real-servers/{rid}/{state}/")
        assert out["state"] == state and out["kernel"]["status"] == "done", out
        svc.servers[rid]["state"] = state

    def health(self):
        """A healthcheckd transition, through healthcheckd's own kernel code and the kernel writer."""
        from cluster.compile import service_spec
        from cluster.writer import session
        from dataplane.kernel import KernelDriver
        from healthchecks.daemon import KernelWeights
        from realservers.models import RealServer
        from virtualservices.models import VirtualService

        svc, rid = self._server()
        new = "down" if svc.servers[rid]["health"] != "down" else "up"
        vs = VirtualService.objects.get(pk=svc.id)
        before = service_spec(vs, RealServer.objects.filter(service=vs).order_by("label"))
        RealServer.objects.filter(pk=rid).update(health=new)  # as healthcheckd stores it (no change record)
        after = service_spec(vs, RealServer.objects.filter(service=vs).order_by("label"))
        if vs.enabled:
            with KernelDriver() as driver, session(driver) as turn:
                KernelWeights(driver).change(before, after, turn)
        svc.servers[rid]["health"] = new

    def toggle_persistence(self):
        svc = self.pick()
        self.call("PATCH", f"/api/v1/virtual-services/{svc.id}/", self.persistence(svc.family) | {
            "persistent": not self.app.get(f"/api/v1/virtual-services/{svc.id}/")["persistent"]})

    def change_scheduler(self):
        svc = self.pick()
        self.call("PATCH", f"/api/v1/virtual-services/{svc.id}/", {"scheduler": self.rnd.choice(SCHEDULERS)})

    def toggle_enabled(self):
        svc = self.pick()
        svc.enabled = self.call("PATCH", f"/api/v1/virtual-services/{svc.id}/", {"enabled": not svc.enabled})["enabled"]

    def move_vip(self):
        svc = self.pick()
        svc.vip = self.call("PATCH", f"/api/v1/virtual-services/{svc.id}/", {"vip": self.vip(svc.family)})["vip"]

    def change_ports(self):
        """New ports (and maybe protocol) where no real server pins a port: the service key changes."""
        svc = self.pick(lambda s: s.protocol != "fwm" and (s.method in ("nat", "snat") or all(
            rs["port"] is None for rs in s.servers.values())))
        if svc is None:
            return self.change_scheduler()
        protocol = self.rnd.choice(("tcp", "udp", "tcpudp", "ops"))
        ports = self.ports_for(protocol)
        self.call("PATCH", f"/api/v1/virtual-services/{svc.id}/", {"protocol": protocol, "ports": ports})
        svc.protocol, svc.ports = protocol, ports

    def change_method(self):
        svc = self.pick()
        pinned = [rs["port"] for rs in svc.servers.values() if rs["port"] is not None]
        method = self.rnd.choice(METHODS)
        if method in ("dr", "tun") and pinned and not (svc.single_port and set(pinned) == {svc.single_port}):
            self.call("PATCH", f"/api/v1/virtual-services/{svc.id}/", {"method": method}, refused=True)
        self.call("PATCH", f"/api/v1/virtual-services/{svc.id}/", {"method": method, "snat_source": None})
        svc.method = method

    # --- invalid changes: each must be refused with 400 and change nothing

    def invalid(self):
        r = self.rnd
        svc = self.pick()
        choices = [
            lambda: ("POST", "/api/v1/virtual-services/", {"label": "bad", "vip": "10.7.255.1", "protocol": "tcp",
                                                          "ports": r.choice(("70000", "80-", "abc", "0", "")),
                                                          "check_type": "none"}),
            lambda: ("POST", "/api/v1/virtual-services/", {"label": "bad", "vip": "10.7.255.1", "protocol": "fwm",
                                                          "ports": "", "check_type": "none"}),  # no mark
            lambda: ("POST", "/api/v1/virtual-services/", {"label": "bad", "vip": "10.7.255.1", "ports": "80",
                                                          "fallback_port": 80, "check_type": "none"}),
            lambda: ("POST", "/api/v1/virtual-services/", {"label": "bad", "vip": "10.7.255.1", "ports": "80",
                                                          "scheduler": "bogus", "check_type": "none"}),
        ]
        if svc is not None:
            other = 6 if svc.family == 4 else 4
            base = f"/api/v1/virtual-services/{svc.id}/"
            choices += [
                lambda: ("PATCH", base, {"persistent": True, "persistence_netmask":
                                         "255.0.255.0" if svc.family == 4 else "255.255.255.0"}),
                lambda: ("PATCH", base, {"method": "snat", "snat_source": LB_BACK[other]}),
                lambda: ("PATCH", base, {"method": r.choice(("dr", "nat", "tun")), "snat_source": LB_BACK[svc.family]}),
                lambda: ("PATCH", base, {"persistence_timeout": 0}),
                lambda: ("POST", f"{base}real-servers/", {"label": "x", "address": "10.9.1.1" if other == 4
                                                          else "fd00:9::1:1"}),  # other address family
                lambda: ("POST", f"{base}real-servers/", {"label": "x", "address": self.rs_address(svc),
                                                          "weight": 65536}),
                lambda: ("POST", "/api/v1/virtual-services/", {"label": self._label(svc), "vip": "10.7.255.2",
                                                               "ports": "80", "check_type": "none"}),  # taken
            ]
            if svc.servers:
                rid = r.choice(list(svc.servers))
                rs = svc.servers[rid]
                choices += [
                    lambda: ("POST", f"{base}real-servers/", {"label": rs["label"], "address": self.rs_address(svc)}),
                    lambda: ("POST", f"{base}real-servers/", {"label": "dup", "address": rs["address"],
                                                              "port": rs["port"]}),
                    lambda: ("PATCH", f"/api/v1/real-servers/{rid}/", {"admin_state": "paused"}),
                    lambda: ("PATCH", f"/api/v1/real-servers/{rid}/", {"weight": -1}),
                ]
                if svc.single_port and rs["port"] in (None, svc.single_port):
                    # the same destination once more, its port written the other way (blank = the VIP's port)
                    choices.append(lambda: ("POST", f"{base}real-servers/", {
                        "label": "same", "address": rs["address"],
                        "port": svc.single_port if rs["port"] is None else None}))
            if svc.single_port and svc.protocol in ("tcp", "udp", "ops"):
                choices.append(lambda: ("POST", "/api/v1/virtual-services/", {
                    "label": "clash", "vip": svc.vip, "protocol": svc.protocol, "ports": svc.ports,
                    "check_type": "none"}))  # the same VIP and port twice
            if svc.method in ("dr", "tun"):
                wrong = (svc.single_port or 80) + 1
                choices.append(lambda: ("POST", f"{base}real-servers/", {"label": "x", "address": self.rs_address(svc),
                                                                         "port": wrong}))
        marked = [s for s in self.services.values() if s.protocol == "fwm"]
        if marked:
            taken = self.app.get(f"/api/v1/virtual-services/{marked[0].id}/")["fwmark"]
            choices.append(lambda: ("POST", "/api/v1/virtual-services/", {
                "label": "marked", "vip": "10.7.255.3", "protocol": "fwm", "ports": "", "fwmark": taken,
                "check_type": "none"}))
        method, path, body = r.choice(choices)()
        self.call(method, path, body, refused=True)

    def _label(self, svc: Svc) -> str:
        return self.app.get(f"/api/v1/virtual-services/{svc.id}/")["label"]  # an existing label: not unique

    # --- one random step

    def step(self) -> str:
        r = self.rnd
        if not self.services:
            self.create_service()
            return "create_service"
        options = [("invalid", 2), ("create_service", 3 if len(self.services) < MAX_SERVICES else 0),
                   ("delete_service", 1 if len(self.services) > 6 else 0), ("add_server", 4),
                   ("delete_server", 2), ("edit_server", 4), ("server_action", 2), ("toggle_persistence", 2),
                   ("change_scheduler", 2), ("toggle_enabled", 2), ("move_vip", 1), ("change_ports", 1),
                   ("change_method", 1), ("health", 2)]
        if not any(s.servers for s in self.services.values()):
            options = [(name, w) for name, w in options if name not in ("delete_server", "edit_server",
                                                                       "server_action", "health")]
        name = r.choices([n for n, _ in options], [w for _, w in options])[0]
        getattr(self, name)()
        return name

    # --- what the model itself predicts of the IPVS table

    def expected_shape(self) -> tuple[int, int]:
        services = dests = 0
        for svc in self.services.values():
            if not svc.enabled:
                continue
            services += 1
            present = [rs for rs in svc.servers.values() if rs["state"] != "halt"]  # down: quiesced (weight 0)
            dests += len(present)
            if svc.fallback and not any(rs["state"] == "online" and rs["weight"] > 0 and rs["health"] != "down"
                                        for rs in present):
                dests += 1
        return services, dests


# --- the kernel against the desired state -----------------------------------------------------


def desired_state():
    from cluster.compile import cluster_spec
    from dataplane.compiler import compile_state

    return compile_state(cluster_spec())


def config_fingerprint():
    from cluster.apply import latest_change_id

    return desired_state(), latest_change_id()


def rule_lines(lines: list[str]) -> dict[str, list[str]]:
    """Our rules by chain, in order; the jumps into our chains; the chains declared."""
    by_chain: dict[str, list[str]] = {}
    for line in lines:
        if line.startswith("-A FULCRUM-"):
            by_chain.setdefault(line.split()[1], []).append(line)
        elif line.startswith("-A ") and "-j FULCRUM-" in line:
            by_chain.setdefault("jumps", []).append(line)
        elif line.startswith(":FULCRUM-"):
            by_chain.setdefault("chains", []).append(line.split()[0][1:])
    return {k: v if k not in ("jumps", "chains") else sorted(v) for k, v in by_chain.items()}


def vips(ip_addr_output: str) -> set[str]:
    """The addresses ``ip -o addr show dev back`` lists, minus the lab's own and link-local ones."""
    out = set()
    for line in ip_addr_output.splitlines():
        words = line.split()
        if len(words) > 3 and words[2] in ("inet", "inet6") and not words[3].startswith("fe80:"):
            out.add(words[3])
    return out - {"10.9.0.1/24", "fd00:9::1/64"}


def _endpoint(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _unsigned_marks(line: str) -> str:
    """ipvsadm prints a firewall mark above 2**31 as a negative number (printf %d of the u32)."""
    return re.sub(r"(-f |FWM\s+)(-\d+)", lambda m: f"{m[1]}{int(m[2]) + 2**32}", line)


def _without_thresholds(line: str) -> str:
    """``ipvsadm -S`` never prints a destination's -x/-y (ipvsadm-restore takes them): drop them."""
    return re.sub(r" -[xy] \d+", "", line)


def _saved(line: str) -> str:
    """An ``ipvsadm -S`` line, normalised: unsigned marks, no default ``--tun-type ipip`` (the
    renderer leaves the default out; ipvsadm 1.31 always prints it for -i)."""
    return _unsigned_marks(line).replace(" --tun-type ipip", "")


def thresholds_in_kernel(listing: str) -> set[tuple]:
    """(protocol, service, destination, upper, lower) from ``ipvsadm -L -n --thresholds``."""
    out, service = set(), None
    for line in listing.splitlines():
        words = _unsigned_marks(line).split()
        if words and words[0] in ("TCP", "UDP", "FWM"):
            service = (words[0], words[1])
        elif line.startswith("  -> ") and service and words[1] != "RemoteAddress:Port":
            out.add((*service, words[1], int(words[2]), int(words[3])))
    return out


def thresholds_wanted(desired) -> set[tuple]:
    out = set()
    for d in desired.destinations:
        k = d.service
        service = ("FWM", str(k.fwmark)) if k.protocol == "fwm" else (k.protocol.upper(), _endpoint(k.address, k.port))
        out.add((*service, _endpoint(d.address, d.port), d.upper_threshold, d.lower_threshold))
    return out


READ_BACK = ("ipvsadm -S -n", "ipvsadm -L -n --thresholds", "iptables-legacy-save", "ip6tables-legacy-save",
             "ip -o addr show dev back")


def check_kernel(shell: A.Shell, desired, walk: Walk, where: str) -> None:
    """The kernel, read back with the C tools, against the desired state (normalised line sets)."""
    from dataplane.desired import OWNED_CHAINS
    from dataplane.render import jump_rules, render_iptables, render_ipvsadm

    saved, listing, ipt4, ipt6, addrs = shell.run(*READ_BACK)
    got = sorted(_saved(x) for x in saved.splitlines())
    want = sorted(_without_thresholds(x) for x in render_ipvsadm(desired).splitlines())
    assert got == want, f"{where}: ipvsadm -S -n differs from the desired state\n" \
                        f"missing: {sorted(set(want) - set(got))}\nextra: {sorted(set(got) - set(want))}"
    assert thresholds_in_kernel(listing) == thresholds_wanted(desired), f"{where}: thresholds differ"
    services = sum(1 for x in got if x.startswith("-A "))
    assert (services, len(got) - services) == walk.expected_shape(), f"{where}: the model predicts another table"
    for family, text in ((4, ipt4), (6, ipt6)):
        rules = rule_lines(render_iptables(desired, family).splitlines())
        rules.pop("chains")
        if any(r.family == family for r in desired.rules):
            rules["jumps"] = sorted(f"-A {builtin} {' '.join(args)}" for _, builtin, args in jump_rules(family))
            rules["chains"] = sorted(chain for chains in OWNED_CHAINS.values() for chain in chains)
        assert rule_lines(text.splitlines()) == rules, f"{where}: IPv{family} iptables-save differs from the rules"
    assert {a.interface for a in desired.addresses} <= {"back"}
    want_addrs = {f"{ipaddress.ip_address(a.address)}/{a.prefixlen}" for a in desired.addresses}
    assert vips(addrs) == want_addrs, f"{where}: the VIPs on the interface differ"


def quiet_checklists() -> None:
    """In this process, do not queue a checklist re-run after each apply (the worker would probe
    every service after every one of our in-process applies, competing for the guest's one CPU).
    The worker's own applies, above, keep the hook."""
    from django.db.models.signals import post_save

    from cluster.models import ApplyRun

    assert post_save.disconnect(sender=ApplyRun, dispatch_uid="checklists.after_apply")


# --- the test ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app(request):
    net = lab.Net.build(servers=1)  # the bridges (VIP interface "back") and the LB's own addresses
    blocker = None
    if request.config.pluginmanager.has_plugin("django"):
        blocker = request.getfixturevalue("django_db_blocker")  # we share the appliance's database instead
        blocker.unblock()
    a = A.start(Path(os.environ.get("TMPDIR", "/tmp")) / "appliance-model")
    yield a
    a.stop()
    net.close()
    if blocker is not None:
        blocker.restore()


def same_kernel_state(a, b) -> bool:
    """Equal in what the kernel holds (rule order compared per family, as netfilter keeps it)."""
    return (a.services, a.destinations, a.addresses) == (b.services, b.destinations, b.addresses) and all(
        [r for r in a.rules if r.family == f] == [r for r in b.rules if r.family == f] for f in (4, 6))


def auto_phase(valid: int, applies: int) -> bool:
    """Auto apply is on for the second and fourth quarter of the walk (after the worker's first applies)."""
    return applies >= THROUGH_WORKER and (valid * 4 // max(CHANGES, 1)) % 2 == 1


def test_random_changes_through_the_api_keep_kernel_equal_to_desired_state(app):
    from cluster.apply import apply_now, pending_changes
    from cluster.writer import journal

    app.ok("PATCH", "/api/v1/cluster/", {"vip_interface": "back"})
    walk = Walk(app, random.Random(SEED))
    shell = A.Shell()
    times = Counter()
    applies = valid = refused = 0
    auto = False
    t_start = time.monotonic()
    now = config_fingerprint()  # (desired state, newest change id) of the configuration
    while valid < CHANGES:
        if auto_phase(valid, applies) != auto:
            auto = not auto
            app.ok("PATCH", "/api/v1/cluster/", {"auto_apply": auto})
            A.worker_idle()
            walk.stats["auto apply on" if auto else "auto apply off"] += 1
        t0 = time.monotonic()
        try:
            name = walk.step()
            valid += 1
        except Refused:
            name = "refused"
            refused += 1
        t1 = time.monotonic()
        walk.stats[name] += 1
        where = f"seed {SEED}, change {valid + refused} ({name}{', auto apply' if auto else ''})"
        if name == "refused":
            assert config_fingerprint() == now, f"{where}: a refused change changed the configuration"
        if name in ("server_action", "health"):
            kind, ops = "runtime (no apply)", 0  # runtime state: in the kernel already, nothing pending
        elif auto:
            kind, ops = "auto apply (worker)", 0
            A.worker_idle()  # the worker applied the saved change on its own
        elif applies < THROUGH_WORKER:
            kind, run = "apply (worker)", app.apply()
            ops = run["operation_count"]
            applies += 1
            if applies == THROUGH_WORKER:
                quiet_checklists()
        else:
            kind, run = "apply (in-process)", apply_now(actor="model-test")
            ops = run.operation_count
            assert run.status == "success", f"{where}: {run.error}"
            applies += 1
        if name == "refused":
            assert ops == 0, f"{where}: the apply after a refused change did something"
        t2 = time.monotonic()
        now = config_fingerprint()
        recorded = journal()[1]
        assert recorded is not None, f"{where}: the journal is not trusted"
        check_kernel(shell, recorded, walk, where)  # the kernel is what the journal says, whoever wrote
        if not pending_changes():
            assert same_kernel_state(recorded, now[0]), f"{where}: nothing pending, yet the kernel is not the config"
        t3 = time.monotonic()
        times["api"] += t1 - t0
        times[kind] += t2 - t1
        times["read back + compare"] += t3 - t2
        if VERBOSE:
            print(f"{where}: {ops} ops; api {t1 - t0:.2f}s {kind} {t2 - t1:.2f}s check {t3 - t2:.2f}s", flush=True)
    if auto:
        app.ok("PATCH", "/api/v1/cluster/", {"auto_apply": False})
        A.worker_idle()
    total = time.monotonic() - t_start
    print(f"\nmodel walk seed {SEED}: {valid} changes + {refused} refused, {applies} applies in {total:.1f}s; "
          + ", ".join(f"{k} {v:.1f}s" for k, v in times.items()))
    print("changes:", dict(walk.stats))
    # the walk covered what it claims to
    assert valid >= 200 or CHANGES < 200
    assert refused >= CHANGES // 20
    for name in ("create_service", "delete_service", "add_server", "delete_server", "edit_server", "server_action",
                 "health", "toggle_persistence", "change_scheduler", "toggle_enabled", "auto apply on"):
        assert walk.stats[name] > 0, f"the walk never did {name}"
    for kind in (*(f"protocol {p}" for p in PROTOCOLS), *(f"method {m}" for m in METHODS), "IPv4", "IPv6"):
        assert walk.stats[kind] > 0, f"the walk never created a service with {kind}"
    # no update lost between the writers: nothing left to do, and the last state is still the kernel's
    assert apply_now(actor="model-test").operation_count == 0
    app.apply()
    check_kernel(shell, desired_state(), walk, "final worker apply")
    shell.close()
