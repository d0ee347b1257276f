"""Cluster Configuration: Advanced (Autonat, timeouts, lock, auto-apply), floating IPs, HA pair."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render

from accounts.roles import CONFIGURE
from cluster.bgp import status as bgp_status
from cluster.models import BgpNeighbour, BgpSettings, ClusterSettings, FloatingIP

from ..forms import BgpNeighbourForm, BgpSettingsForm, ClusterSettingsForm, FloatingIPForm, PairForm
from .common import confirm_delete, model_form_page, refused_form, require
from .members import members_context

ADVANCED_SECTIONS = [
    ("Cluster mode", "Active/standby (one node, or an HA pair with VRRP) or active-active (every member serves, "
     "the router spreads flows by BGP ECMP).", ["mode"]),
    ("Interfaces", "", ["vip_interface", "autonat_interface"]),
    ("IPVS connection timeouts", "How long the kernel keeps an idle connection's entry.",
     ["tcp_timeout", "tcpfin_timeout", "udp_timeout"]),
    ("Apply behaviour", "", ["auto_apply", "lock"]),
]


def advanced(request):
    settings = ClusterSettings.load()
    if request.method == "POST":
        require(request, CONFIGURE)
    form = ClusterSettingsForm(request.POST or None, instance=settings)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Cluster settings saved.")
        return redirect("advanced")
    sections = [{"title": t, "intro": i, "fields": [form[n] for n in names]} for t, i, names in ADVANCED_SECTIONS]
    return render(request, "frontend/advanced.html", {"form": form, "sections": sections})


def floating_ips(request):
    return render(request, "frontend/floating_ips.html", {"ips": FloatingIP.objects.all()})


def floating_ip_edit(request, pk=None):
    require(request, CONFIGURE)
    fip = get_object_or_404(FloatingIP, pk=pk) if pk else None
    return model_form_page(
        request, FloatingIPForm(request.POST or None, instance=fip), kind="floating IP", back="floating-ips",
        intro="The active node holds floating IPs; use one as the NAT real servers' default gateway so it "
              "moves with a failover.")


def floating_ip_delete(request, pk):
    require(request, CONFIGURE)
    fip = get_object_or_404(FloatingIP, pk=pk)
    return confirm_delete(request, fip, "floating IP", "floating-ips", f"Floating IP {fip} deleted.")


def bgp(request):
    """Active-active: this member's BGP speaker, its neighbours, and the FRR configuration it loads (on a
    render-only host: would load), with the VIPs it announces now."""
    if request.method == "POST":
        require(request, CONFIGURE)
    form = BgpSettingsForm(request.POST or None, instance=BgpSettings.load())
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "BGP settings saved. Apply to load them into FRR.")
        return redirect("bgp")
    return bgp_page(request, form=form)


def bgp_page(request, form=None, join_form=None, status: int = 200):
    """The BGP page with its members section (frontend.views.members)."""
    form = form or BgpSettingsForm(instance=BgpSettings.load())
    return render(request, "frontend/bgp.html", {"form": form, "neighbours": BgpNeighbour.objects.all(),
                                                 "status": bgp_status(), **members_context(join_form)},
                  status=status)


def bgp_neighbour_edit(request, pk=None):
    require(request, CONFIGURE)
    neighbour = get_object_or_404(BgpNeighbour, pk=pk) if pk else None
    return model_form_page(
        request, BgpNeighbourForm(request.POST or None, instance=neighbour), kind="BGP neighbour", back="bgp",
        intro="An upstream router this member peers with over BGP, with BFD for fast failure detection.",
        saved_note=" Apply to load it into FRR.")


def bgp_neighbour_delete(request, pk):
    require(request, CONFIGURE)
    neighbour = get_object_or_404(BgpNeighbour, pk=pk)
    return confirm_delete(request, neighbour, "BGP neighbour", "bgp", f"BGP neighbour {neighbour} deleted.")


def ha_pair(request):
    """The HA pair as the ha app records it (installed separately); standalone when there is no peer."""
    from django.apps import apps

    try:
        Peer = apps.get_model("ha", "Peer")
    except LookupError:
        Peer = None
    peer, keepalived = None, None
    if Peer is not None:
        peer = Peer.objects.filter(pk=1).first()
        try:
            from ha.keepalived import status

            keepalived = status()
        except Exception:  # keepalived missing on this host: the page still shows the pairing
            keepalived = None
    form = PairForm(request.POST or None) if Peer is not None and peer is None else None
    if request.method == "POST":
        require(request, CONFIGURE)
        action = request.POST.get("action", "pair")
        if action in ("unpair", "sync") and peer is not None:
            from ha import pairing, replication

            if action == "unpair":
                said = pairing.unpair()
                messages.success(request, f"Unpaired{f': {said}' if said else ''}.")
            else:
                replication.sync_now()
                messages.success(request, "Configuration sync to the peer queued.")
            return redirect("ha")
        if action == "token" and Peer is not None and peer is None:
            return _pairing_token(request, peer, keepalived)
        if form is not None and form.is_valid():
            from ha.pairing import PairingRefused, pair

            try:
                done = pair(**form.cleaned_data, actor_note=f" by {request.user.username}")
            except PairingRefused as exc:
                form = refused_form(PairForm, request, form, exc)
            else:
                messages.success(request, f"Paired as {done.role} with {done.peer_name or done.address}.")
                return redirect("ha")
    return render(request, "frontend/ha.html", {"peer": peer, "keepalived": keepalived,
                                                "ha_available": Peer is not None, "form": form})


def _pairing_token(request, peer, keepalived):
    """Make a one-time pairing token on this (unconfigured) appliance, for the other one's pairing form."""
    from ha.models import PairingToken
    from ha.pairing import unconfigured_reason

    reason = unconfigured_reason()
    token = "" if reason else PairingToken.issue(30)
    if reason:
        messages.error(request, f"This appliance cannot become a peer: {reason}.")
    return render(request, "frontend/ha.html", {"peer": peer, "keepalived": keepalived, "ha_available": True,
                                                "form": PairForm(), "pairing_token": token})
