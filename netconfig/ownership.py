"""Whether this appliance owns the host's network, and if not, why (the pages say so, read-only)."""

from __future__ import annotations

import os

from django.conf import settings

from cluster.mode import reported_dataplane_mode


def network_owner() -> tuple[bool, str]:
    """(owned, reason). FULCRUM_MANAGE_NETWORK: "yes", "no" or "auto" (the default: owned when the
    dataplane is the kernel and this is not a container, whose network the container host owns)."""
    choice = settings.FULCRUM_MANAGE_NETWORK
    if choice == "no":
        return False, "FULCRUM_MANAGE_NETWORK=no: the host's network is managed outside Fulcrum."
    if choice == "yes":
        return True, ""

    if reported_dataplane_mode() != "kernel":
        return False, "This host is render-only (no kernel dataplane): Fulcrum does not change its network."
    if os.path.exists("/.dockerenv") or os.path.exists("/run/.containerenv"):
        return False, ("Fulcrum runs in a container: the container host owns the network. Run it with host "
                       "networking and FULCRUM_MANAGE_NETWORK=yes to manage interfaces here.")
    return True, ""
