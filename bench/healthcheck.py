"""Benchmark healthcheckd's engine: N real servers on loopback, one TCP check each per interval.

    .venv/bin/python bench/healthcheck.py                 # 5,000 servers, 1 s interval, 20 s window
    .venv/bin/python bench/healthcheck.py --servers 1000 --seconds 10

Real servers are listening sockets on distinct addresses in 127.0.0.0/8 (127.1.x.y), served by
a child process that accepts and closes (epoll). The measured process runs exactly what
healthcheckd runs per check: the Engine, the check, rise/fall bookkeeping and, when Redis
answers, the live-status flush (status_json for every result, one HSET per 0.5 s).

Prints: checks/s achieved, CPU of the checking process (cores), detection latency p50/p99/max
(a listener is closed; time until the engine declares it down, fall=1), peak RSS.
Targets (issue 4): 5,000 checks/s on <= 1 core, detection <= interval + timeout + 200 ms, <= 150 MB.

``--daemon`` then runs ``manage.py healthcheckd`` itself (Django, a SQLite database holding the same
servers, Redis status when Redis answers, render-only driver) against the same listeners: checks/s
counted at the listeners, the daemon's CPU and peak RSS from /proc, detection to its log line, and
how many healthy servers it wrongly declared down during the window.

``--lab`` additionally runs, inside one kernel-lab guest, the same set under healthcheckd's
engine and under keepalived's TCP_CHECK and prints CPU per check as a ratio (target <= 2x).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import resource
import selectors
import socket
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from healthchecks.checks import CheckSpec  # noqa: E402
from healthchecks.scheduler import DOWN, Engine, Target  # noqa: E402

PORT = 9000


def address(i: int) -> str:
    return f"127.{1 + i // 65000}.{(i % 65000) // 250}.{1 + i % 250}"


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 1 << 20) if hard != resource.RLIM_INFINITY else 1 << 20
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))


def serve(n: int, port: int, control) -> None:
    """Child: n listeners; commands on ``control``: ("kill", [i...]) -> monotonic time, ("start", [i...]),
    ("count", None) -> connections accepted so far."""
    raise_nofile()
    sel = selectors.DefaultSelector()
    socks: dict[int, socket.socket] = {}
    accepted = 0

    def listen(i):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((address(i), port))
        s.listen(4096)  # bursts of SYNs while this process waits for a core must not be dropped
        s.setblocking(False)
        socks[i] = s
        sel.register(s, selectors.EVENT_READ, i)

    for i in range(n):
        listen(i)
    control.send("ready")
    while True:
        for key, _ in sel.select(timeout=0.01):
            try:
                while True:
                    conn, _ = key.fileobj.accept()
                    conn.close()
                    accepted += 1
            except (BlockingIOError, OSError):
                pass
        while control.poll():
            cmd, which = control.recv()
            if cmd == "stop":
                return
            if cmd == "count":
                control.send(accepted)
            if cmd == "kill":
                for i in which:
                    sel.unregister(socks[i])
                    socks.pop(i).close()
                control.send(time.monotonic())
            elif cmd == "start":
                for i in which:
                    listen(i)
                control.send(time.monotonic())


def answer(control, what: str):
    if not control.poll(60):
        raise RuntimeError(f"the listener process did not answer {what!r} within 60 s")
    return control.recv()


def rss_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def measure(n: int, interval: float, timeout: float, seconds: float, kills: int, rounds: int,
                  control, redis_url: str | None) -> dict:
    from healthchecks.daemon import status_json

    down_at: dict[int, float] = {}

    def on_transition(target, status, old, result):
        if status.state == DOWN:
            down_at[target.key] = time.monotonic()

    engine = Engine(on_transition=on_transition)
    targets = [Target(i, CheckSpec("tcp", address(i), PORT, timeout=timeout), interval, 1, 1) for i in range(n)]
    engine.update(targets)

    flusher = None
    redis_client = None
    if redis_url:
        import redis.asyncio as aioredis

        redis_client = aioredis.Redis.from_url(redis_url)

        async def flush_loop():
            while True:
                await asyncio.sleep(0.5)
                dirty, engine.dirty = engine.dirty, set()
                mapping = {str(k): status_json(engine.targets[k], engine.status[k]) for k in dirty}
                if mapping:
                    await redis_client.hset("fulcrum:bench-health", mapping=mapping)

        flusher = asyncio.create_task(flush_loop())

    await asyncio.sleep(interval * 3)  # warm up: every target checked, all up
    ups = sum(1 for s in engine.status.values() if s.state == "up")
    c0, t0, n0 = time.process_time(), time.monotonic(), engine.checks_done
    await asyncio.sleep(seconds)
    c1, t1, n1 = time.process_time(), time.monotonic(), engine.checks_done
    failed_in_window = sum(1 for s in engine.status.values() if s.last and not s.last.ok)

    latencies = []
    loop = asyncio.get_running_loop()
    for _ in range(rounds):
        victims = random.sample(range(n), kills)
        control.send(("kill", victims))
        killed = await loop.run_in_executor(None, answer, control, "kill")
        deadline = time.monotonic() + interval + timeout + 3
        while time.monotonic() < deadline and not all(v in down_at for v in victims):
            await asyncio.sleep(0.01)
        latencies += [down_at.get(v, float("inf")) - killed for v in victims]
        control.send(("start", victims))
        await loop.run_in_executor(None, answer, control, "start")
        for v in victims:
            down_at.pop(v, None)
        await asyncio.sleep(interval * 2)
    if flusher:
        flusher.cancel()
        await redis_client.delete("fulcrum:bench-health")
        await redis_client.aclose()
    await engine.close()
    missed = sum(1 for x in latencies if x == float("inf"))
    latencies = sorted(x for x in latencies if x != float("inf")) or [float("nan")]
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return {
        "servers": n, "interval_s": interval, "timeout_s": timeout, "window_s": round(t1 - t0, 2),
        "up_after_warmup": ups, "failed_in_window": failed_in_window,
        "checks_per_s": round((n1 - n0) / (t1 - t0)), "cpu_cores": round((c1 - c0) / (t1 - t0), 3),
        "cpu_us_per_check": round((c1 - c0) / max(1, n1 - n0) * 1e6, 1),
        "detect_p50_ms": _ms(q[49]), "detect_p99_ms": _ms(q[98]),
        "detect_max_ms": _ms(latencies[-1]),
        "detect_bound_ms": round((interval + timeout + 0.2) * 1000),
        "detections": len(latencies), "missed_detections": missed,
        "failure_reasons": sorted({s.last.reason for s in engine.status.values() if s.last and not s.last.ok})[:5],
        "redis_flush": bool(redis_url), "peak_rss_mb": round(rss_mb(), 1),
    }


def _ms(x: float):
    return round(x * 1000) if x == x else None


def redis_url_if_up() -> str | None:
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/13")
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=0.3).ping()
        return url
    except Exception:
        return None


def run(n=5000, interval=1.0, timeout=1.0, seconds=20.0, kills=100, rounds=3, redis=True) -> dict:
    raise_nofile()
    parent, child = mp.Pipe()
    proc = mp.get_context("fork").Process(target=serve, args=(n, PORT, child), daemon=True)
    proc.start()
    try:
        assert parent.recv() == "ready"
        return asyncio.run(measure(n, interval, timeout, seconds, kills, rounds, parent,
                                   redis_url_if_up() if redis else None))
    finally:
        parent.send(("stop", []))
        proc.join(5)
        if proc.is_alive():
            proc.kill()


# --------------------------------------------------------------------------- the real daemon


def daemon_bundle(n: int, per_service: int = 4) -> dict:
    """n real servers on the loopback listeners, four per virtual service, TCP check every 1 s, fall 1."""
    services = []
    for v in range(0, n, per_service):
        k = v // per_service
        services.append({
            "label": f"bench-{k:05d}", "vip": f"10.77.{k // 250}.{1 + k % 250}",
            "ports": str(PORT), "protocol": "tcp", "method": "nat", "scheduler": "wlc",
            "check_type": "tcp", "check_interval": 1, "check_timeout": 1, "check_rise": 1, "check_fall": 1,
            "real_servers": [{"label": f"rs{i}", "address": address(i), "port": PORT, "weight": 100}
                             for i in range(v, min(n, v + per_service))],
        })
    return {"format": "fulcrum-config", "version": 1, "cluster": {}, "floating_ips": [], "virtual_services": services}


def daemon_run(n: int, seconds: float, kills: int, rounds: int) -> dict:
    """``manage.py healthcheckd`` itself (Django, database, Redis status, render-only driver) on n servers.

    Checks/s are counted at the listeners; CPU and peak RSS are read from /proc for the daemon's pid;
    detection is the time from closing a listener to the daemon's "up -> down" log line for it.
    """
    import re
    import subprocess
    import tempfile
    import threading

    work = Path(tempfile.mkdtemp(prefix="fulcrum-hc-bench-"))
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{work}/db.sqlite3", FULCRUM_DATA_DIR=str(work),
               DJANGO_SETTINGS_MODULE="appliance.settings", FULCRUM_CELERY_EAGER="1")
    env["REDIS_URL"] = redis_url_if_up() or "redis://127.0.0.1:1/0"  # no Redis: status simply not published
    manage = [sys.executable, str(ROOT / "manage.py")]
    (work / "bundle.json").write_text(json.dumps(daemon_bundle(n)))
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=ROOT)
    subprocess.run([*manage, "loadconfig", str(work / "bundle.json")], env=env, check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL)
    # Applied (render-only): healthcheckd's weight changes then go through the kernel writer and its
    # journal, as on an appliance, instead of finding "not applied yet".
    subprocess.run([*manage, "apply"], env={**env, "FULCRUM_DATAPLANE": "render-only"}, check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    raise_nofile()
    parent, child = mp.Pipe()
    listeners = mp.get_context("fork").Process(target=serve, args=(n, PORT, child), daemon=True)
    listeners.start()
    assert parent.recv() == "ready"
    daemon = subprocess.Popen([*manage, "healthcheckd", "--dataplane", "render-only", "--no-alerts"],
                              env={**env, "FULCRUM_DATAPLANE": "render-only"},
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    down_at: dict[str, float] = {}
    lines: list[str] = []
    watching = threading.Event()

    def read_log():
        for line in daemon.stdout:
            lines.append(line)
            if f"watching {n} real servers" in line:
                watching.set()
            m = re.search(r" (\S+): (?:up|unknown) -> down ", line)
            if m:
                down_at.setdefault(m.group(1), time.monotonic())

    threading.Thread(target=read_log, daemon=True).start()
    try:
        if not watching.wait(120):
            raise RuntimeError("healthcheckd did not start: " + "".join(lines[-20:]))
        time.sleep(4)  # every server checked at least twice: all up
        parent.send(("count", None))
        a0, c0, t0 = answer(parent, "count"), _cpu_seconds(daemon.pid), time.monotonic()
        time.sleep(seconds)
        parent.send(("count", None))
        a1, c1, t1 = answer(parent, "count"), _cpu_seconds(daemon.pid), time.monotonic()
        false_downs = sum(1 for at in down_at.values() if t0 <= at <= t1)
        latencies = []
        for _ in range(rounds):
            victims = random.sample(range(n), kills)
            for v in victims:
                down_at.pop(address(v), None)
            parent.send(("kill", victims))
            killed = answer(parent, "kill")
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not all(address(v) in down_at for v in victims):
                time.sleep(0.01)
            latencies += [down_at.get(address(v), float("inf")) - killed for v in victims]
            parent.send(("start", victims))
            answer(parent, "start")
            time.sleep(3)  # back up (rise 1), so the next round starts from all up
        hwm = next(int(x.split()[1]) for x in open(f"/proc/{daemon.pid}/status") if x.startswith("VmHWM:"))
    finally:
        daemon.terminate()
        daemon.wait(15)
        (work / "healthcheckd.log").write_text("".join(lines))
        parent.send(("stop", []))
        listeners.join(5)
    missed = sum(1 for x in latencies if x == float("inf"))
    found = sorted(x for x in latencies if x != float("inf")) or [float("nan")]
    q = statistics.quantiles(found, n=100) if len(found) > 1 else found * 99
    return {"daemon": "manage.py healthcheckd --dataplane render-only", "servers": n, "window_s": round(t1 - t0, 2),
            "checks_per_s": round((a1 - a0) / (t1 - t0)), "cpu_cores": round((c1 - c0) / (t1 - t0), 3),
            "cpu_us_per_check": round((c1 - c0) / max(1, a1 - a0) * 1e6, 1),
            "detect_p50_ms": _ms(q[49]), "detect_p99_ms": _ms(q[98]), "detect_max_ms": _ms(found[-1]),
            "detect_bound_ms": 2200, "detections": len(found), "missed_detections": missed,
            "servers_wrongly_down_in_window": false_downs,
            "redis_status": env["REDIS_URL"] != "redis://127.0.0.1:1/0", "peak_rss_mb": round(hwm / 1024, 1)}


# --------------------------------------------------------------------------- kernel lab: vs keepalived


def _cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def lab_compare(n: int = 500, seconds: float = 20.0) -> dict:
    """Inside a guest: CPU per check of healthcheckd's engine vs keepalived TCP_CHECK, same servers."""
    import subprocess
    import tempfile

    parent, child = mp.Pipe()
    proc = mp.get_context("fork").Process(target=serve, args=(n, PORT, child), daemon=True)
    proc.start()
    assert parent.recv() == "ready"
    try:
        # keepalived: one virtual server per real server (keepalived checks each real server of each
        # virtual server), TCP_CHECK every second, the same loopback targets.
        work = Path(tempfile.mkdtemp(prefix="hc-ka-"))
        conf = ["global_defs {\n router_id bench\n}\n"]
        for i in range(n):
            conf.append(f"virtual_server 10.77.{i // 250}.{1 + i % 250} {PORT} {{\n delay_loop 1\n lb_algo rr\n"
                        f" lb_kind NAT\n protocol TCP\n real_server {address(i)} {PORT} {{\n  weight 1\n"
                        "  TCP_CHECK {\n   connect_timeout 1\n  }\n }\n}\n")
        (work / "keepalived.conf").write_text("".join(conf))
        ka = subprocess.Popen(["keepalived", "-n", "-l", "-C", "-f", str(work / "keepalived.conf"),
                               "-p", str(work / "k.pid"), "-c", str(work / "c.pid")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(8)  # let it build the IPVS table and settle
        checker = int((work / "c.pid").read_text())
        parent.send(("count", None))
        a0, c0, t0 = answer(parent, "count"), _cpu_seconds(checker), time.monotonic()
        time.sleep(seconds)
        parent.send(("count", None))
        a1, c1, t1 = answer(parent, "count"), _cpu_seconds(checker), time.monotonic()
        ka_cpu = (c1 - c0) / (t1 - t0)
        # Counted at the listeners, not assumed from delay_loop: what keepalived really checked.
        ka_checks_per_s = (a1 - a0) / (t1 - t0)
        ka.terminate()
        ka.wait(10)
        subprocess.run(["ipvsadm", "-C"], check=False)
        ours = asyncio.run(measure(n, 1.0, 1.0, seconds, 10, 1, parent, None))
    finally:
        parent.send(("stop", []))
        proc.join(5)
    per_check_ka = ka_cpu / ka_checks_per_s
    per_check_us = ours["cpu_cores"] / ours["checks_per_s"]
    return {"servers": n, "keepalived_cpu_cores": round(ka_cpu, 4), "keepalived_checks_per_s": round(ka_checks_per_s),
            "keepalived_us_per_check": round(per_check_ka * 1e6, 1),
            "healthcheckd_cpu_cores": ours["cpu_cores"], "healthcheckd_checks_per_s": ours["checks_per_s"],
            "healthcheckd_us_per_check": round(per_check_us * 1e6, 1),
            "ratio_vs_keepalived": round(per_check_us / per_check_ka, 2) if per_check_ka else None}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--servers", type=int, default=5000)
    p.add_argument("--interval", type=float, default=1.0)
    p.add_argument("--timeout", type=float, default=1.0)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--kills", type=int, default=100, help="listeners closed per detection round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--no-redis", action="store_true")
    p.add_argument("--daemon", action="store_true",
                   help="also run manage.py healthcheckd itself (Django, SQLite, Redis status) on the same set")
    p.add_argument("--lab", action="store_true", help="also compare with keepalived TCP_CHECK in a UML guest")
    p.add_argument("--lab-servers", type=int, default=500)
    args = p.parse_args()
    result = run(args.servers, args.interval, args.timeout, args.seconds, args.kills, args.rounds,
                 not args.no_redis)
    print(json.dumps(result, indent=1))
    if args.daemon:
        print(json.dumps(daemon_run(args.servers, args.seconds, args.kills, args.rounds), indent=1))
    if args.lab:
        from tests.netlab import lab

        print(json.dumps(lab.call(lab_compare, args.lab_servers, args.seconds, timeout=600), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
