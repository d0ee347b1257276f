"""Local Configuration, View Configuration, Reports and Logs: mostly reading."""

from __future__ import annotations

import json
import socket
import subprocess
from datetime import timedelta

from django.apps import apps
from django.db.models import Sum
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone

from audit.filtersets import ChangeRecordFilterSet
from audit.models import ChangeRecord
from cluster.configview import absence_reasons, rendered_sections
from cluster.mode import dataplane_mode
from cluster.models import ApplyRun, DriftCheck
from reports.models import ServiceSample, ServiceStats
from virtualservices.models import VirtualService

from .common import filtered, paginate, query_without


# ------------------------------------------------------------------ Local Configuration
def _ip_json(*args) -> list:
    try:
        out = subprocess.run(["ip", "-j", *args], capture_output=True, text=True, timeout=3, check=True).stdout
        return json.loads(out or "[]")
    except (OSError, subprocess.SubprocessError, json.JSONDecodeError):
        return []


def _resolv() -> dict:
    out = {"nameservers": [], "search": []}
    try:
        with open("/etc/resolv.conf") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver":
                    out["nameservers"].append(parts[1])
                elif parts and parts[0] in ("search", "domain"):
                    out["search"].extend(parts[1:])
    except OSError:
        pass
    return out


def local_config(request):
    interfaces = [{"name": i.get("ifname"), "state": i.get("operstate", "").lower(), "mtu": i.get("mtu"),
                   "mac": i.get("address", ""),
                   "addresses": [f"{a['local']}/{a['prefixlen']}" for a in i.get("addr_info", []) if "local" in a]}
                  for i in _ip_json("addr")]
    routes = [{"family": "IPv4", **r} for r in _ip_json("route")] + \
             [{"family": "IPv6", **r} for r in _ip_json("-6", "route") if not str(r.get("dst", "")).startswith("fe80")]
    return render(request, "frontend/local.html", {
        "hostname": socket.gethostname(), "fqdn": socket.getfqdn(), "dns": _resolv(),
        "interfaces": interfaces, "routes": routes})


# ------------------------------------------------------------------ View Configuration
def _explain_live(live: dict) -> dict:
    """Each "in kernel: no" row gets its reason (halted, failing its check, disabled, not applied yet)."""
    reasons = absence_reasons()
    for svc in live.get("services", []):
        for rs in svc.get("real_servers", []):
            if not rs.get("in_kernel"):
                rs["why"] = reasons.get(rs.get("id"), "not applied yet, or removed outside Fulcrum "
                                                      "(Apply, or see the drift check)")
    return live


def view_config(request):
    tab = request.GET.get("tab", "rendered")
    live_only = tab == "live" and request.htmx.target == "kernel-live"  # the live table's 2-second refresh
    sections = [] if live_only else rendered_sections()
    keepalived = None
    if tab == "keepalived":
        try:
            from ha.keepalived import render as render_keepalived  # the HA layer's renderer, when installed

            keepalived = render_keepalived()
        except (ImportError, ValueError, LookupError):  # not installed, or not paired
            keepalived = None
    live, live_error = None, ""
    if tab == "live":
        try:
            from cluster.status import kernel_status

            live = _explain_live(kernel_status())
        except Exception as exc:  # unprivileged web process, no IPVS: say so
            live_error = f"The kernel's tables could not be read here: {type(exc).__name__}: {exc}"
    return render(request, "frontend/_live_table.html" if live_only else "frontend/view_config.html", {
        "sections": sections, "keepalived": keepalived, "live": live, "live_error": live_error,
        "tab": tab, "drift": DriftCheck.objects.first(),
        "mode": dataplane_mode()})


# ------------------------------------------------------------------ Reports
RANGES = [(1, "Last hour"), (6, "6 hours"), (24, "24 hours"), (48, "48 hours")]


def reports(request):
    labels = list(VirtualService.objects.order_by("label").values_list("label", flat=True))
    busiest = list(ServiceStats.objects.order_by("-active_conns", "label").values(
        "label", "active_conns", "inactive_conns", "cps", "in_bps", "out_bps", "time")[:10])
    label = request.GET.get("service", "")
    try:
        hours = int(request.GET.get("hours", 1))
    except ValueError:
        hours = 1
    return render(request, "frontend/reports.html", {
        "labels": labels, "label": label if label in labels else "", "hours": hours, "ranges": RANGES,
        "busiest": busiest, "has_samples": ServiceSample.objects.exists()})


def reports_data(request):
    """Series for the charts: [[unix times], [active], [inactive], [new conns/s], [bytes/s in], [bytes/s out]]."""
    try:
        hours = max(1, min(int(request.GET.get("hours", 1)), 24 * 7))
    except ValueError:
        hours = 1
    since = timezone.now() - timedelta(hours=hours)
    samples = ServiceSample.objects.filter(time__gte=since)
    label = request.GET.get("service", "")
    if label:
        rows = samples.filter(label=label).order_by("time").values_list(
            "time", "active_conns", "inactive_conns", "cps", "in_bps", "out_bps")
    else:
        rows = samples.values("time").order_by("time").annotate(
            a=Sum("active_conns"), i=Sum("inactive_conns"), c=Sum("cps"), bi=Sum("in_bps"), bo=Sum("out_bps")
        ).values_list("time", "a", "i", "c", "bi", "bo")
    series = [[], [], [], [], [], []]
    for row in rows:
        series[0].append(int(row[0].timestamp()))
        for n in range(1, 6):
            series[n].append(row[n] or 0)
    return JsonResponse({"service": label or "All services", "hours": hours, "series": series})


# ------------------------------------------------------------------ Logs
def logs(request):
    tab = request.GET.get("tab", "changes")
    context = {"tab": tab, "base_query": query_without(request, "page"),
               "size_query": query_without(request, "page", "per_page"), "page_sizes": (50, 100, 250)}
    if tab == "apply":
        page, per_page = paginate(request, ApplyRun.objects.all(), default=50, sizes=(50, 100, 250))
    elif tab == "health":
        try:
            HealthEvent = apps.get_model("healthchecks", "HealthEvent")
        except LookupError:
            HealthEvent = None
        context["health_available"] = HealthEvent is not None
        events = (HealthEvent.objects.select_related("real_server__service") if HealthEvent
                  else ChangeRecord.objects.none())
        page, per_page = paginate(request, events, default=50, sizes=(50, 100, 250))
    else:
        records = filtered(request, ChangeRecordFilterSet, ChangeRecord.objects.all())
        context.update(q=request.GET.get("search", ""), kind=request.GET.get("object_type", ""),
                       kinds=["virtualservice", "realserver", "floatingip", "clustersettings", "config", "user",
                              "apitoken"])
        page, per_page = paginate(request, records, default=50, sizes=(50, 100, 250))
    context.update(page=page, per_page=per_page)
    return render(request, "frontend/logs.html", context)
