"""The System Overview's data in a constant number of queries, as plain rows (no model instances).

Model instances are avoided on purpose: at 1,000 services / 4,000 real servers building them costs
more than the rest of the page.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import BooleanField, ExpressionWrapper, Q, Value
from django.utils import timezone

from realservers.models import RealServer
from reports.models import ServiceStats
from virtualservices.models import VirtualService

from .overview_states import SERVING, ServerRow, ServiceRow, rs_state, vs_state

VS_FIELDS = ("id", "label", "vip", "ports", "protocol", "method", "fwmark", "check_type", "enabled")
RS_FIELDS = ("id", "service_id", "label", "address", "port", "weight", "admin_state", "health")
FILTERS = [("", "All services"), ("problem", "Needs attention"), ("down", "Down"), ("drained", "Drained/halted"),
           ("pending", "Pending apply")]
PAGE_SIZES = (50, 100, 250, 0)  # 0: all


@dataclass
class Overview:
    rows: list[ServiceRow]
    total: int
    summary: dict
    stats_time: object


def _pending(applied_at):
    """Computed by the database: converting 5,000 timestamps to Python costs more than the whole query."""
    if applied_at is None:  # never applied: everything is pending and the banner says so
        return Value(False, output_field=BooleanField())
    return ExpressionWrapper(Q(updated_at__gt=applied_at), output_field=BooleanField())


def load(applied_at=None, query: str = "", state_filter: str = "", method: str = "") -> Overview:
    """Every service and real server with its state (for the summary and the filters), in 3 queries.
    Counters per real server and sparklines are attached to the shown page only (`attach_stats`)."""
    servers_by_service: dict[int, list] = {}
    for rs in RealServer.objects.annotate(pending=_pending(applied_at)).order_by(
            "service_id", "label").values_list(*RS_FIELDS, "pending"):
        servers_by_service.setdefault(rs[1], []).append(rs)
    stats = {s[0]: s[1:] for s in ServiceStats.objects.values_list(
        "label", "time", "active_conns", "inactive_conns", "cps", "in_bps", "out_bps")}
    rows = []
    summary = {"services": 0, "vs_up": 0, "vs_degraded": 0, "vs_down": 0, "vs_unknown": 0, "vs_disabled": 0,
               "servers": 0, "rs_serving": 0, "rs_down": 0, "rs_unknown": 0, "rs_drained": 0, "rs_halted": 0,
               "active": 0, "cps": 0.0, "bps": 0.0}
    stats_time = None
    for vid, label, vip, ports, protocol, meth, fwmark, check_type, enabled, vs_pending in (
            VirtualService.objects.annotate(pending=_pending(applied_at)).order_by("label").values_list(
                *VS_FIELDS, "pending")):
        row = ServiceRow(id=vid, label=label, vip=vip, ports=ports, protocol=protocol, method=meth, fwmark=fwmark,
                         check_type=check_type, enabled=enabled, pending=vs_pending)
        for rid, _, rlabel, address, port, weight, admin_state, health, rs_pending in servers_by_service.get(vid, ()):
            row.servers.append(ServerRow(
                id=rid, label=rlabel, address=address, port=port, weight=weight, admin_state=admin_state,
                state=rs_state(admin_state, health, check_type), pending=vs_pending or rs_pending))
        row.state = vs_state(enabled, [s.state for s in row.servers])
        st = stats.get(label)
        if st:
            row.active, row.inactive, row.cps, row.bps = st[1], st[2], st[3], st[4] + st[5]
            stats_time = st[0] if stats_time is None or st[0] > stats_time else stats_time
        _count(summary, row)
        if _matches(row, query.lower(), state_filter, method):
            rows.append(row)
    return Overview(rows=rows, total=summary["services"], summary=summary, stats_time=stats_time)


def attach_stats(rows: list[ServiceRow]) -> None:
    """Per-real-server connections and the sparkline, for the rows on the page (one query)."""
    by_label = {r.label: r for r in rows}
    for label, spark, servers in ServiceStats.objects.filter(label__in=list(by_label)).values_list(
            "label", "spark", "servers"):
        row = by_label[label]
        row.spark = spark or []
        for rs in row.servers:
            rs.active, rs.inactive = (servers or {}).get(str(rs.id)) or (0, 0)


def health_note(live: dict | None, now: float) -> str:
    """Why a real server is down or failing, and since when, from healthcheckd's live status."""
    from healthchecks.live import reason

    if not live:
        return ""
    if live["state"] == "down":
        why, since = reason(live, "down"), live.get("since")
        if not since:
            return why
        at = timezone.localtime(datetime.fromtimestamp(since, UTC))
        return f"{why} · since {at:%Y-%m-%d %H:%M}" if now - since > 86400 else f"{why} · since {at:%H:%M:%S}"
    if live["state"] == "up" and live.get("ok") is False:
        return f"last check failed: {live['reason']}"
    return ""


def health_notes(servers: list[tuple[int, str]]) -> dict[int, str]:
    """(real server id, state shown) → healthcheckd's note, for one page in one Redis round trip (none
    without Redis). An administratively drained or halted server needs no health note."""
    from healthchecks.live import live_statuses

    live, now = live_statuses(i for i, _ in servers), time.time()
    return {i: health_note(live.get(i), now) for i, state in servers if state not in ("drained", "halted")}


def attach_health(rows: list[ServiceRow]) -> None:
    servers = [rs for row in rows for rs in row.servers]
    notes = health_notes([(rs.id, rs.state) for rs in servers])
    for rs in servers:
        rs.note = notes.get(rs.id, "")


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
