"""Layer 4 virtual services and real servers: lists, forms, delete, checklists, the AOVPN wizard."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from accounts.roles import CONFIGURE, OPERATE
from appliance.inputgate import ascii_digits
from checklists.tasks import start_recheck
from checklists.templatetags.checklists import checklist_context
from cluster.aovpn import create_aovpn, service_definitions
from realservers.actions import act, kernel_answer_text
from realservers.filtersets import RealServerFilterSet
from realservers.models import RealServer
from virtualservices.choices import METHODS
from virtualservices.filtersets import VirtualServiceFilterSet
from virtualservices.models import VirtualService, dr_vip_counts

from ..forms import AovpnForm, RealServerForm, VirtualServiceForm
from ..overview_data import health_notes
from .common import back_to, confirm_delete, filtered, paginate, query_without, require, saved


def _warn(request, svc):
    for field, texts in svc.warnings().items():
        for text in texts:
            messages.warning(request, f"{svc.label} — {field.replace('_', ' ')}: {text}")


def service_list(request):
    services = VirtualService.objects.annotate(n_servers=Count("real_servers")).only(
        "id", "label", "vip", "ports", "protocol", "fwmark", "method", "scheduler", "persistent",
        "persistence_timeout", "check_type", "enabled", "description", "check_interval", "check_timeout",
        "check_fall").order_by("label")
    page, per_page = paginate(request, filtered(request, VirtualServiceFilterSet, services))
    dr_vips = dr_vip_counts()
    for s in page.object_list:
        s.advice = [text for texts in s.warnings(dr_vips=dr_vips).values() for text in texts]
    return render(request, "frontend/service_list.html", {
        "page": page, "per_page": per_page, "q": request.GET.get("search", ""), "method": request.GET.get("method", ""),
        "methods": METHODS,
        "base_query": query_without(request, "page"), "size_query": query_without(request, "page", "per_page"),
        "page_sizes": (50, 100, 250, 0)})


def service_advice(request):
    """The advice for the form as it stands, before saving (the form asks on every change)."""
    require(request, CONFIGURE)
    svc = get_object_or_404(VirtualService, pk=request.GET["pk"]) if request.GET.get("pk", "").isdigit() else None
    form = VirtualServiceForm(request.POST or None, instance=svc)
    form.is_valid()  # fills the instance with every field that is valid so far; errors show on save
    return render(request, "frontend/_advice.html", {"warnings": form.instance.warnings()})


def service_edit(request, pk=None):
    require(request, CONFIGURE)
    svc = get_object_or_404(VirtualService, pk=pk) if pk else None
    form = VirtualServiceForm(request.POST or None, instance=svc)
    if request.method == "POST" and form.is_valid() and saved(form) is not None:
        svc = form.instance
        messages.success(request, f"Virtual service '{svc.label}' saved.")
        _warn(request, svc)
        if pk is None:
            return redirect(reverse("service-checklist", args=[svc.pk]) + "?new=1")
        return redirect("overview")
    warnings = form.instance.warnings() if svc is not None or request.method == "POST" else {}
    return render(request, "frontend/service_form.html", {
        "form": form, "service": svc, "warnings": warnings,
        "title": f"Modify virtual service {svc.label}" if svc else "Add a virtual service"})


def service_delete(request, pk):
    require(request, CONFIGURE)
    svc = get_object_or_404(VirtualService, pk=pk)
    return confirm_delete(request, svc, "virtual service", "service-list",
                          f"Virtual service '{svc.label}' deleted. Apply to remove it from the kernel.",
                          _servers_go_too(svc.real_servers.count()))


def _servers_go_too(n: int) -> str:
    return "Its real server is deleted with it." if n == 1 else f"Its {n} real servers are deleted with it."


def service_checklist(request, pk):
    svc = get_object_or_404(VirtualService, pk=pk)
    return render(request, "frontend/checklist.html", {"service": svc})


@require_http_methods(["GET", "POST"])
def service_checklist_live(request, pk):
    """The checklist partial alone: htmx polls it while the probes run; POST re-checks first."""
    svc = get_object_or_404(VirtualService, pk=pk)
    if request.method == "POST":
        require(request, OPERATE)  # probes change nothing; operators may run them, as in the API
        start_recheck(svc, user=request.user, actor=request.user.get_username(), reason="manual")
    return render(request, "checklists/_checklist.html", checklist_context({"request": request}, svc))


def server_list(request):
    servers = RealServer.objects.select_related("service").only(
        "id", "label", "address", "port", "weight", "min_conns", "max_conns", "admin_state", "health",
        "service__id", "service__label", "service__vip", "service__ports", "service__check_type",
        ).order_by("address", "service__label")
    page, per_page = paginate(request, filtered(request, RealServerFilterSet, servers))
    from ..overview_states import RS_STATES, rs_state
    from ..rowhtml import ACTIONS

    for rs in page.object_list:
        rs.ui_state = rs_state(rs.admin_state, rs.health, rs.service.check_type)
    notes = health_notes([(rs.id, rs.ui_state) for rs in page.object_list])
    for rs in page.object_list:
        rs.ui_note = notes.get(rs.id, "")
    return render(request, "frontend/server_list.html", {
        "page": page, "per_page": per_page, "q": request.GET.get("search", ""),
        "admin_state": request.GET.get("admin_state", ""), "rs_states": RS_STATES, "state_actions": ACTIONS,
        "base_query": query_without(request, "page"), "size_query": query_without(request, "page", "per_page"),
        "page_sizes": (50, 100, 250, 0)})


def server_health(request, pk):
    """State, reason and transitions of one real server (every role may look)."""
    from healthchecks.live import health_of

    rs = get_object_or_404(RealServer.objects.select_related("service"), pk=pk)
    check_label = dict(VirtualService._meta.get_field("check_type").choices).get(rs.service.check_type, "")
    poll = request.htmx.target == "health-live"  # the block's 2-second refresh
    template = "frontend/_server_health_body.html" if poll else "frontend/server_health.html"
    return render(request, template, {"rs": rs, "health": health_of(rs, events_shown=20), "check_label": check_label})


def server_edit(request, service_pk=None, pk=None):
    require(request, CONFIGURE)
    if pk:
        rs = get_object_or_404(RealServer.objects.select_related("service"), pk=pk)
    else:
        rs = RealServer(service=get_object_or_404(VirtualService, pk=service_pk))
    form = RealServerForm(request.POST or None, instance=rs)
    if request.method == "POST" and form.is_valid():
        if pk and "admin_state" in form.changed_data:
            return _save_with_runtime_state(request, form)
        if saved(form) is not None:
            messages.success(request, f"Real server '{form.instance}' saved.")
            return redirect(back_to(request, "overview"))
    title = f"Modify real server {rs}" if pk else f"Add a real server to {rs.service.label}"
    return render(request, "frontend/server_form.html", {"form": form, "title": title, "service": rs.service,
                                                         "back": back_to(request, "overview")})


def _save_with_runtime_state(request, form):
    """The state field is runtime state: it acts in the kernel at once (realservers.actions), while
    the other fields are configuration and wait for Apply."""
    new_state = form.cleaned_data["admin_state"]
    # The state first, from the saved configuration; then the other fields, which wait for Apply.
    _, kernel = act(RealServer.objects.select_related("service").filter(pk=form.instance.pk), new_state)
    rs = form.save(commit=False)
    rs.admin_state = new_state
    rs._audit_before = {**(rs._audit_before or {}), "admin_state": new_state}  # logged above, as runtime state
    rs.save()
    text = kernel_answer_text(f"Real server '{rs}'", new_state, kernel)  # the states are named as the actions
    (messages.success if kernel["status"] == "done" else messages.error)(request, f"Saved. {text}")
    return redirect(back_to(request, "overview"))


def server_delete(request, pk):
    require(request, CONFIGURE)
    rs = get_object_or_404(RealServer.objects.select_related("service"), pk=pk)
    return confirm_delete(request, rs, "real server", "overview",
                          f"Real server '{rs}' deleted. Apply to remove it from the kernel.")


def aovpn_wizard(request):
    require(request, CONFIGURE)
    form = AovpnForm(request.POST or None)
    plan = None
    if request.method == "POST" and form.is_valid():
        req = form.request()
        if request.POST.get("step") == "create":
            try:
                services = create_aovpn(req)
            except ValidationError as exc:
                for field, texts in getattr(exc, "message_dict", {"__all__": exc.messages}).items():
                    target = field if field in form.fields else None
                    for text in texts:
                        form.add_error(target, f"{field}: {text}" if target is None and field != "__all__"
                                       else text)
            else:
                messages.success(request, "Created " + ", ".join(s.label for s in services)
                                 + ". Work through each service's checklist, then apply.")
                ids = ",".join(str(s.pk) for s in services)
                return redirect(reverse("checklists") + f"?ids={ids}")
        if form.is_valid():
            plan = [{"fields": f, "servers": servers} for f, servers in service_definitions(req)]
    return render(request, "frontend/aovpn.html", {"form": form, "plan": plan})


def checklists(request):
    ids = [int(i) for i in request.GET.get("ids", "").split(",") if ascii_digits(i)]
    services = VirtualService.objects.filter(pk__in=ids).order_by("label")
    return render(request, "frontend/checklists.html", {"services": services})
