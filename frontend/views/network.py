"""Local Configuration › Network (netconfig's pages): interfaces, VLANs, bonds, routes, commit-confirmed apply."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django_htmx.http import HttpResponseClientRefresh

from accounts.roles import CONFIGURE
from audit.recording import record
from netconfig import control
from netconfig.apply import ChangeRefused, confirm, connected_address, desired_network, reconnect_advice, start_change
from netconfig.forms import ApplyForm, InterfaceForm, RouteForm, SystemSettingsForm
from netconfig.models import Interface, NetworkChange, Route, SystemSettings
from netconfig.ownership import network_owner
from netconfig.support import build_archive
from netconfig.system import HostNotOwned, save_system_settings, send_test_mail, send_test_syslog

from .common import confirm_delete, model_form_page, require


def network(request):
    owned, reason = network_owner()
    open_change = NetworkChange.objects.filter(status__in=NetworkChange.OPEN).first()
    return render(request, "netconfig/network.html", {
        "owned": owned, "reason": reason, "interfaces": Interface.objects.all(), "routes": Route.objects.all(),
        "open_change": open_change, "recent": NetworkChange.objects.exclude(status__in=NetworkChange.OPEN)[:5],
        "apply_form": ApplyForm(), "connected_to": connected_address(request)})


def network_change_status(request, pk):
    """The network page's 2-second check (htmx): 204 while the change is still in the status the page
    shows, else HX-Refresh so the page reloads with the new state (confirmed, rolled back, failed)."""
    change = get_object_or_404(NetworkChange, pk=pk)
    if change.status == request.GET.get("shown"):
        return HttpResponse(status=204)
    return HttpResponseClientRefresh()


def _writable(request):
    require(request, CONFIGURE)
    owned, reason = network_owner()
    if not owned:
        messages.error(request, f"Read-only here: {reason}")
        return False
    return True


def interface_edit(request, pk=None):
    if not _writable(request):
        return redirect("network")
    obj = get_object_or_404(Interface, pk=pk) if pk else None
    return model_form_page(request, InterfaceForm(request.POST or None, instance=obj), kind="interface",
                           back="network", saved_note=" Apply the network to use it.",
                           intro="A physical interface's addresses, MTU and state; or a VLAN or a bond. "
                                 "Nothing changes on the host until you apply, with a rollback timer.")


def interface_delete(request, pk):
    if not _writable(request):
        return redirect("network")
    obj = get_object_or_404(Interface, pk=pk)
    return confirm_delete(request, obj, "interface", "network", f"Interface {obj} deleted: apply to remove it.")


def route_edit(request, pk=None):
    if not _writable(request):
        return redirect("network")
    obj = get_object_or_404(Route, pk=pk) if pk else None
    return model_form_page(request, RouteForm(request.POST or None, instance=obj), kind="route", back="network",
                           saved_note=" Apply the network to use it.",
                           intro="A static route; 0.0.0.0/0 or ::/0 is the default gateway.")


def route_delete(request, pk):
    if not _writable(request):
        return redirect("network")
    obj = get_object_or_404(Route, pk=pk)
    return confirm_delete(request, obj, "route", "network", f"Route {obj} deleted: apply to remove it.")


def network_apply(request):
    if request.method != "POST" or not _writable(request):
        return redirect("network")
    form = ApplyForm(request.POST)
    if not form.is_valid():
        messages.error(request, "; ".join(form.errors["timeout"]))
        return redirect("network")
    timeout = form.cleaned_data["timeout"]
    try:
        start_change(request.user, request.user.get_username(), timeout, connected_address(request))
    except ChangeRefused as exc:
        messages.error(request, str(exc))
        return redirect("network")
    moved = reconnect_advice(connected_address(request), desired_network())
    if moved is not None:
        messages.warning(request, f"Your address {connected_address(request)} goes away: reconnect to "
                                  f"{', '.join(moved) or 'another address'} and confirm within {timeout} s.")
    else:
        messages.success(request, "Network change queued." + (f" Confirm it within {timeout} s." if timeout else ""))
    return redirect("network")


def network_confirm(request, pk):
    require(request, CONFIGURE)
    change = get_object_or_404(NetworkChange, pk=pk)
    if request.method == "POST":
        if confirm(change):
            messages.success(request, f"Network change #{change.pk} confirmed: it stays.")
        else:
            change.refresh_from_db()
            messages.error(request, f"Network change #{change.pk} is {change.get_status_display()}: "
                                    f"nothing to confirm.")
    return redirect("network")


SYSTEM_SECTIONS = [
    ("Host", "The host's name, resolvers and clock (written by the root writer when saved).",
     ["hostname", "dns_servers", "search_domains", "timezone", "ntp_servers", "time_daemon"]),
    ("Mail", "The relay alerts go through. Blank fields: the FULCRUM_SMTP_* environment settings.",
     ["smtp_host", "smtp_port", "smtp_user", "smtp_password", "smtp_starttls", "smtp_ssl", "smtp_from",
      "alert_emails"]),
    ("Logging", "", ["syslog_targets"]),
]


def system_settings(request):
    current = SystemSettings.load()
    owned, reason = network_owner()
    if request.method == "POST":
        require(request, CONFIGURE)
    form = SystemSettingsForm(request.POST or None, instance=SystemSettings.load())
    if request.method == "POST" and form.is_valid():
        try:
            changed = save_system_settings(current, form.cleaned_data, form.save)
        except HostNotOwned as exc:
            messages.error(request, f"Read-only here: {exc}")
        else:
            messages.success(request, "System settings saved." + (" The host applies them now." if changed else ""))
            return redirect("system-settings")
    sections = [{"title": t, "intro": i, "fields": [form[n] for n in names]} for t, i, names in SYSTEM_SECTIONS]
    return render(request, "netconfig/system.html", {"form": form, "sections": sections, "owned": owned,
                                                     "reason": reason})


def system_test(request, kind):
    require(request, CONFIGURE)
    if request.method == "POST":
        try:
            sent = (send_test_mail(request.POST.get("to", "").strip()) if kind == "mail"
                    else send_test_syslog(request.user.get_username()))
        except (ValueError, OSError) as exc:
            messages.error(request, f"Test {kind} not sent: {exc}")
        else:
            record("action", None, object_type="systemsettings", summary=f"test {kind} sent to {', '.join(sent)}")
            messages.success(request, f"Test {kind} sent to {', '.join(sent)}.")
    return redirect("system-settings")


CONTROL_WORDS = {"restart": "Restart", "reboot": "Reboot the host", "halt": "Halt the host"}


def system_control(request):
    ok, reason = control.availability()
    return render(request, "netconfig/control.html", {"available": ok, "reason": reason,
                                                      "services": control.service_states()})


def system_control_confirm(request, action, service=""):
    """GET: ask, saying what will happen; POST: request it (admins only)."""
    require(request, CONFIGURE)
    try:
        command = "systemctl " + " ".join(control.validate(action, service))
    except ValueError as exc:
        messages.error(request, str(exc))
        return redirect("system-control")
    if request.method == "POST":
        try:
            control.request(action, service, request.user.get_username())
        except control.ControlUnavailable as exc:
            messages.error(request, str(exc))
        else:
            record("action", None, object_type="systemcontrol", summary=f"{action} {service}".strip() + f": {command}")
            messages.success(request, f"Requested: {command}.")
        return redirect("system-control")
    what = f"{CONTROL_WORDS[action]} {service}".strip()
    return render(request, "netconfig/control_confirm.html", {"what": what, "command": command, "action": action})


def support(request):
    require(request, CONFIGURE)
    return render(request, "netconfig/support.html")


def support_download(request):
    require(request, CONFIGURE)
    name, data = build_archive()
    record("action", None, object_type="support", summary=f"support archive {name} downloaded")
    response = HttpResponse(data, content_type="application/gzip")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
