"""Small questions other apps ask about the HA pair (imported lazily, so cluster never depends on ha)."""

from __future__ import annotations


def keepalived_holds_addresses() -> bool:
    """In a pair, keepalived holds the VIPs and floating IPs (on the master only), not the apply."""
    from .models import Peer

    return Peer.objects.filter(pk=1).exists()
