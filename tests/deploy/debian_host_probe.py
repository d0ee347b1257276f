"""Runs inside the booted Debian 12 guest (labprobe.service, root, the appliance's venv python).

``debian_host_probe.py first ADMIN_PASSWORD``: every unit active, HTTPS login on 443, an API apply
programs IPVS (with the defaults: no drift lock), a network change is saved and applied, hostname, DNS,
time zone and NTP servers saved through the API are written by fulcrum-system and chronyd runs with
them, keepalived survives a real ``systemctl restart fulcrum-worker``, System Control restarts a unit.
``... second``: after a reboot, the host files are kept, and the saved network configuration and the
IPVS state are back, put there by fulcrum-network at boot. Prints "PROBE <phase> PASS" or
"PROBE <phase> FAIL <why>" on the console; the host reads it.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

BASE = "https://localhost"
UNITS = ["fulcrum-network", "fulcrum-web", "fulcrum-worker", "fulcrum-tasks", "fulcrum-beat",
         "fulcrum-healthcheckd", "fulcrum-keepalived"]
VIP, FLOATING = "192.0.2.10", "192.0.2.50/24"
LAN, VLAN_ADDR = "203.0.113.1/24", "2001:db8:20::1/64"
HOST = {"hostname": "lb1.example.net", "dns_servers": ["192.0.2.53", "2001:db8::53"],
        "search_domains": ["example.net", "lab.example.net"], "ntp_servers": ["192.0.2.123", "198.51.100.123"],
        "time_daemon": "chrony", "timezone": "Europe/Berlin"}
CHRONY_SOURCES = "/etc/chrony/sources.d/fulcrum.sources"


class Failed(Exception):
    pass


def sh(*argv: str, check: bool = True) -> str:
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if check and out.returncode:
        raise Failed(f"{' '.join(argv)}: {out.returncode} {out.stderr.strip()}")
    return out.stdout


def wait(what: str, predicate, seconds: float):
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise Failed(f"timed out after {seconds:.0f} s waiting for {what}")
        time.sleep(0.5)


def show(unit: str, prop: str) -> str:
    return sh("systemctl", "show", "-p", prop, "--value", unit).strip()


def all_active() -> bool:
    return all(show(u, "ActiveState") == "active" for u in UNITS)


class Web:
    """A browser-like session against the WebUI on 443 (the installer's self-signed certificate)."""

    def __init__(self):
        ctx = ssl.create_default_context(cafile="/etc/fulcrum/tls/cert.pem")
        ctx.check_hostname = False  # the certificate names the host's FQDN; we come in as localhost
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx),
                                                  urllib.request.HTTPCookieProcessor(self.jar), NoRedirect)

    def csrf(self) -> str:
        return next((c.value for c in self.jar if c.name == "csrftoken"), "")

    def send(self, method: str, path: str, data: bytes | None = None, ctype: str | None = None):
        headers = {"Referer": BASE + path, "X-CSRFToken": self.csrf(), "Accept": "application/json"}
        if ctype:
            headers["Content-Type"] = ctype
        req = urllib.request.Request(BASE + path, data=data, method=method, headers=headers)
        try:
            with self.opener.open(req, timeout=30) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def login(self, password: str) -> None:
        code, _, _ = self.send("GET", "/login/")
        if code != 200:
            raise Failed(f"GET /login/ on 443 answered {code}")
        form = urllib.parse.urlencode({"username": "admin", "password": password,
                                       "csrfmiddlewaretoken": self.csrf()}).encode()
        code, headers, body = self.send("POST", "/login/", form, "application/x-www-form-urlencoded")
        if code != 302 or headers.get("Location") not in ("/", BASE + "/"):
            raise Failed(f"login did not redirect home: {code} {headers.get('Location')} {body[:200]!r}")
        code, _, _ = self.send("GET", "/")
        if code != 200:
            raise Failed(f"the overview after login answered {code}")

    def api(self, method: str, path: str, body=None, expect=(200, 201, 202)):
        data = json.dumps(body).encode() if body is not None else None
        code, _, raw = self.send(method, "/api/v1/" + path, data, "application/json" if data else None)
        if code not in expect:
            raise Failed(f"{method} /api/v1/{path}: {code} {raw[:400]!r}")
        return json.loads(raw) if raw else None


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def apply(web: Web) -> None:
    run = web.api("POST", "apply/")
    done = wait("the apply run", lambda: (r := web.api("GET", f"apply/runs/{run['id']}/"))["status"]
                not in ("queued", "running") and r, 120)
    if done["status"] != "success":
        raise Failed(f"apply run {run['id']}: {done}")


def network_change(web: Web) -> None:
    web.api("POST", "system/interfaces/", {"name": "lan0", "addresses": [LAN]})
    web.api("POST", "system/interfaces/", {"name": "lan0.20", "kind": "vlan", "parent": "lan0", "vlan_id": 20,
                                           "addresses": [VLAN_ADDR]})
    change = web.api("POST", "system/network/", {"timeout": 0})
    wait("the network change to be confirmed",
         lambda: web.api("GET", f"system/network/changes/{change['id']}/")["status"] == "confirmed", 60)
    network_is_back()


def network_is_back() -> bool:
    if LAN not in sh("ip", "-o", "addr", "show", "dev", "lan0"):
        raise Failed(f"lan0 lacks {LAN}: {sh('ip', '-o', 'addr')}")
    link = sh("ip", "-d", "-o", "addr", "show", "dev", "lan0.20", check=False)
    if VLAN_ADDR not in link or "vlan protocol 802.1Q id 20" not in sh("ip", "-d", "link", "show", "lan0.20"):
        raise Failed(f"lan0.20 (VLAN 20, {VLAN_ADDR}) is not there: {link}")
    return True


def read(path: str) -> str:
    try:
        with open(path) as fh:
            return fh.read()
    except OSError as e:
        return f"({e})"


def host_settings(web: Web) -> None:
    """Hostname, DNS, time zone and NTP through the API; fulcrum-system.path has root write them."""
    chrony_pid = show("chrony", "MainPID")
    if any(ip in sh("chronyc", "-n", "sources", check=False) for ip in HOST["ntp_servers"]):
        raise Failed("chronyd lists the lab's NTP servers before they were set")
    runs_before = show("fulcrum-system", "ExecMainExitTimestampMonotonic")
    web.api("PATCH", "system/settings/", HOST)
    wait("fulcrum-system.service to run (fulcrum-system.path)",
         lambda: show("fulcrum-system", "ExecMainExitTimestampMonotonic") != runs_before
         and show("fulcrum-system", "ActiveState") in ("inactive", "failed"), 60)
    if show("fulcrum-system", "Result") != "success":
        raise Failed(f"fulcrum-system failed:\n{sh('journalctl', '-u', 'fulcrum-system', '--no-pager', check=False)}")
    host_files_are_applied()  # chronyd lists the new servers: it was reloaded or restarted after the write
    ran = sh("journalctl", "-u", "fulcrum-system", "--no-pager", "-o", "cat", check=False).splitlines()
    say(f"fulcrum-system: {[line for line in ran if 'chrony' in line][-1:]}; chronyd pid {chrony_pid} -> "
        f"{show('chrony', 'MainPID')}")


def host_files_are_applied() -> bool:
    name = HOST["hostname"]
    if sh("hostname").strip() != name or read("/etc/hostname") != name + "\n":
        raise Failed(f"hostname {sh('hostname').strip()!r}, /etc/hostname {read('/etc/hostname')!r}, want {name}")
    if f"127.0.1.1\t{name}\tlb1" not in read("/etc/hosts") or "fresh-debian" in read("/etc/hosts"):
        raise Failed(f"/etc/hosts does not name {name} on 127.0.1.1 (alone): {read('/etc/hosts')!r}")
    want = "".join(f"nameserver {ip}\n" for ip in HOST["dns_servers"]) + "search example.net lab.example.net\n"
    if want not in read("/etc/resolv.conf"):
        raise Failed(f"/etc/resolv.conf: {read('/etc/resolv.conf')!r}")
    if os.path.realpath("/etc/localtime") != "/usr/share/zoneinfo/Europe/Berlin" or not os.path.isfile(
            "/etc/localtime") or sh("date", "+%Z").strip() not in ("CET", "CEST"):
        raise Failed(f"/etc/localtime -> {os.path.realpath('/etc/localtime')}, date +%Z: {sh('date', '+%Z')}")
    sources = read(CHRONY_SOURCES)
    if not all(f"server {ip} iburst" in sources for ip in HOST["ntp_servers"]):
        raise Failed(f"{CHRONY_SOURCES}: {sources!r}")
    if show("chrony", "ActiveState") != "active":
        raise Failed(f"chrony is {show('chrony', 'ActiveState')}:\n"
                     f"{sh('journalctl', '-u', 'chrony', '--no-pager', check=False)[-1500:]}")
    listed = wait("chronyd to list the NTP servers",
                  lambda: (out := sh("chronyc", "-n", "sources", check=False))
                  and all(ip in out for ip in HOST["ntp_servers"]) and out, 20)
    say("chronyc -n sources: " + " ".join(line.split()[1] for line in listed.splitlines() if line.startswith("^")))
    return True


def ipvs_has_service() -> bool:
    return f"TCP  {VIP}:80" in sh("ipvsadm", "-Ln")


def keepalived_survives_a_worker_restart() -> str:
    as_fulcrum_shell("""
from cluster.models import ClusterSettings, FloatingIP
from ha.models import Link, Peer
s = ClusterSettings.load(); s.vip_interface = 'ha0'; s.save()
FloatingIP.objects.create(address='192.0.2.50', prefixlen=24, interface='ha0')
Peer.objects.create(address='198.51.100.3', role='master', secret='00' * 32, node_name='lb1')
Link.objects.create(interface='ha0', peer_address='198.51.100.3')
""")
    return "configured"


def as_fulcrum_shell(code: str) -> None:
    sh("runuser", "-u", "fulcrum", "--", "sh", "-c",
       'set -a; . /etc/fulcrum/fulcrum.env; set +a; cd /opt/fulcrum/app; '
       'exec /opt/fulcrum/venv/bin/python manage.py shell -c "$1"', "_", code)


def holds_floating() -> bool:
    return FLOATING in sh("ip", "-o", "addr", "show", "dev", "ha0")


def vrrp_transitions() -> int:
    log = sh("journalctl", "-u", "fulcrum-keepalived", "--no-pager", check=False)
    return len(re.findall(r"Entering \w+ STATE", log))


def keepalived_pid() -> str:
    return show("fulcrum-keepalived", "MainPID")


def first(password: str) -> None:
    wait("every fulcrum unit active", all_active, 180)
    web = Web()
    web.login(password)
    say("HTTPS 443: the WebUI answered and admin logged in")
    # Until the kernel worker has published its status, the web process cannot tell IPVS is there
    # (it is unprivileged) and the network pages refuse as "render-only".
    wait("the worker to report the kernel dataplane", lambda: web.api("GET", "apply/")["dataplane"] == "kernel", 60)

    network_change(web)
    say(f"network change confirmed: lan0 {LAN}, VLAN lan0.20 {VLAN_ADDR}")

    host_settings(web)
    say(f"system settings applied for real: hostname {HOST['hostname']} (hostname, /etc/hostname, /etc/hosts), "
        "resolv.conf, Europe/Berlin, chrony restarted with the NTP servers")

    # The defaults: no drift lock. IPVS must come back after the reboot without it (fulcrum-network).
    if web.api("GET", "cluster/")["lock"] is not False:
        raise Failed("the drift lock (lock kernel state) is on by default")
    web.api("PATCH", "cluster/", {"vip_interface": "lan0"})
    vs = web.api("POST", "virtual-services/", {"label": "web", "vip": VIP, "ports": "80", "protocol": "tcp",
                                               "method": "dr", "scheduler": "rr", "check_type": "none"})
    web.api("POST", f"virtual-services/{vs['id']}/real-servers/", {"label": "rs1", "address": "192.0.2.20"})
    apply(web)
    if not ipvs_has_service():
        raise Failed(f"the apply succeeded but ipvsadm -Ln lacks {VIP}:80:\n{sh('ipvsadm', '-Ln')}")
    say(f"API apply programmed IPVS: {VIP}:80")

    keepalived_survives_a_worker_restart()
    apply(web)
    wait(f"keepalived to hold {FLOATING} on ha0", holds_floating, 90)
    time.sleep(3)
    pid, before = keepalived_pid(), vrrp_transitions()
    worker_pid = show("fulcrum-worker", "MainPID")
    sh("systemctl", "restart", "fulcrum-worker")
    wait("fulcrum-worker active again", lambda: show("fulcrum-worker", "ActiveState") == "active", 60)
    if show("fulcrum-worker", "MainPID") == worker_pid:
        raise Failed("fulcrum-worker kept its pid: it was not restarted")
    time.sleep(5)
    if keepalived_pid() != pid or not holds_floating() or vrrp_transitions() != before:
        raise Failed(f"keepalived pid {pid} -> {keepalived_pid()}, holds {FLOATING}: {holds_floating()}, "
                     f"VRRP transitions {before} -> {vrrp_transitions()}")
    say(f"systemctl restart fulcrum-worker: keepalived kept pid {pid}, {FLOATING} and its VRRP state")

    hc_pid = show("fulcrum-healthcheckd", "MainPID")
    web.api("POST", "system/control/", {"action": "restart", "service": "healthcheckd", "confirm": True})
    wait("System Control to restart fulcrum-healthcheckd",
         lambda: show("fulcrum-healthcheckd", "MainPID") not in ("0", hc_pid)
         and show("fulcrum-healthcheckd", "ActiveState") == "active", 60)
    ran = sh("journalctl", "-u", "fulcrum-control.service", "--no-pager", check=False)
    if "fulcrum-control" not in ran and "System Control" not in ran:
        raise Failed(f"fulcrum-control.service left no trace: {ran[-500:]}")
    say(f"System Control restarted fulcrum-healthcheckd (pid {hc_pid} -> {show('fulcrum-healthcheckd', 'MainPID')})")


def second() -> None:
    wait("every fulcrum unit active after the reboot", all_active, 180)
    network_is_back()
    say(f"after the reboot: lan0 {LAN} and VLAN lan0.20 {VLAN_ADDR} are back")
    host_files_are_applied()
    say(f"after the reboot: hostname {HOST['hostname']}, resolv.conf, time zone and chrony's servers are kept")
    # fulcrum-network (active: it has run) restored it before the services started; no drift repair
    # (the lock is off) and no wait.
    if not ipvs_has_service():
        raise Failed(f"IPVS lacks {VIP}:80 after the reboot:\n{sh('ipvsadm', '-Ln')}\n"
                     f"{sh('journalctl', '-u', 'fulcrum-network', '--no-pager', check=False)}")
    restored = sh("journalctl", "-b", "-u", "fulcrum-network", "--no-pager", check=False)
    if "restored the kernel state from the journal" not in restored:
        raise Failed(f"fulcrum-network did not say it restored the kernel state:\n{restored[-1500:]}")
    say(f"after the reboot: ipvsadm -Ln shows {VIP}:80 again, restored by fulcrum-network (lock off)")


def say(line: str) -> None:
    print(f"PROBE: {line}", flush=True)


def main() -> int:
    phase = sys.argv[1]
    try:
        first(sys.argv[2]) if phase == "first" else second()
    except Exception as exc:  # anything: the host must see why, on the console
        print(f"PROBE {phase} FAIL {type(exc).__name__}: {exc}", flush=True)
        for unit in UNITS + ["fulcrum-control", "fulcrum-system", "chrony"]:
            print(sh("journalctl", "-u", unit, "--no-pager", "-n", "15", check=False), flush=True)
        return 1
    print(f"PROBE {phase} PASS", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
