"""Runtime state and Auto apply, end to end, in the kernel lab (one UML guest, real IPVS).

    .venv/bin/python bench/runtime.py                  # 10,000 services x 4 real servers
    .venv/bin/python bench/runtime.py --services 1000  # quick
    .venv/bin/python bench/runtime.py --only auto      # one part (drain or auto)

The whole appliance runs in the guest (tests/netlab/inside/appliance_lab.py): Redis, the web
process (runserver, not eager) and the privileged Celery worker. After the configuration is
imported and applied:

* drain: ``POST /api/v1/real-servers/{id}/drain/`` until the destination's weight reads 0 over
  netlink (the web process, Redis, the worker's kernel.runtime task, the kernel writer, the
  kernel). Targets p50 <= 50 ms, p95 <= 150 ms. Each drained server is put online again (untimed).
* auto apply: with Auto apply on, ``PATCH`` one real server's weight until the kernel holds the
  new weight (commit, the coalescing hook, Redis, the worker's kernel.apply: compile, plan,
  apply, journal). Target p50 <= 300 ms.

Timings are only comparable within one guest run: UML system calls are slow.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def _weight_reader():
    """weight_of(service key, address, port) straight from the kernel over netlink (one service dumped)."""
    from dataplane.kernel import KernelDriver

    driver = KernelDriver()

    def weight_of(key, address, port):
        for entry in driver.ipvs.dests(key):
            if entry.dest.address == address and entry.dest.port == port:
                return entry.dest.weight
        return None

    return driver, weight_of


def _until_weight(weight_of, where, want, seconds=30.0):
    """Poll the kernel (bounded) until the destination holds weight ``want``."""
    _, key, address, port = where
    deadline = time.monotonic() + seconds
    while weight_of(key, address, port) != want:
        if time.monotonic() > deadline:
            raise AssertionError(f"{address}:{port} did not reach weight {want} in {seconds} s")
        time.sleep(0.001)


def measure(services: int, reals: int, samples: int, auto_samples: int, only: str = "") -> dict:
    """Runs inside the guest."""
    from bench.common import big_bundle
    from tests.netlab.inside import appliance_lab as A

    app = A.start(Path(os.environ.get("TMPDIR", "/tmp")) / "bench-runtime")
    try:
        from cluster.bundle import import_bundle
        from cluster.compile import service_spec
        from dataplane.compiler import service_key
        from realservers.models import RealServer
        from tests.netlab import lab

        lab.sh("ip", "link", "add", "bench0", "type", "dummy")  # the VIPs' interface
        lab.sh("ip", "link", "set", "bench0", "up")
        # The lab has ONE solo worker; after every apply it re-runs the checklists, which at this size
        # take longer than the whole bench, and kernel.* tasks would wait behind them (with the ops
        # lane's queue split they have a worker of their own). A queued all-services run that no
        # task will ever pick up holds every re-run back: start_recheck coalesces into it.
        from checklists.models import CheckRun

        CheckRun.objects.create(username="bench", reason="bench")
        bundle = big_bundle(services, reals)
        bundle["cluster"] = {"vip_interface": "bench0"}
        t0 = time.perf_counter()
        import_bundle(bundle)
        out: dict = {"services": services, "reals": reals, "import_s": time.perf_counter() - t0}
        t0 = time.perf_counter()
        run = app.apply(timeout=1800)
        out["cold_apply_s"] = time.perf_counter() - t0
        out["cold_apply_ops"] = run["operation_count"]

        driver, weight_of = _weight_reader()
        try:
            step = max(1, services * reals // samples)
            chosen = list(RealServer.objects.select_related("service").order_by("pk")[::step][:samples])
            where = []
            for rs in chosen:
                key = service_key(service_spec(rs.service, [rs]))
                where.append((rs, key, str(rs.address), key.port if rs.port is None else rs.port))

            drain, plain = [], []
            for w in where[:0 if only == "auto" else len(where)]:
                rs = w[0]
                t0 = time.perf_counter()
                app.get(f"/api/v1/real-servers/{rs.pk}/")  # the web process's floor: a plain read
                plain.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                answer = app.ok("POST", f"/api/v1/real-servers/{rs.pk}/drain/")
                _until_weight(weight_of, w, 0)
                drain.append(time.perf_counter() - t0)
                assert answer["kernel"]["status"] == "done", answer
                app.ok("POST", f"/api/v1/real-servers/{rs.pk}/online/")
                _until_weight(weight_of, w, rs.weight)
            out["drain_ms"] = [round(x * 1000, 2) for x in drain]
            out["import_then_apply_s"] = round(out["import_s"] + out["cold_apply_s"], 1)  # the guest's speed this run
            out["plain_get_ms"] = [round(x * 1000, 2) for x in plain]
            out["pending_after_drains"] = app.get("/api/v1/apply/")["pending_changes"]

            app.ok("PATCH", "/api/v1/cluster/", {"auto_apply": True})
            A.worker_idle(checklists=False)  # turning it on applied what was pending (nothing)
            auto = []
            for n, w in enumerate(where[:0 if only == "drain" else auto_samples]):
                A.worker_idle(checklists=False)
                weight = 2 + n % 50
                t0 = time.perf_counter()
                app.ok("PATCH", f"/api/v1/real-servers/{w[0].pk}/", {"weight": weight})
                _until_weight(weight_of, w, weight, seconds=120)
                auto.append(time.perf_counter() - t0)
            out["auto_apply_ms"] = [round(x * 1000, 2) for x in auto]
            runs = app.get("/api/v1/apply/runs/?page_size=5")["results"]
            out["last_auto_runs_ms"] = [r["duration_ms"] for r in runs]
        finally:
            driver.close()
        return out
    finally:
        app.stop()


def report(r: dict) -> str:
    d, a = r["drain_ms"], r["auto_apply_ms"]
    lines = [f"{r['services']} services x {r['reals']} real servers: import {r['import_s']:.1f} s, cold apply "
             f"{r['cold_apply_s']:.1f} s ({r['cold_apply_ops']} ops)"]
    if d:
        g = r["plain_get_ms"]
        lines += [
            f"API drain -> weight 0 in the kernel: p50 {statistics.median(d):.1f} ms  p95 {_pct(d, 0.95):.1f} ms  "
            f"max {max(d):.1f} ms  n={len(d)}  (targets p50 <= 50, p95 <= 150); pending after: "
            f"{r['pending_after_drains']}",
            f"  the web process's floor, a plain GET of the same server: p50 {statistics.median(g):.1f} ms",
        ]
    if a:
        lines.append(f"auto apply of one edit -> kernel:    p50 {statistics.median(a):.1f} ms  "
                     f"p95 {_pct(a, 0.95):.1f} ms  n={len(a)}  (target p50 <= 300); "
                     f"worker's last runs: {r['last_auto_runs_ms']} ms")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=10_000)
    ap.add_argument("--reals", type=int, default=4)
    ap.add_argument("--samples", type=int, default=30, help="drains")
    ap.add_argument("--auto-samples", type=int, default=10, help="auto-applied edits")
    ap.add_argument("--only", choices=("drain", "auto"), default="", help="measure one part")
    ap.add_argument("--timeout", type=float, default=3600)
    args = ap.parse_args(argv)
    from tests.netlab import lab

    result = lab.call(measure, args.services, args.reals, args.samples, args.auto_samples, args.only,
                      timeout=args.timeout, echo=False)
    print(report(result))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
