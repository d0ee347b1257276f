"""Carry the network configuration to the kernel, commit-confirmed.

``start_change`` (web) records a NetworkChange and hands it to the kernel worker; ``run_change``
(kernel worker) takes the kernel to the configured state under the host-wide apply lock,
remembering exactly what it held before; with a timeout the change then waits for ``confirm``
and ``expire`` rolls it back when the timer runs out. ``boot`` re-applies the last confirmed
state. ``_kernel_sync``/``_kernel_restore`` are the only two places that write the host network:
they run in the kernel worker under the one kernel lock (cluster.writer.kernel_lock), so they never
interleave with an apply, a runtime change or healthcheckd. Their record is the NetworkChange row
(the exact state before, for the rollback), not the IPVS journal: interfaces and routes are the
host's, not the load-balancing state the journal describes.
"""

from __future__ import annotations

import ipaddress
import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from audit.recording import record
from cluster.writer import kernel_lock
from dataplane import netstate as ns

from . import inventory
from .models import Interface, NetworkChange, Route
from .ownership import network_owner

log = logging.getLogger("fulcrum.netconfig")
DEFAULT_TIMEOUT = 120
MAX_TIMEOUT = 3600


class ChangeRefused(Exception):
    """The change would cut the admin off without a rollback timer; ``reconnect_to`` says where to go."""

    def __init__(self, message: str, reconnect_to: list[str]):
        super().__init__(message)
        self.reconnect_to = reconnect_to


def desired_network() -> ns.NetworkState:
    """The configured network as plain data (no Django objects)."""
    links, addresses = set(), set()
    for i in Interface.objects.all():
        links.add(ns.Link(i.name, i.kind, i.up, i.mtu or 0, i.parent, i.vlan_id or 0, i.bond_mode,
                          tuple(sorted(i.members or ()))))
        for text in i.addresses or ():
            a = ipaddress.ip_interface(text)
            addresses.add(ns.IfAddress(i.name, str(a.ip), a.network.prefixlen))
    routes = {ns.Route(r.destination, r.gateway or "", r.interface) for r in Route.objects.all()}
    return ns.NetworkState(frozenset(links), frozenset(addresses), frozenset(routes))


def last_confirmed() -> NetworkChange | None:
    return NetworkChange.objects.filter(status=NetworkChange.CONFIRMED).order_by("-id").first()


def _previous_names() -> set[str]:
    prev = last_confirmed()
    return ns.NetworkState.from_json(prev.desired).link_names() if prev else set()


def reconnect_advice(connected_to: str, desired: ns.NetworkState) -> list[str] | None:
    """None when the admin's address stays; else the addresses to reconnect to (on the same link
    first). Only an address on a link this change touches can move."""
    try:
        ip = str(ipaddress.ip_address(connected_to))
    except ValueError:
        return None  # connected by name: cannot tell, the timer still protects
    touched = desired.link_names() | _previous_names()
    live = inventory.host_links()
    on_link = [name for name, info in live.items()
               if name in touched and any(a.split("/")[0] == ip for a in info["addresses"])]
    if not on_link or any(a.address == ip for a in desired.addresses):
        return None
    same = [a.address for a in sorted(desired.addresses) if a.interface == on_link[0]]
    return same or [a.address for a in sorted(desired.addresses)]


def connected_address(request) -> str:
    """The address the admin's browser or client reached this appliance on (from the Host header)."""
    return request.get_host().rsplit(":", 1)[0].strip("[]")


def start_change(user, username: str, timeout: int, connected_to: str = "") -> NetworkChange:
    if NetworkChange.objects.filter(status__in=NetworkChange.OPEN).exists():
        raise ChangeRefused("A network change is still waiting: confirm it or let it roll back first.", [])
    desired = desired_network()
    advice = reconnect_advice(connected_to, desired)
    if advice is not None and timeout == 0:
        where = ", ".join(advice) or "an address on another interface"
        raise ChangeRefused(f"This change removes {connected_to}, the address you are connected through. "
                            f"Apply it with a rollback timer and reconnect to {where} to confirm.", advice)
    change = NetworkChange.objects.create(user=user if getattr(user, "pk", None) else None, username=username,
                                          timeout=timeout, desired=desired.to_json())
    record("action", change, object_type="networkchange", summary=f"network apply, rollback timer {timeout} s")
    from .tasks import dispatch_apply  # netconfig.tasks imports this module

    transaction.on_commit(lambda: dispatch_apply(change.pk))
    return change


def _kernel_sync(desired: ns.NetworkState, scope: set[str]):
    # pyroute2 (netlink) loads when the kernel is asked, not at import
    from dataplane.kernel.network import NetworkDriver, sync

    with NetworkDriver() as d:
        return sync(d, desired, scope)


def _kernel_restore(before_json: dict) -> list:
    # pyroute2 (netlink) loads when the kernel is asked, not at import
    from dataplane.kernel.network import NetworkDriver, Snapshot, restore

    with NetworkDriver() as d:
        return restore(d, Snapshot.from_json(before_json))


def run_change(change_id: int) -> NetworkChange:
    with kernel_lock():
        change = NetworkChange.objects.get(pk=change_id)
        if change.status != NetworkChange.QUEUED:
            return change
        owned, reason = network_owner()  # this process's own view: it is the one that would write
        if not owned:
            change.status, change.error, change.finished_at = NetworkChange.FAILED, reason, timezone.now()
            change.save()
            return change
        try:
            before, done = _kernel_sync(ns.NetworkState.from_json(change.desired), _previous_names())
        except Exception as exc:
            log.exception("network change #%s failed", change_id)
            change.status, change.error, change.finished_at = NetworkChange.FAILED, str(exc), timezone.now()
            change.save()
            return change
        change.before, change.ops = before.to_json(), [str(op) for op in done]
        if change.timeout:
            change.status = NetworkChange.AWAITING
            change.deadline = timezone.now() + timedelta(seconds=change.timeout)
        else:
            change.status, change.finished_at = NetworkChange.CONFIRMED, timezone.now()
        change.save()
    if change.status == NetworkChange.AWAITING:
        from .tasks import schedule_expiry  # netconfig.tasks imports this module

        schedule_expiry(change.pk, change.timeout)
    return change


def confirm(change: NetworkChange) -> bool:
    """Keep an awaiting change. False when it is no longer awaiting (rolled back, or done)."""
    n = NetworkChange.objects.filter(pk=change.pk, status=NetworkChange.AWAITING).update(
        status=NetworkChange.CONFIRMED, finished_at=timezone.now())
    if n:
        record("action", change, object_type="networkchange", summary="network change confirmed")
    return bool(n)


def expire(change_id: int) -> NetworkChange:
    """Roll an unconfirmed change back to exactly the state before it (after its deadline)."""
    with kernel_lock():
        change = NetworkChange.objects.get(pk=change_id)
        if change.status != NetworkChange.AWAITING:
            return change
        if change.deadline and timezone.now() < change.deadline:
            return change  # a timer that fired early (clock step): the later one acts
        try:
            _kernel_restore(change.before)
            change.status = NetworkChange.ROLLED_BACK
        except Exception as exc:
            log.exception("rolling back network change #%s failed", change_id)
            change.status, change.error = NetworkChange.FAILED, f"rollback failed: {exc}"
        change.finished_at = timezone.now()
        change.save()
    record("action", change, object_type="networkchange", summary=f"network change {change.status}: not confirmed")
    return change


def boot() -> str:
    """At boot, before the services: roll back what was never confirmed, re-apply the saved state."""
    with kernel_lock():
        for change in NetworkChange.objects.filter(status__in=[NetworkChange.QUEUED, NetworkChange.AWAITING]):
            if change.before:
                _kernel_restore(change.before)
            change.status, change.finished_at = NetworkChange.ROLLED_BACK, timezone.now()
            change.error = "not confirmed before a restart"
            change.save()
        saved = last_confirmed()
        if saved is None:
            return "no saved network configuration"
        _, done = _kernel_sync(ns.NetworkState.from_json(saved.desired), set())
    return f"re-applied network change #{saved.pk}: {len(done)} ops"
