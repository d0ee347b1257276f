"""Turn the kernel's cumulative IPVS counters into rates and history rows.

`sample(status)` takes the live status as plain data, so it is tested with fake input:

    {"services": [{"label": "web", "active_conns": 3, "inactive_conns": 1,
                   "conns": 1234, "inbytes": 5678, "outbytes": 91011,
                   "real_servers": [{"id": 7, "active_conns": 2, "inactive_conns": 1}, ...]}, ...]}

— the shape of `cluster.status.kernel_status()`. `conns`, `inbytes` and `outbytes` are the kernel's
cumulative counters (ipvsadm --stats);
a counter that goes down (the service was re-created) restarts from zero.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from virtualservices.models import VirtualService

from .models import ServiceSample, ServiceStats

SPARK_POINTS = 30
HISTORY_EVERY = timedelta(seconds=settings.FULCRUM_STATS_HISTORY_SECONDS)
RETENTION = timedelta(hours=settings.FULCRUM_STATS_RETENTION_HOURS)


def _rate(new: int, old: int, seconds: float) -> float:
    if seconds <= 0:
        return 0.0
    delta = new - old if new >= old else new  # a reset counter counts from zero again
    return round(delta / seconds, 3)


def _int(value) -> int:
    try:
        return max(int(value or 0), 0)
    except (TypeError, ValueError):
        return 0


def sample(status: dict, now=None) -> int:
    """Store one sample per service in `status`; return how many services were sampled."""
    now = now or timezone.now()
    entries = [s for s in (status or {}).get("services", []) if s.get("label")]
    with transaction.atomic():
        known = {s.label: s for s in ServiceStats.objects.filter(label__in=[e["label"] for e in entries])}
        new_stats, changed, history = [], [], []
        for e in entries:
            conns = _int(e.get("conns"))
            in_b, out_b = _int(e.get("inbytes", e.get("in_bytes"))), _int(e.get("outbytes", e.get("out_bytes")))
            active, inactive = _int(e.get("active_conns")), _int(e.get("inactive_conns"))
            servers = {str(rs["id"]): [_int(rs.get("active_conns")), _int(rs.get("inactive_conns"))]
                       for rs in e.get("real_servers", []) if "id" in rs}
            stats = known.get(e["label"])
            if stats is None:
                stats = ServiceStats(label=e["label"], time=now, conns_total=conns, in_bytes=in_b, out_bytes=out_b)
                new_stats.append(stats)
                cps = in_bps = out_bps = 0.0
            else:
                seconds = (now - stats.time).total_seconds()
                cps = _rate(conns, stats.conns_total, seconds)
                in_bps, out_bps = _rate(in_b, stats.in_bytes, seconds), _rate(out_b, stats.out_bytes, seconds)
                changed.append(stats)
            stats.time, stats.conns_total, stats.in_bytes, stats.out_bytes = now, conns, in_b, out_b
            stats.active_conns, stats.inactive_conns = active, inactive
            stats.cps, stats.in_bps, stats.out_bps = cps, in_bps, out_bps
            stats.servers = servers
            if stats.history_time is None or now - stats.history_time >= HISTORY_EVERY - timedelta(seconds=1):
                # Live figures every sample; history and the sparkline at most once per HISTORY_EVERY.
                stats.history_time = now
                stats.spark = (list(stats.spark or []) + [[active, round(in_bps + out_bps, 1)]])[-SPARK_POINTS:]
                history.append(ServiceSample(label=e["label"], time=now, active_conns=active,
                                             inactive_conns=inactive, cps=cps, in_bps=in_bps, out_bps=out_bps))
        ServiceStats.objects.bulk_create(new_stats, batch_size=500)
        ServiceStats.objects.bulk_update(
            changed, ["time", "active_conns", "inactive_conns", "conns_total", "in_bytes", "out_bytes",
                      "cps", "in_bps", "out_bps", "spark", "servers", "history_time"], batch_size=500)
        ServiceSample.objects.bulk_create(history, batch_size=1000)
    prune(now)
    return len(entries)


def prune(now=None):
    """Drop history past the retention, and stats of services that no longer exist."""
    now = now or timezone.now()
    ServiceSample.objects.filter(time__lt=now - RETENTION).delete()
    labels = set(VirtualService.objects.values_list("label", flat=True))
    gone = [label for label in ServiceStats.objects.values_list("label", flat=True) if label not in labels]
    if gone:
        ServiceStats.objects.filter(label__in=gone).delete()
