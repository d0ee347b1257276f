"""Real protocol peers for the check tests, all on 127.0.0.0/8 or in network namespaces we create.

FreeRADIUS, dnsmasq and strongSwan's charon are the Debian packages scripts/test installs;
they run as child processes of the test and are stopped by it.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

SSTP_PATH = "/sra_{BA195980-CD49-458b-9E23-C84EE0ADCD75}/"


def free_port(host: str = "127.0.0.1", kind=socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float = 10.0, step: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise TimeoutError(f"{what} not reached within {timeout} s")


# --------------------------------------------------------------------------- TCP / UDP / HTTP(S)


class Listener:
    """A TCP listener that accepts and closes, which can be stopped and started on the same port."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.host, self.port = host, port
        self.sock = None
        self.start()

    def start(self):
        s = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.host, self.port))
        s.listen(128)
        self.port = s.getsockname()[1]
        self.sock = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def _accept(self, s):
        while True:
            try:
                conn, _ = s.accept()
            except OSError:
                return
            conn.close()

    def stop(self):
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
            self.sock.close()
            self.sock = None


class UdpEcho:
    """Answers every datagram with ``reply`` (or echoes it back when reply is None)."""

    def __init__(self, host: str = "127.0.0.1", reply: bytes | None = None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]
        self.reply = reply
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
                if peer is None:
                    return  # shut down
                self.sock.sendto(self.reply if self.reply is not None else data, peer)
            except OSError:
                return

    def close(self):
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the thread in recvfrom, so the port is freed
        self.sock.close()


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _answer(self, body: bool):
        if self.path == "/":
            code, text = 200, b"<html>hello from fulcrum test server</html>"
        elif self.path == SSTP_PATH:
            code, text = 401, b"Unauthorized"
        elif self.path == "/slow":
            time.sleep(3)
            code, text = 200, b"slow"
        elif self.path == "/redos":  # the body a catastrophic-backtracking pattern chokes on
            code, text = 200, b"x" * 60000
        elif self.path == "/vhost":
            code = 200 if self.headers.get("Host") == "vpn.example.com" else 421
            text = b"vhost"
        else:
            code, text = 404, b"not found"
        self.send_response(code)
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        if body:
            self.wfile.write(text)

    def do_GET(self):
        self._answer(True)

    def do_HEAD(self):
        self._answer(False)


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                    "/CN=rs.fulcrum.test", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


class WebServer:
    def __init__(self, host: str = "127.0.0.1", tls: tuple[Path, Path] | None = None):
        self.httpd = http.server.ThreadingHTTPServer((host, 0), _Handler)
        self.httpd.daemon_threads = True
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(tls[0]), str(tls[1]))
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# --------------------------------------------------------------------------- daemons from Debian


def _stop(proc: subprocess.Popen):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def freeradius(directory: Path, host: str, secret: str, accept_user: bool = False, *, port: int | None = None,
               acct_port: int | None = None, clients: str = "127.0.0.0/8", users: dict[str, str] | None = None,
               ns: str | None = None):
    """FreeRADIUS on host:port (a free port when None) with a private copy of Debian's configuration.

    Clients ``clients`` with ``secret``; user fulcrum-healthcheck is accepted when ``accept_user``
    is set (else rejected), and so is each of ``users`` (name: password); accounting on
    ``acct_port`` when given; inside namespace ``ns`` when given; no reject delay, no privilege drop.
    """
    conf = directory / "raddb"
    shutil.copytree("/etc/freeradius/3.0", conf, symlinks=True)
    users = dict(users or {})
    if accept_user:
        users["fulcrum-healthcheck"] = "fulcrum-healthcheck"
    authorize = conf / "mods-config" / "files" / "authorize"
    authorize.write_text("".join(f'{u} Cleartext-Password := "{pw}"\n' for u, pw in users.items())
                         + authorize.read_text())
    (conf / "clients.conf").write_text(f"client fulcrum {{\n ipaddr = {clients}\n secret = {secret}\n}}\n")
    text = (conf / "radiusd.conf").read_text()
    lines = []
    for line in text.splitlines():
        word = line.strip().split(" ")[0]
        if word in ("user", "group"):
            continue
        if word == "raddbdir":
            line = f"raddbdir = {conf}"
        if word == "run_dir":  # the pid file: one per server, even with several in one guest
            line = f"run_dir = {directory}"
        lines.append("\treject_delay = 0" if word == "reject_delay" else line)
    (conf / "radiusd.conf").write_text("\n".join(lines) + "\n")
    port = port or free_port(host, socket.SOCK_DGRAM)
    for site in (conf / "sites-enabled").iterdir():
        site.unlink()
    (conf / "mods-enabled" / "eap").unlink()  # needs an Auth-Type EAP section our small site has not
    acct = (f" listen {{\n  type = acct\n  ipaddr = {host}\n  port = {acct_port}\n }}\n"
            " accounting {\n  ok\n }\n") if acct_port else ""
    (conf / "sites-enabled" / "fulcrum").write_text(
        f"server fulcrum {{\n listen {{\n  type = auth\n  ipaddr = {host}\n  port = {port}\n }}\n{acct}"
        " authorize {\n  files\n  pap\n }\n authenticate {\n  Auth-Type PAP {\n   pap\n  }\n }\n"
        " post-auth {\n }\n}\n")
    log = open(directory / "radius.log", "wb")
    argv = ["freeradius", "-f", "-d", str(conf), "-l", "stdout"]
    proc = subprocess.Popen(["ip", "netns", "exec", ns, *argv] if ns else argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: b"Ready to process" in (directory / "radius.log").read_bytes() or proc.poll() is not None,
                 30, what="FreeRADIUS start")
        assert proc.poll() is None, (directory / "radius.log").read_text()
        yield port, conf
    finally:
        _stop(proc)
        log.close()


@contextlib.contextmanager
def dnsmasq(directory: Path, host: str):
    """dnsmasq answering healthy.fulcrum.test with 192.0.2.7 and nothing upstream."""
    port = free_port(host, socket.SOCK_DGRAM)
    log = directory / "dnsmasq.log"
    proc = subprocess.Popen(
        ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--bind-interfaces",
         f"--listen-address={host}", f"--port={port}", "--address=/healthy.fulcrum.test/192.0.2.7",
         f"--pid-file={directory / 'dnsmasq.pid'}", "--user=root", f"--log-facility={log}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        time.sleep(0.3)
        assert proc.poll() is None, log.read_text() if log.exists() else "dnsmasq exited"
        yield port
    finally:
        _stop(proc)


@contextlib.contextmanager
def netns(name: str):
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


@contextlib.contextmanager
def charon(directory: Path, ns: str, swanctl_conf: str = "", extra: str = ""):
    """strongSwan's charon on UDP 500/4500 inside namespace ``ns`` (an IKEv2 responder with no
    configuration, or whatever ``swanctl_conf`` says, loaded through its own vici socket).

    Private /run (mount namespace) so its pid file and sockets never meet a host charon. Yields a
    function running ``swanctl`` against this charon (its ``proc``: the charon process).
    """
    conf = directory / "strongswan.conf"
    logfile = directory / "charon.log"
    vici = f"unix://{directory}/charon.vici"
    conf.write_text("charon {\n port = 500\n port_nat_t = 4500\n install_routes = no\n"
                    f" plugins {{\n  vici {{\n   socket = {vici}\n  }}\n }}\n{extra}"
                    f" filelog {{\n  testlog {{\n   path = {logfile}\n   default = 1\n"
                    "   flush_line = yes\n  }\n }\n}\n")
    log = open(directory / "charon.out", "wb")
    proc = subprocess.Popen(
        ["ip", "netns", "exec", ns, "unshare", "-m", "sh", "-c",
         "mount -t tmpfs run /run && exec /usr/lib/ipsec/charon"],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "STRONGSWAN_CONF": str(conf)})

    def swanctl(*args: str) -> str:
        out = subprocess.run(["swanctl", *args, "--uri", vici], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, f"swanctl {' '.join(args)}: {out.stdout}{out.stderr}"
        return out.stdout

    swanctl.proc = proc  # a test may stop this charon early
    try:
        wait_for(lambda: (logfile.exists() and b"spawning" in logfile.read_bytes()) or proc.poll() is not None,
                 30, what="charon start")
        assert proc.poll() is None, (directory / "charon.out").read_text()
        if swanctl_conf:
            (directory / "swanctl.conf").write_text(swanctl_conf)
            wait_for(lambda: (directory / "charon.vici").exists(), 10, what="charon's vici socket")
            swanctl("--load-all", "--file", str(directory / "swanctl.conf"))
        yield swanctl
    finally:
        _stop(proc)
        log.close()
