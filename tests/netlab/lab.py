"""The kernel lab: run Python inside a User-Mode Linux guest that has real IPVS.

The host kernel has no IPVS; Debian's ``linux.uml`` does. The guest mounts the
host's root file system read-write (hostfs), so the project's venv runs inside
it unchanged. This module is both halves of the lab:

Host side (pytest fixtures, bench scripts)
    ``boot(argv)``            boot one guest, run ``argv`` as its payload, return a GuestRun
    ``call(func, *a, **kw)``  boot one guest, run ``func(*a, **kw)`` inside it, return its
                              (JSON-serialisable) result
    ``find_uml()``            the kernel binary, or LabUnavailable with the install command

Guest side (code that runs inside the guest)
    ``in_guest()``            True inside a lab guest
    ``Net.build(servers=N)``  client / rs1..rsN network namespaces on two bridges; the
                              guest's root namespace is the load balancer
    ``Net.socket(ns, ...)``   a socket created inside a namespace (no subprocess)
    ``Net.serve(ns, ...)``    echo servers (threads) that say who answered and who asked

Run ``python tests/netlab/lab.py call MODULE:FUNC`` inside a guest to run a function; the
host side does that for you.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import importlib
import importlib.util
import json
import os
import shlex
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
GUEST_ENV = "FULCRUM_NETLAB_GUEST"  # set to the run directory inside the guest
PACKAGES = "user-mode-linux kmod ipvsadm iptables keepalived iproute2"
INSTALL_HINT = f"apt-get install -y {PACKAGES}"

# Loaded in this order at boot (modprobe pulls dependencies).
DEFAULT_MODULES: tuple[str, ...] = (
    "ipv6",
    "veth",
    "bridge",
    "dummy",
    "8021q",  # VLAN sub-interfaces (Local Configuration)
    "bonding",
    "ipip",
    "nf_conntrack",
    "ip_tables",
    "iptable_filter",
    "iptable_nat",
    "iptable_mangle",
    "ip6_tables",
    "ip6table_filter",
    "ip6table_nat",
    "ip6table_mangle",
    "xt_nat",
    "xt_MASQUERADE",
    "xt_mark",
    "xt_multiport",
    "xt_tcpudp",
    "xt_comment",
    "xt_conntrack",
    "xt_ipvs",
    "ip_vs",
    "ip_vs_rr",
    "ip_vs_wrr",
    "ip_vs_lc",
    "ip_vs_wlc",
    "ip_vs_lblc",
    "ip_vs_lblcr",
    "ip_vs_dh",
    "ip_vs_sh",
    "ip_vs_sed",
    "ip_vs_nq",
    "ip_vs_fo",
    "ip_vs_ovf",
    "ip_vs_mh",
)


class LabUnavailable(RuntimeError):
    """The kernel lab cannot run on this host (missing package, no compiler for the shim)."""


class GuestError(RuntimeError):
    """The guest did not run the payload to completion, or the payload failed."""


# --------------------------------------------------------------------------- host side


def find_uml() -> str:
    """Path of the UML kernel: $FULCRUM_UML, ``linux.uml`` on PATH, or /usr/bin/linux.uml."""
    explicit = os.environ.get("FULCRUM_UML")
    candidates = [explicit] if explicit else [shutil.which("linux.uml"), "/usr/bin/linux.uml"]
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    where = explicit or "linux.uml (PATH, /usr/bin)"
    raise LabUnavailable(
        f"the kernel lab needs User-Mode Linux: {where} not found. Install it with: {INSTALL_HINT}"
    )


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def xstate_shim() -> str | None:
    """LD_PRELOAD library that lets Debian's UML 6.1 run on CPUs with AMX, or None if not needed.

    See uml_xstate_shim.c. Built once with the host's C compiler into ~/.cache.
    """
    forced = os.environ.get("FULCRUM_UML_SHIM")
    if forced == "0" or (forced is None and not (_cpu_flags() & {"amx_tile", "amx_int8", "amx_bf16"})):
        return None
    src = Path(__file__).with_name("uml_xstate_shim.c")
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "fulcrum-netlab"
    lib = cache / f"uml_xstate_shim-{digest}.so"
    if lib.exists():
        return str(lib)
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if not cc:
        raise LabUnavailable(
            "this CPU has AMX; Debian's linux.uml needs the small LD_PRELOAD shim "
            f"{src.name}, and no C compiler was found to build it (apt-get install gcc)"
        )
    cache.mkdir(parents=True, exist_ok=True)
    tmp = lib.with_suffix(f".{os.getpid()}.tmp")
    subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", str(tmp), str(src), "-ldl"], check=True)
    os.replace(tmp, lib)
    return str(lib)


@dataclass
class GuestRun:
    """What one guest boot left behind."""

    returncode: int | None  # the payload's exit status; None if it never finished
    output: str  # the payload's stdout + stderr
    console: str  # the kernel console (boot messages, init script errors)
    workdir: Path  # host directory shared with the guest (results live here)
    seconds: float
    timed_out: bool = False

    def tail(self, lines: int = 60) -> str:
        out = "\n".join(self.output.splitlines()[-lines:])
        con = "\n".join(self.console.splitlines()[-20:])
        return f"--- payload output (tail) ---\n{out}\n--- guest console (tail) ---\n{con}"

    def check(self) -> GuestRun:
        if self.returncode != 0:
            why = "timed out" if self.timed_out else f"exit status {self.returncode}"
            raise GuestError(f"guest payload failed ({why}) after {self.seconds:.1f}s\n{self.tail()}")
        return self


_INIT = """#!/bin/sh
# PID 1 of a Fulcrum kernel-lab guest (written by tests/netlab/lab.py).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
W={work}
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tmpfs run /run          # private /run: ip netns, pid files stay in the guest
mount -t tmpfs mods $W/mods      # private module tree for modprobe -d
mkdir -p $W/mods/lib/modules /run/netns
ln -s /usr/lib/uml/modules/$(uname -r) $W/mods/lib/modules/$(uname -r)
for m in {modules}; do
  modprobe -d $W/mods $m 2>>$W/modprobe.err || echo "modprobe $m failed" >>$W/modprobe.err
done
ip link set lo up
export HOME=$W/home TMPDIR=$W/tmp {guest_env}=$W PYTHONDONTWRITEBYTECODE=1
{env}
cd {cwd}
{argv} >$W/output.log 2>&1 </dev/null
echo $? >$W/rc.tmp && mv $W/rc.tmp $W/rc
poweroff -f
"""


def boot(
    argv: Sequence[str],
    *,
    timeout: float = 300,
    modules: Iterable[str] = DEFAULT_MODULES,
    env: dict[str, str] | None = None,
    mem: str = "768M",
    cwd: str | os.PathLike = PROJECT_ROOT,
    echo: bool = False,
    keep: bool = False,
    workdir: str | os.PathLike | None = None,
) -> GuestRun:
    """Boot a guest, run ``argv`` (as root, cwd ``cwd``) as its only job, power off.

    The payload sees ``$FULCRUM_NETLAB_GUEST`` (= the run directory, shared with the host:
    write results there), ``$TMPDIR`` and ``$HOME`` inside it. ``echo`` copies the payload's
    output to our stdout while it runs. The run directory is removed unless ``keep`` (or a
    caller-supplied ``workdir``).
    """
    uml = find_uml()
    shim = xstate_shim()
    own_dir = workdir is None
    work = Path(workdir or tempfile.mkdtemp(prefix="fulcrum-netlab-"))
    for sub in ("mods", "home", "tmp"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    env_lines = "\n".join(f"export {k}={shlex.quote(v)}" for k, v in (env or {}).items())
    init = work / "init"
    init.write_text(
        _INIT.format(
            work=shlex.quote(str(work)),
            modules=" ".join(shlex.quote(m) for m in modules),
            guest_env=GUEST_ENV,
            env=env_lines,
            cwd=shlex.quote(str(cwd)),
            argv=shlex.join(str(a) for a in argv),
        )
    )
    init.chmod(0o755)
    host_env = dict(os.environ)
    if shim:
        host_env["LD_PRELOAD"] = shim
    cmd = [
        uml,
        f"mem={mem}",
        "root=/dev/root",
        "rootfstype=hostfs",
        "rootflags=/",
        "rw",
        f"init={init}",
        "con=null",
        "con0=fd:0,fd:1",
    ]
    started = time.monotonic()
    timed_out = False
    with open(work / "console.log", "wb") as console:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT, env=host_env,
            start_new_session=True,
        )
        shown = 0
        while True:
            try:
                proc.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                pass
            if echo:
                shown = _echo_new(work / "output.log", shown)
            if time.monotonic() - started > timeout:
                timed_out = True
                _kill_group(proc)
                break
        if echo:
            _echo_new(work / "output.log", shown)
    seconds = time.monotonic() - started
    rc_file = work / "rc"
    returncode = int(rc_file.read_text().strip()) if rc_file.exists() else None
    run = GuestRun(
        returncode=returncode,
        output=_read(work / "output.log"),
        console=_read(work / "console.log") + _read(work / "modprobe.err"),
        workdir=work,
        seconds=seconds,
        timed_out=timed_out,
    )
    if own_dir and not keep:
        # The results have been read into ``run``; leave nothing behind in /tmp.
        shutil.rmtree(work, ignore_errors=True)
    return run


def _kill_group(proc: subprocess.Popen) -> None:
    # UML runs as a process group of its own (start_new_session): its helper threads and
    # the host processes backing guest processes go with it.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, 9)
    proc.wait()


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def _echo_new(path: Path, shown: int) -> int:
    try:
        with open(path, "rb") as f:
            f.seek(shown)
            data = f.read()
    except FileNotFoundError:
        return shown
    if data:
        sys.stdout.write(data.decode(errors="replace"))
        sys.stdout.flush()
    return shown + len(data)


def _target_of(func: Callable | str) -> str:
    if isinstance(func, str):
        return func
    module = func.__module__
    if module == "__main__":
        module = str(Path(sys.modules["__main__"].__file__).resolve())
    return f"{module}:{func.__qualname__}"


def call(func: Callable | str, *args, timeout: float = 300, echo: bool = False, **kwargs):
    """Run ``func(*args, **kwargs)`` inside a fresh guest and return its result.

    ``func`` is a module-level function (or "module:func", or "/path/file.py:func"); its
    arguments and result must be JSON-serialisable. A failure inside raises GuestError with
    the guest's traceback.
    """
    work = Path(tempfile.mkdtemp(prefix="fulcrum-netlab-"))
    try:
        spec = {"target": _target_of(func), "args": args, "kwargs": kwargs}
        (work / "call.json").write_text(json.dumps(spec))
        run = boot(
            [sys.executable, str(Path(__file__).resolve()), "call", str(work / "call.json")],
            timeout=timeout,
            echo=echo,
            workdir=work,
        )
        run.check()
        return json.loads((work / "result.json").read_text())["result"]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _resolve(target: str) -> Callable:
    module, _, qualname = target.rpartition(":")
    if module.endswith(".py"):
        spec = importlib.util.spec_from_file_location("_netlab_payload", module)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod
        spec.loader.exec_module(mod)
    else:
        mod = importlib.import_module(module)
    obj = mod
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


# --------------------------------------------------------------------------- guest side


def in_guest() -> bool:
    return bool(os.environ.get(GUEST_ENV))


def sh(*argv: str, check: bool = True, ns: str | None = None, input: str | None = None) -> str:
    """Run a command (optionally in namespace ``ns``) and return its stdout."""
    cmd = (["ip", "netns", "exec", ns] if ns else []) + list(argv)
    res = subprocess.run(cmd, capture_output=True, text=True, input=input)
    if check and res.returncode != 0:
        raise subprocess.CalledProcessError(res.returncode, cmd, res.stdout, res.stderr)
    return res.stdout


_libc = None
CLONE_NEWNET = 0x40000000


def _setns(fd: int) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


_ns_lock = threading.Lock()


@contextlib.contextmanager
def netns(name: str | None):
    """Switch this thread into network namespace ``name`` (None: stay) for the block.

    Sockets keep the namespace they were created in, so create them inside the block.
    """
    if name is None:
        yield
        return
    with _ns_lock:
        here = os.open(f"/proc/self/task/{threading.get_native_id()}/ns/net", os.O_RDONLY)
        there = os.open(f"/run/netns/{name}", os.O_RDONLY)
        try:
            _setns(there)
            try:
                yield
            finally:
                _setns(here)
        finally:
            os.close(here)
            os.close(there)


@dataclass
class Host:
    name: str  # namespace name
    ip4: str
    ip6: str
    bridge: str


@dataclass
class Net:
    """The lab network inside the guest.

    The guest's root namespace is the load balancer. It owns two bridges::

        client (10.8.0.100, fd00:8::100) --- front: 10.8.0.1/24 fd00:8::1/64
                                              back:  10.9.0.1/24 fd00:9::1/64 --- rsN (10.9.0.1N, fd00:9::1N)

    Every namespace routes through the load balancer (default gateways 10.8.0.1 / 10.9.0.1),
    so NAT, SNAT and DR all work; ``dr_vip`` puts a VIP on the real servers' ``lo`` with the
    ARP settings DR needs. Put IPv6 VIPs outside the two on-link /64s (e.g. fd00:7::/64):
    Linux answers neighbour solicitations only for addresses on the asking interface.
    Servers reply from the address they were asked on (IP_PKTINFO) and clients use connected
    UDP sockets, so a reply from the wrong source is lost, as it would be for a real client.
    """

    client: Host
    servers: list[Host]
    front: str = "front"
    back: str = "back"
    lb_front4: str = "10.8.0.1"
    lb_back4: str = "10.9.0.1"
    lb_front6: str = "fd00:8::1"
    lb_back6: str = "fd00:9::1"
    _threads: list = field(default_factory=list)
    _socks: list = field(default_factory=list)

    @classmethod
    def build(cls, servers: int = 2) -> Net:
        if not in_guest():
            raise GuestError("Net.build() runs only inside a kernel-lab guest")
        lines = []
        for br, v4, v6 in (("front", "10.8.0.1/24", "fd00:8::1/64"), ("back", "10.9.0.1/24", "fd00:9::1/64")):
            lines += [
                f"link add {br} type bridge",
                f"link set {br} up",
                f"addr add {v4} dev {br}",
                f"addr add {v6} dev {br} nodad",
            ]
        _write_sysctl("net/ipv4/ip_forward", "1")
        _write_sysctl("net/ipv6/conf/all/forwarding", "1")
        client = Host("client", "10.8.0.100", "fd00:8::100", "front")
        hosts = [client] + [Host(f"rs{i}", f"10.9.0.{10 + i}", f"fd00:9::{10 + i}", "back")
                            for i in range(1, servers + 1)]
        for h in hosts:
            gw4, gw6 = ("10.8.0.1", "fd00:8::1") if h.bridge == "front" else ("10.9.0.1", "fd00:9::1")
            n = h.name
            lines += [
                f"netns add {n}",
                f"link add v-{n} type veth peer name eth0 netns {n}",
                f"link set v-{n} master {h.bridge} up",
                f"-n {n} link set lo up",
                f"-n {n} link set eth0 up",
                f"-n {n} addr add {h.ip4}/24 dev eth0",
                f"-n {n} addr add {h.ip6}/64 dev eth0 nodad",
                f"-n {n} route add default via {gw4}",
                f"-n {n} -6 route add default via {gw6}",
            ]
        # "ip -n NS" inside a batch needs ip >= 5.x; run line by line where unsupported.
        for line in lines:
            sh("ip", *shlex.split(line))
        # In the lab the load balancer is also the real servers' router, so DR replies (source:
        # the VIP, which the LB holds too) come back through it; without accept_local it drops
        # them as "martian" (source is a local address). A real network routes them elsewhere.
        _write_sysctl("net/ipv4/conf/back/accept_local", "1")
        return cls(client=client, servers=hosts[1:])

    def dr_vip(self, *vips: str) -> None:
        """Let every real server accept DR traffic for ``vips`` (VIP on lo, no ARP for it)."""
        for h in self.servers:
            sh("sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2",
               ns=h.name)
            for vip in vips:
                plen = 128 if ":" in vip else 32
                sh("ip", "addr", "replace", f"{vip}/{plen}", "dev", "lo", ns=h.name)

    def drop_dr_vip(self, *vips: str) -> None:
        for h in self.servers:
            for vip in vips:
                plen = 128 if ":" in vip else 32
                sh("ip", "addr", "del", f"{vip}/{plen}", "dev", "lo", ns=h.name, check=False)

    def socket(self, ns: str | None, family=socket.AF_INET, type=socket.SOCK_STREAM) -> socket.socket:
        with netns(ns):
            s = socket.socket(family, type)
        return s

    def serve(self, ns: str, *, tcp: Sequence[int] = (), udp: Sequence[int] = (), six: bool = True) -> None:
        """Echo servers in ``ns``: each reply is ``"<ns> <peer ip> <peer port> <local port>"``.

        TCP sends that line on accept, then echoes every line it receives prefixed by ``ns``.
        """
        families = [socket.AF_INET] + ([socket.AF_INET6] if six else [])
        for fam in families:
            any_addr = "::" if fam == socket.AF_INET6 else "0.0.0.0"
            for port in tcp:
                s = self.socket(ns, fam, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if fam == socket.AF_INET6:
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                s.bind((any_addr, port))
                s.listen(64)
                self._start(_tcp_loop, s, ns, port)
            for port in udp:
                s = self.socket(ns, fam, socket.SOCK_DGRAM)
                if fam == socket.AF_INET6:
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                s.bind((any_addr, port))
                self._start(_udp_loop, s, ns, port)

    def _start(self, target, s, ns, port):
        self._socks.append(s)
        t = threading.Thread(target=target, args=(s, ns, port), daemon=True)
        t.start()
        self._threads.append(t)

    # --- client helpers (run in the client namespace unless told otherwise)

    def tcp_hello(self, addr: str, port: int, *, ns: str = "client", timeout: float = 3.0) -> list[str]:
        """Connect, read the server's greeting, close: ``[server, seen_ip, seen_port, local_port]``."""
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        s = self.socket(ns, fam, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect((addr, port))
            return _readline(s).split()
        finally:
            s.close()

    def udp_ask(self, addr: str, port: int, *, ns: str = "client", sport: int = 0,
                timeout: float = 3.0, sock: socket.socket | None = None) -> list[str]:
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        s = sock or self.socket(ns, fam, socket.SOCK_DGRAM)
        s.settimeout(timeout)
        try:
            if sport and sock is None:
                s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", sport))
            s.connect((addr, port))  # a reply from any other source is dropped
            s.send(b"?")
            data = s.recv(512)
            return data.decode().split()
        finally:
            if sock is None:
                s.close()

    def close(self) -> None:
        for s in self._socks:
            with contextlib.suppress(OSError):
                s.close()


def _readline(s: socket.socket) -> str:
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(512)
        if not chunk:
            break
        buf += chunk
    return buf.decode().strip()


def _tcp_loop(lsock: socket.socket, ns: str, port: int) -> None:
    while True:
        try:
            conn, peer = lsock.accept()
        except OSError:
            return
        threading.Thread(target=_tcp_conn, args=(conn, peer, ns, port), daemon=True).start()


def _tcp_conn(conn: socket.socket, peer, ns: str, port: int) -> None:
    with conn:
        try:
            conn.sendall(f"{ns} {peer[0]} {peer[1]} {port}\n".encode())
            f = conn.makefile("rb")
            for line in f:
                conn.sendall(f"{ns} {line.decode().strip()}\n".encode())
        except OSError:
            return


IP_PKTINFO = 8
_IN_PKTINFO = struct.Struct("=i4s4s")
_IN6_PKTINFO = struct.Struct("=16si")


def _udp_loop(s: socket.socket, ns: str, port: int) -> None:
    v6 = s.family == socket.AF_INET6
    if v6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
    else:
        s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
    while True:
        try:
            _, anc, _, peer = s.recvmsg(2048, 256)
            reply = f"{ns} {peer[0]} {peer[1]} {port}\n".encode()
            cmsgs = []
            for _level, kind, data in anc:
                if v6 and kind == socket.IPV6_PKTINFO:
                    addr, _ = _IN6_PKTINFO.unpack_from(data)
                    cmsgs = [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, _IN6_PKTINFO.pack(addr, 0))]
                elif not v6 and kind == IP_PKTINFO:
                    _, _, dst = _IN_PKTINFO.unpack_from(data)
                    cmsgs = [(socket.IPPROTO_IP, IP_PKTINFO, _IN_PKTINFO.pack(0, dst, b"\0" * 4))]
            s.sendmsg([reply], cmsgs, 0, peer)  # from the address we were asked on
        except OSError:
            return


def _write_sysctl(name: str, value: str) -> None:
    with open(f"/proc/sys/{name}", "w") as f:
        f.write(value)


# --------------------------------------------------------------------------- entry point


def _main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "call":
        spec = json.loads(Path(argv[1]).read_text())
        sys.path.insert(0, str(PROJECT_ROOT))
        result = _resolve(spec["target"])(*spec["args"], **spec["kwargs"])
        Path(argv[1]).with_name("result.json").write_text(json.dumps({"result": result}))
        return 0
    print("usage: lab.py call CALL.json   (inside a guest; see lab.call())", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
