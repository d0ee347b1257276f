"""WebUI/API lockdown: only the management networks may reach the management port.

Enforced twice: by the web process (``LockdownMiddleware``: 403 outside) and by the appliance's own
netfilter chain FULCRUM-MGMT in the filter table (rules: ``dataplane.lockdown``, part of every
compile; ``push_lockdown`` puts a change in the kernel at once through the one kernel writer, which
needs CAP_NET_ADMIN: the worker runs it). No management network configured: no lockdown. Loopback and the paired HA peer
are always allowed (the peer syncs through the API). A change that would leave the admin making it
outside is refused (``lockout_error``).
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Iterable

from django.db.models.signals import post_delete, post_save
from django.http import HttpResponseForbidden

from cluster.writer import submit
from dataplane.config import ManagementSpec
from dataplane.lockdown import lockdown_ops, management_rules
from ha.models import Peer

from .models import ManagementNetwork

CACHE_SECONDS = 5.0

log = logging.getLogger(__name__)
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def management_ports() -> list[int]:
    """The TCP port(s) the WebUI/API listen on: FULCRUM_MGMT_PORTS (default 443)."""
    from django.conf import settings

    return [int(p) for p in str(settings.FULCRUM_MGMT_PORTS).replace(" ", "").split(",") if p]


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
    current = dict(ManagementNetwork.objects.values_list("pk", "network"))
    if delete:
        current.pop(pk, None)
    else:
        current[pk] = network
    return lockout_error(current.values(), address)


def peer_addresses() -> list[str]:
    try:
        peer = Peer.current()
    except Exception:  # noqa: BLE001 - no HA tables yet: no peer
        return []
    return [str(peer.address)] if peer else []


def current_networks() -> list[str]:
    return list(ManagementNetwork.objects.values_list("network", flat=True))


def management_spec() -> ManagementSpec:
    """The lockdown as the compiler takes it (dataplane/lockdown.py renders it into FULCRUM-MGMT)."""
    networks = current_networks()
    return ManagementSpec(networks=tuple(str(n) for n in parse_networks(networks)),
                          ports=tuple(management_ports()), always=tuple(peer_addresses()) if networks else ())


def push_lockdown() -> dict:
    """Put the lockdown in the kernel now, through the one kernel writer (journalled, so drift checks
    cover FULCRUM-MGMT and the next apply keeps it). Runs where the kernel is owned: the worker
    (task kernel.lockdown), the worker unit's start (manage.py mgmt_firewall), or embedded."""
    rules = management_rules(management_spec())
    outcome = submit(lambda current: lockdown_ops(current, rules))
    if not outcome.ok:
        raise RuntimeError(f"management lockdown refused by the kernel: {outcome.error()}")
    log.info("management lockdown applied networks=%s ports=%s", ",".join(current_networks()) or "any",
             ",".join(map(str, management_ports())))
    return {"operations": [op.describe() for op in outcome.applied]}


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
            from django.conf import settings

            if settings.CELERY_TASK_ALWAYS_EAGER:  # embedded: this process owns the kernel
                push_lockdown()
            else:
                from .tasks import lockdown_task  # operations.tasks imports this module

                lockdown_task.delay()
        except Exception as e:  # noqa: BLE001 - no broker: the worker applies it at its next start
            log.warning("management lockdown not sent to the kernel: %s", e)

    transaction.on_commit(kick)


post_save.connect(_changed, sender="operations.ManagementNetwork", dispatch_uid="operations-mgmt-save")
post_delete.connect(_changed, sender="operations.ManagementNetwork", dispatch_uid="operations-mgmt-delete")
