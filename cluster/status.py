"""Live kernel figures per virtual service and real server: connections, packets, bytes."""

from __future__ import annotations

import json

from appliance import redis_client
from dataplane.compiler import service_key

from .compile import cluster_spec
from .mode import dataplane_mode
from .writer import make_driver, recorded

COUNTERS = ("conns", "inpkts", "outpkts", "inbytes", "outbytes", "cps", "inpps", "outpps", "inbps", "outbps")


def _counters(stats: dict) -> dict:
    return {name: int(stats.get(name, 0)) for name in COUNTERS}


STATUS_TTL = 10  # seconds: a stale snapshot disappears rather than showing old figures as live


def snapshot() -> str | None:
    """The worker's last published snapshot (JSON); None when there is none or Redis is down (then not asked
    again for a few seconds: pages poll every 2 s)."""
    if redis_client.paused():
        return None
    try:
        return redis_client.client().get(redis_client.key(redis_client.KERNEL_STATUS))
    except Exception:  # noqa: BLE001 - status pages and the API work without Redis
        redis_client.failed()
        return None


def publish_status() -> dict:
    """Worker side: read the kernel (which needs CAP_NET_ADMIN) and publish it for the web process."""
    status = read_kernel_status()
    redis_client.client().set(redis_client.key(redis_client.KERNEL_STATUS), json.dumps(status), ex=STATUS_TTL)
    return status


def kernel_status() -> dict:
    """The latest figures: the worker's snapshot from Redis, else read here (embedded mode, or a
    process with the privilege), marked with where they came from."""
    from django.conf import settings

    if not settings.CELERY_TASK_ALWAYS_EAGER:
        raw = snapshot()  # None with Redis down: read directly
        if raw:
            return {**json.loads(raw), "source": "worker"}
    return {**read_kernel_status(), "source": "direct"}


def read_kernel_status() -> dict:
    """The IPVS table joined with the configuration, so each figure has its service and server."""
    _, stored, _ = recorded()
    driver = make_driver(stored)
    try:
        table = driver.read_ipvs()
    finally:
        driver.close()
    services = {entry.service.key: entry for entry in table.services}
    dests: dict = {}
    for entry in table.destinations:
        dests[(entry.dest.service, entry.dest.address, entry.dest.port)] = entry
    out = []
    for spec in cluster_spec().services:
        key = service_key(spec) if spec.enabled else None
        entry = services.get(key)
        servers = []
        for rs in spec.real_servers:
            port = key.port if key is not None and rs.port is None else (rs.port or 0)
            d = dests.pop((key, rs.address, port), None)
            servers.append({
                "id": rs.id, "label": rs.label, "address": rs.address, "port": port,
                "in_kernel": d is not None, "weight": d.dest.weight if d else None,
                "active_conns": d.active_conns if d else 0, "inactive_conns": d.inactive_conns if d else 0,
                "persistent_conns": d.persist_conns if d else 0, **_counters(d.stats if d else {}),
            })
        active = sum(s["active_conns"] for s in servers)
        inactive = sum(s["inactive_conns"] for s in servers)
        fallback = [{"address": k[1], "port": k[2], "active_conns": e.active_conns,
                     "inactive_conns": e.inactive_conns} for k, e in list(dests.items()) if k[0] == key]
        out.append({"id": spec.id, "label": spec.label, "in_kernel": entry is not None,
                    "active_conns": active + sum(f["active_conns"] for f in fallback),
                    "inactive_conns": inactive + sum(f["inactive_conns"] for f in fallback),
                    **_counters(entry.stats if entry else {}), "real_servers": servers, "fallback": fallback})
    return {"dataplane": dataplane_mode(), "services": out}
