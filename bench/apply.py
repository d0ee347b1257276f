"""Benchmark the kernel driver against ipvsadm, inside one UML guest (real IPVS).

    .venv/bin/python bench/apply.py                    # 1,000 and 10,000 services x 4
    .venv/bin/python bench/apply.py --services 1000    # quick

For each size, in the same guest run:

* cold apply: empty table -> N services x R real servers (masquerade, TCP), timed for
  ``ipvsadm -R`` fed ``render_ipvsadm`` and for the driver (read + plan + apply); the
  ratio driver/ipvsadm (target <= 1.0);
* single change: one real server's weight, plan + apply, repeated; p50/p95 (target p50 <=
  20 ms and <= 1/100 of the cold apply). Measured twice: with the desired state derived from
  the last one (shared objects, like healthcheckd) and freshly built (new objects, like a
  compile of the whole configuration);
* the driver process's RSS (peak and current).

Timings are only comparable within one guest run: UML system calls are slow.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def build_state(services: int, reals: int, weight: int = 100):
    from dataplane.desired import MASQ, DesiredState, IpvsDestination, IpvsService, ServiceKey

    svcs, dests = [], []
    for i in range(services):
        vip = f"10.{100 + i // 65000}.{(i // 250) % 256}.{i % 250 + 1}"
        key = ServiceKey(4, "tcp", vip, 443)
        svcs.append(IpvsService(key, "wlc"))
        for r in range(reals):
            dests.append(IpvsDestination(key, f"10.200.{r}.{i % 250 + 1}", 8443, MASQ, weight))
    return replace(DesiredState.empty(), services=frozenset(svcs), destinations=frozenset(dests))


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def measure(sizes: list[int], reals: int = 4, changes: int = 30) -> list[dict]:
    """Runs inside the guest."""
    from dataplane.render import render_ipvsadm
    from tests.netlab.lab import netns

    results = []
    for n in sizes:
        row: dict = {"services": n, "reals": reals, "requests": n * (1 + reals)}
        desired = build_state(n, reals)
        text = render_ipvsadm(desired)

        # Each contender gets a network namespace of its own, so each starts truly cold: IPVS
        # keeps deleted destinations in a per-namespace trash list that every later add
        # searches linearly (re-adding 40,000 just-flushed destinations is quadratic).
        _netns_add("bench-ipvsadm")
        with netns("bench-ipvsadm"):
            t0 = time.perf_counter()
            subprocess.run(["ipvsadm", "-R"], input=text, text=True, check=True)
            row["ipvsadm_R_s"] = time.perf_counter() - t0
            out = subprocess.run(["ipvsadm", "-S", "-n"], capture_output=True, text=True).stdout
            assert len(out.splitlines()) == row["requests"]
            subprocess.run(["ipvsadm", "-C"], check=True)
        subprocess.run(["ip", "netns", "del", "bench-ipvsadm"], check=True)
        time.sleep(3)  # let the kernel finish tearing that namespace down

        _netns_add("bench-driver")
        with netns("bench-driver"):
            row.update(_driver_run(desired, changes))
        subprocess.run(["ip", "netns", "del", "bench-driver"], check=True)
        row["ratio"] = row["driver_cold_s"] / row["ipvsadm_R_s"]
        row["change_vs_cold"] = row["change_p50_ms"] / 1000 / row["driver_cold_s"]
        results.append(row)
        del desired, text
        gc.collect()
        print(json.dumps(row), flush=True)
        time.sleep(3)
    return results


def _netns_add(name: str) -> None:
    subprocess.run(["ip", "netns", "add", name], check=True)
    # IPVS refuses destinations ("address not unicast") while the namespace's lo is down
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)


def _driver_run(desired, changes: int) -> dict:
    from dataplane.desired import DesiredState
    from dataplane.diff import EditDest, plan
    from dataplane.kernel import KernelDriver

    row: dict = {}
    driver = KernelDriver(iptables_backend="legacy")
    try:
        gc.collect()
        t0 = time.perf_counter()
        now = driver.read()
        t1 = time.perf_counter()
        ops = plan(now, desired)
        t2 = time.perf_counter()
        result = driver.apply(ops)
        t3 = time.perf_counter()
        assert result.ok, result.failed[:3]
        row.update(driver_cold_s=t3 - t0, driver_read_s=t1 - t0, driver_plan_s=t2 - t1, driver_apply_s=t3 - t2)

        t0 = time.perf_counter()
        back = driver.read()
        row["driver_read_full_s"] = time.perf_counter() - t0
        assert back.services == desired.services and back.destinations == desired.destinations

        # single change: one destination's weight, with the desired state derived from the last one
        dests = sorted(desired.destinations)
        last, lat_shared = desired, []
        for i in range(changes):
            old = dests[(i * 7919) % len(dests)]
            new = replace(old, weight=old.weight + 1 + i)
            want = replace(last, destinations=(last.destinations - {old}) | {new})
            dests[(i * 7919) % len(dests)] = new
            t0 = time.perf_counter()
            ops = plan(last, want)
            res = driver.apply(ops)
            lat_shared.append(time.perf_counter() - t0)
            assert res.ok and ops == [EditDest(new)], ops
            last = want
        # ... and freshly built (no shared objects, as after a full compile)
        lat_fresh = []
        for _ in range(min(changes, 10)):
            victim = next(iter(last.destinations))
            fresh = replace(
                last,
                services=frozenset(replace(x) for x in last.services),
                destinations=frozenset(
                    replace(d, weight=d.weight + 1) if d is victim else replace(d) for d in last.destinations),
            )
            t0 = time.perf_counter()
            ops = plan(last, fresh)
            res = driver.apply(ops)
            lat_fresh.append(time.perf_counter() - t0)
            assert res.ok and len(ops) == 1, ops
            last = fresh
        row["change_p50_ms"] = statistics.median(lat_shared) * 1000
        row["change_p95_ms"] = _pct(lat_shared, 0.95) * 1000
        row["change_fresh_p50_ms"] = statistics.median(lat_fresh) * 1000
        row["rss_kib"] = _rss_kib()
        row["maxrss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

        t0 = time.perf_counter()
        res = driver.apply(plan(driver.read(), DesiredState.empty()))
        row["driver_teardown_s"] = time.perf_counter() - t0
        assert res.ok
        return row
    finally:
        driver.close()


def report(rows: list[dict]) -> str:
    lines = [
        f"{'services':>8} {'x':>2} {'ipvsadm -R':>11} {'driver cold':>12} {'ratio':>6} "
        f"{'(read/plan/apply)':>20} {'change p50':>11} {'p95':>7} {'fresh p50':>10} {'chg/cold':>9} {'RSS':>8}",
    ]
    for r in rows:
        lines.append(
            f"{r['services']:>8} {r['reals']:>2} {r['ipvsadm_R_s']:>10.2f}s {r['driver_cold_s']:>11.2f}s "
            f"{r['ratio']:>6.3f} {r['driver_read_s']:>6.2f}/{r['driver_plan_s']:>5.2f}/{r['driver_apply_s']:>6.2f}s "
            f"{r['change_p50_ms']:>9.2f}ms {r['change_p95_ms']:>5.1f}ms {r['change_fresh_p50_ms']:>8.1f}ms "
            f"{r['change_vs_cold']:>9.5f} {r['maxrss_kib'] / 1024:>6.0f}MiB"
        )
    lines.append("targets: ratio <= 1.0; change p50 <= 20 ms and <= 0.01 of the cold apply")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, action="append", help="size(s); default 1000 and 10000")
    ap.add_argument("--reals", type=int, default=4)
    ap.add_argument("--changes", type=int, default=30)
    ap.add_argument("--timeout", type=float, default=900)
    args = ap.parse_args(argv)
    sizes = args.services or [1000, 10000]

    from tests.netlab import lab

    rows = lab.call(measure, sizes, args.reals, args.changes, timeout=args.timeout, echo=False)
    print(report(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
