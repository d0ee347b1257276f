"""The System Overview's data in a constant number of queries, as plain rows (no model instances).

Model instances are avoided on purpose: at 1,000 services / 4,000 real servers building them costs
more than the rest of the page.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from realservers.models import RealServer
from reports.models import ServiceStats
from virtualservices.models import VirtualService

from .state import SERVING, ServerRow, ServiceRow, rs_state, spark_points, vs_state

VS_FIELDS = ("id", "label", "vip", "ports", "protocol", "method", "fwmark", "check_type", "enabled", "updated_at")
RS_FIELDS = ("id", "service_id", "label", "address", "port", "weight", "admin_state", "health", "updated_at")
FILTERS = [("", "All services"), ("problem", "Needs attention"), ("down", "Down"), ("drained", "Drained/halted"),
           ("pending", "Pending apply")]
PAGE_SIZES = (50, 100, 250, 0)  # 0: all


@dataclass
class Overview:
    rows: list[ServiceRow]
    total: int
    summary: dict
    stats_time: object


def load(applied_at=None, query: str = "", state_filter: str = "", method: str = "") -> Overview:
    servers_by_service: dict[int, list[dict]] = {}
    for rs in RealServer.objects.order_by("service_id", "label").values(*RS_FIELDS):
        servers_by_service.setdefault(rs["service_id"], []).append(rs)
    stats = {s["label"]: s for s in ServiceStats.objects.values(
        "label", "time", "active_conns", "inactive_conns", "cps", "in_bps", "out_bps", "spark", "servers")}
    rows = []
    summary = {"services": 0, "vs_up": 0, "vs_degraded": 0, "vs_down": 0, "vs_unknown": 0, "vs_disabled": 0,
               "servers": 0, "rs_serving": 0, "rs_down": 0, "rs_unknown": 0, "rs_drained": 0, "rs_halted": 0,
               "active": 0, "cps": 0.0, "bps": 0.0}
    stats_time = None
    for vs in VirtualService.objects.order_by("label").values(*VS_FIELDS):
        st = stats.get(vs["label"])
        rs_counts = st["servers"] if st else {}
        # Never applied: everything is pending and the banner says so; marking every row adds only noise.
        vs_pending = applied_at is not None and vs["updated_at"] > applied_at
        row = ServiceRow(id=vs["id"], label=vs["label"], vip=vs["vip"], ports=vs["ports"], protocol=vs["protocol"],
                         method=vs["method"], fwmark=vs["fwmark"], check_type=vs["check_type"],
                         enabled=vs["enabled"], pending=vs_pending)
        for rs in servers_by_service.get(vs["id"], ()):
            rs_pending = vs_pending or (applied_at is not None and rs["updated_at"] > applied_at)
            counts = rs_counts.get(str(rs["id"])) or (0, 0)
            state = rs_state(rs["admin_state"], rs["health"], vs["check_type"])
            row.servers.append(ServerRow(
                id=rs["id"], label=rs["label"], address=rs["address"], port=rs["port"], weight=rs["weight"],
                admin_state=rs["admin_state"], state=state,
                pending=rs_pending, active=counts[0], inactive=counts[1]))
        row.state = vs_state(row.enabled, [s.state for s in row.servers])
        if st:
            row.active, row.inactive, row.cps = st["active_conns"], st["inactive_conns"], st["cps"]
            row.bps, row.spark = st["in_bps"] + st["out_bps"], st["spark"]
            stats_time = st["time"] if stats_time is None or st["time"] > stats_time else stats_time
        _count(summary, row)
        if _matches(row, query.lower(), state_filter, method):
            rows.append(row)
    return Overview(rows=rows, total=summary["services"], summary=summary, stats_time=stats_time)


def _count(summary: dict, row: ServiceRow) -> None:
    summary["services"] += 1
    summary["vs_" + row.state] += 1
    summary["active"] += row.active
    summary["cps"] += row.cps
    summary["bps"] += row.bps
    for rs in row.servers:
        summary["servers"] += 1
        if rs.state in SERVING:
            summary["rs_serving"] += 1
        else:
            summary["rs_" + rs.state] += 1


def _matches(row: ServiceRow, query: str, state_filter: str, method: str) -> bool:
    if method and row.method != method:
        return False
    if state_filter == "problem" and row.state not in ("degraded", "down"):
        return False
    if state_filter == "down" and row.state != "down" and not any(s.state == "down" for s in row.servers):
        return False
    if state_filter == "drained" and not any(s.state in ("drained", "halted") for s in row.servers):
        return False
    if state_filter == "pending" and not (row.pending or any(s.pending for s in row.servers)):
        return False
    if query:
        if query in row.label.lower() or query in row.vip or query in row.ports:
            return True
        return any(query in s.address or query in s.label.lower() for s in row.servers)
    return True


def signature(rows: list[ServiceRow]) -> str:
    """Changes when the page's structure (which services and servers) changes."""
    h = hashlib.blake2b(digest_size=8)
    for row in rows:
        h.update(f"{row.id}:{row.label}:{row.vip}:{row.ports}|".encode())
        for rs in row.servers:
            h.update(f"{rs.id}:{rs.label}:{rs.address}:{rs.port};".encode())
    return h.hexdigest()


def live_payload(rows: list[ServiceRow], summary: dict, pending: int, running) -> dict:
    vs, rs = {}, {}
    for row in rows:
        vs[row.id] = [row.state, row.state_label, row.active, row.inactive, int(row.pending),
                      spark_points(row.spark)]
        for s in row.servers:
            rs[s.id] = [s.state, s.state_label, s.active, s.inactive, int(s.pending), s.admin_state, s.weight]
    return {"sig": signature(rows), "vs": vs, "rs": rs, "summary": summary, "pending": pending,
            "running": running.pk if running else None}
