"""Helpers shared by the benchmarks: a throwaway appliance database and large generated configs."""

from __future__ import annotations

import ipaddress
import os
import statistics
import tempfile
import time


def use_scratch_database() -> str:
    """Point Django at a fresh SQLite file (unless DATABASE_URL is set) and migrate it."""
    data_dir = tempfile.mkdtemp(prefix="fulcrum-bench-")
    os.environ.setdefault("FULCRUM_DATA_DIR", data_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "appliance.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    return data_dir


def big_bundle(services: int, servers_per_service: int = 4) -> dict:
    """A valid bundle: every service its own VIP (10.x), alternating methods and protocols."""
    base_vip = int(ipaddress.IPv4Address("10.64.0.1"))
    base_rip = int(ipaddress.IPv4Address("10.128.0.1"))
    methods = ["dr", "nat", "snat", "dr"]
    vs = []
    for i in range(services):
        method = methods[i % 4]
        vs.append({
            "label": f"svc-{i:05d}", "vip": str(ipaddress.IPv4Address(base_vip + i)),
            "ports": "443" if i % 3 else "500,4500", "protocol": "tcp" if i % 3 else "udp",
            "method": method, "scheduler": "wlc", "check_type": "tcp", "check_port": 443 if i % 3 else 500,
            "real_servers": [
                {"label": f"rs{j}", "address": str(ipaddress.IPv4Address(base_rip + i * servers_per_service + j)),
                 "weight": 100}
                for j in range(servers_per_service)
            ],
        })
    return {"format": "fulcrum-config", "version": 1, "cluster": {}, "floating_ips": [], "virtual_services": vs}


def timed(fn, repeat: int) -> list[float]:
    """Run fn `repeat` times; return each duration in milliseconds."""
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def report(name: str, values: list[float], extra: str = "") -> None:
    print(f"{name:<34} p50 {p(values, 50):8.2f} ms   p95 {p(values, 95):8.2f} ms   n={len(values)} {extra}")
