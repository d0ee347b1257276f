"""The minimal WebUI: list, add, edit, delete services and real servers; online/drain/halt."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.roles import CONFIGURE, OPERATE, can
from realservers.models import RealServer
from realservers.states import ACTIONS, set_state
from virtualservices.models import VirtualService

from .forms import RealServerForm, VirtualServiceForm


def require(request, capability: str):
    if not can(request.user, capability):
        raise PermissionDenied("Your role does not allow this.")


def overview(request):
    services = VirtualService.objects.prefetch_related(
        Prefetch("real_servers", queryset=RealServer.objects.order_by("label")))
    query = request.GET.get("q", "").strip()
    if query:
        services = services.filter(label__icontains=query) | services.filter(vip__icontains=query)
    return render(request, "frontend/overview.html", {"services": services, "q": query})


def _warn(request, svc):
    for field, texts in svc.warnings().items():
        for text in texts:
            messages.warning(request, f"{svc.label} — {field.replace('_', ' ')}: {text}")


def service_edit(request, pk=None):
    require(request, CONFIGURE)
    svc = get_object_or_404(VirtualService, pk=pk) if pk else None
    form = VirtualServiceForm(request.POST or None, instance=svc)
    if request.method == "POST" and form.is_valid():
        svc = form.save()
        messages.success(request, f"Virtual service '{svc.label}' saved.")
        _warn(request, svc)
        return redirect("overview")
    return render(request, "frontend/form.html", {
        "form": form, "title": f"Edit virtual service {svc.label}" if svc else "Add a virtual service"})


def service_delete(request, pk):
    require(request, CONFIGURE)
    svc = get_object_or_404(VirtualService, pk=pk)
    if request.method == "POST":
        svc.delete()
        messages.success(request, f"Virtual service '{svc.label}' deleted.")
        return redirect("overview")
    return render(request, "frontend/confirm_delete.html", {"object": svc, "kind": "virtual service"})


def server_edit(request, service_pk=None, pk=None):
    require(request, CONFIGURE)
    if pk:
        rs = get_object_or_404(RealServer.objects.select_related("service"), pk=pk)
    else:
        rs = RealServer(service=get_object_or_404(VirtualService, pk=service_pk))
    form = RealServerForm(request.POST or None, instance=rs)
    if request.method == "POST" and form.is_valid():
        rs = form.save()
        messages.success(request, f"Real server '{rs}' saved.")
        return redirect("overview")
    title = f"Edit real server {rs}" if pk else f"Add a real server to {rs.service.label}"
    return render(request, "frontend/form.html", {"form": form, "title": title})


def server_delete(request, pk):
    require(request, CONFIGURE)
    rs = get_object_or_404(RealServer.objects.select_related("service"), pk=pk)
    if request.method == "POST":
        rs.delete()
        messages.success(request, f"Real server '{rs}' deleted.")
        return redirect("overview")
    return render(request, "frontend/confirm_delete.html", {"object": rs, "kind": "real server"})


@require_POST
def server_state(request, pk, action):
    require(request, OPERATE)
    if action not in ACTIONS:
        raise PermissionDenied("Unknown action.")
    rs = get_object_or_404(RealServer.objects.select_related("service"), pk=pk)
    set_state([rs], ACTIONS[action])
    messages.success(request, f"Real server '{rs}' is now {ACTIONS[action]}.")
    return redirect("overview")
