"""Local Configuration › Management access: the networks that may reach the WebUI and API (lockdown).

Same rules as /api/v1/management-networks/ (operations.models.canonical_network and
operations.lockdown.lockout_error_after): an admin can never save or delete their way out."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render

from accounts.roles import CONFIGURE
from operations.lockdown import is_allowed, lockout_error_after, management_ports, parse_networks, peer_addresses
from operations.models import ManagementNetwork

from ..forms import ManagementNetworkForm
from .common import confirm_delete, model_form_page, require


def _remote(request) -> str:
    return request.META.get("REMOTE_ADDR", "")


def management_access(request):
    networks, remote, peers = list(ManagementNetwork.objects.all()), _remote(request), peer_addresses()
    return render(request, "frontend/management_access.html", {
        "networks": networks, "remote": remote, "ports": management_ports(), "peers": peers,
        "remote_allowed": is_allowed(remote, parse_networks(n.network for n in networks), peers),
    })


def management_network_edit(request, pk=None):
    require(request, CONFIGURE)
    net = get_object_or_404(ManagementNetwork, pk=pk) if pk else None
    return model_form_page(
        request, ManagementNetworkForm(request.POST or None, instance=net, remote=_remote(request)),
        kind="management network", back="management-access", saved_note=" The lockdown changed at once.",
        intro="Only addresses inside the management networks may reach the WebUI and API (the console on "
              "loopback and the HA peer always may). The change takes effect at once, without an apply; a "
              "change that would lock you out is refused.")


def management_network_delete(request, pk):
    require(request, CONFIGURE)
    net = get_object_or_404(ManagementNetwork, pk=pk)
    if request.method == "POST":
        error = lockout_error_after(_remote(request), net.pk, delete=True)
        if error:
            messages.error(request, error)
            return redirect("management-access")
    return confirm_delete(request, net, "management network", "management-access",
                          f"Management network {net} deleted.",
                          detail="The lockdown changes at once; with no networks left, any address may "
                                 "reach the WebUI and API.")
