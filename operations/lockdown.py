"""WebUI/API lockdown: only the management networks may reach the management port.

Enforced twice: by the web process (``LockdownMiddleware``: 403 outside) and by the appliance's own
netfilter chain FULCRUM-MGMT in the filter table, jumped to from INPUT for the management port(s)
(``render_chain``: a pure iptables-restore renderer; ``apply_chain``: the worker runs it, it needs
CAP_NET_ADMIN). No management network configured: no lockdown. Loopback and the paired HA peer
are always allowed (the peer syncs through the API). A change that would leave the admin making it
outside is refused (``lockout_error``).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import subprocess
import time
from collections.abc import Iterable

from django.db.models.signals import post_delete, post_save
from django.http import HttpResponseForbidden

CHAIN = "FULCRUM-MGMT"
CACHE_SECONDS = 5.0

log = logging.getLogger(__name__)
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def management_ports() -> list[int]:
    """The TCP port(s) the WebUI/API listen on: FULCRUM_MGMT_PORTS (default 443)."""
    from django.conf import settings

    raw = getattr(settings, "FULCRUM_MGMT_PORTS", None) or os.environ.get("FULCRUM_MGMT_PORTS", "443")
    return [int(p) for p in str(raw).replace(" ", "").split(",") if p]


def parse_networks(values: Iterable[str]) -> list[Network]:
    return [ipaddress.ip_network(str(v), strict=False) for v in values]


def is_allowed(address: str, networks: Iterable[Network], extra: Iterable[str] = ()) -> bool:
    """True when there is no lockdown (no networks), or the address is loopback, extra, or inside one."""
    networks = list(networks)
    if not networks:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if getattr(ip, "ipv4_mapped", None):
        ip = ip.ipv4_mapped
    if ip.is_loopback or any(ip == ipaddress.ip_address(e) for e in extra if e):
        return True
    return any(ip.version == n.version and ip in n for n in networks)


def lockout_error(networks: Iterable[str], address: str | None) -> str | None:
    """Why this set of management networks would lock out the admin at ``address``, or None when safe."""
    nets = parse_networks(networks)
    if not nets:
        return None
    if not address:
        return "Your own address is unknown, so a lockdown cannot be checked against it; refused."
    if not is_allowed(address, nets):
        return (f"This would lock you out: your address {address} is not inside the allowed management "
                f"networks ({', '.join(str(n) for n in nets)}). Add a network that contains it first.")
    return None


def lockout_error_after(address: str | None, pk: int | None = None, network: str | None = None,
                        delete: bool = False) -> str | None:
    """lockout_error for the management networks as they would be after saving ``network`` as row
    ``pk`` (None: a new row) or deleting row ``pk``. Shared by the API and the WebUI."""
    from .models import ManagementNetwork

    current = dict(ManagementNetwork.objects.values_list("pk", "network"))
    if delete:
        current.pop(pk, None)
    else:
        current[pk] = network
    return lockout_error(current.values(), address)


# --------------------------------------------------------------------------- netfilter (pure renderer)

def render_chain(networks: Iterable[str], ports: Iterable[int], family: int = 4, *,
                 jump_ports: Iterable[int] = (), extra: Iterable[str] = ()) -> str:
    """iptables-restore --noflush input for the FULCRUM-MGMT chain of one address family.

    The chain declaration flushes it; it RETURNs loopback, the allowed networks and ``extra``
    addresses (the HA peer) and drops the rest. No networks: an empty chain (no lockdown).
    ``jump_ports``: the management ports whose INPUT jump is missing (inserted at the top).
    """
    nets = [n for n in parse_networks(networks) if n.version == family]
    lines = ["*filter", f":{CHAIN} - [0:0]"]
    if parse_networks(networks):  # a lockdown exists (of either family)
        lines.append(f"-A {CHAIN} -i lo -j RETURN")
        for addr in extra:
            if addr and ipaddress.ip_address(addr).version == family:
                lines.append(f"-A {CHAIN} -s {ipaddress.ip_network(addr)} -j RETURN")
        for n in nets:
            lines.append(f"-A {CHAIN} -s {n} -j RETURN")
        lines.append(f"-A {CHAIN} -j DROP")
    wanted = set(ports)
    for port in jump_ports:
        if port in wanted:
            lines.append(f"-I INPUT 1 -p tcp -m tcp --dport {int(port)} -j {CHAIN}")
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def peer_addresses() -> list[str]:
    try:
        from ha.models import Peer

        peer = Peer.current()
    except Exception:  # noqa: BLE001 - no HA tables yet: no peer
        return []
    return [str(peer.address)] if peer else []


def current_networks() -> list[str]:
    from .models import ManagementNetwork

    return list(ManagementNetwork.objects.values_list("network", flat=True))


def apply_chain(backend: str | None = None) -> dict:
    """Make the kernel's FULCRUM-MGMT chains (IPv4 and IPv6) match the database. Needs CAP_NET_ADMIN."""
    from dataplane.kernel.netfilter import Netfilter, NetfilterError

    nf = Netfilter(backend)
    networks, ports, extra = current_networks(), management_ports(), peer_addresses()
    done = {}
    for family in (4, 6):
        binary = nf.binary(family)
        missing = []
        for port in ports:
            check = subprocess.run([binary, "-w", "-C", "INPUT", "-p", "tcp", "-m", "tcp", "--dport", str(port),
                                    "-j", CHAIN], capture_output=True, text=True)
            if check.returncode != 0:
                missing.append(port)
        text = render_chain(networks, ports, family, jump_ports=missing, extra=extra)
        res = subprocess.run([nf.binary(family, "restore"), "-w", "--noflush"], input=text,
                             capture_output=True, text=True)
        if res.returncode != 0:
            raise NetfilterError(f"{nf.binary(family, 'restore')} failed: {res.stderr.strip()}")
        done[family] = text
    log.info("management lockdown applied networks=%s ports=%s", ",".join(networks) or "any",
             ",".join(map(str, ports)))
    return done


# --------------------------------------------------------------------------- the web process

_cache: dict = {"at": 0.0, "networks": None, "extra": []}


def _forget(**kwargs) -> None:
    _cache["at"] = 0.0


def cached_policy() -> tuple[list[Network], list[str]]:
    now = time.monotonic()
    if _cache["networks"] is None or now - _cache["at"] > CACHE_SECONDS:
        _cache["networks"] = parse_networks(current_networks())
        _cache["extra"] = peer_addresses() if _cache["networks"] else []
        _cache["at"] = now
    return _cache["networks"], _cache["extra"]


def _is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.is_loopback or bool(getattr(ip, "ipv4_mapped", None) and ip.ipv4_mapped.is_loopback)


class LockdownMiddleware:
    """403 for any request from outside the management networks (before login, API or static)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        address = request.META.get("REMOTE_ADDR", "")
        if _is_loopback(address):  # the local console is never locked out (and costs no query)
            return self.get_response(request)
        networks, extra = cached_policy()
        if not is_allowed(address, networks, extra):
            log.warning("management access refused remote=%s path=%s", address, request.path_info)
            return HttpResponseForbidden("This address may not manage the appliance.\n",
                                         content_type="text/plain; charset=utf-8")
        return self.get_response(request)


def _changed(sender, **kwargs) -> None:
    _forget()
    from django.db import transaction

    def kick():
        try:
            from .tasks import apply_mgmt_chain

            apply_mgmt_chain.delay()
        except Exception as e:  # noqa: BLE001 - no broker: the worker applies it at its next start
            log.warning("management lockdown not sent to the worker: %s", e)

    transaction.on_commit(kick)


post_save.connect(_changed, sender="operations.ManagementNetwork", dispatch_uid="operations-mgmt-save")
post_delete.connect(_changed, sender="operations.ManagementNetwork", dispatch_uid="operations-mgmt-delete")
