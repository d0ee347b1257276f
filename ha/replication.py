"""Replication to the HA peer: what the pair does after each apply or runtime change, and how sync runs
(a Celery task, or a thread when embedded)."""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import connection

from cluster.bundle import export_bundle
from cluster.mode import dataplane_mode
from cluster.models import ClusterSettings

from . import connsync, keepalived
from .models import MASTER, Event, Outbox, Peer
from .sync import SYNC_REASON, PeerError, next_version, push_config

log = logging.getLogger("fulcrum.ha")

BACKOFF = (0.5, 1, 2, 4, 8, 15, 30, 30, 30, 30, 60, 60, 60, 60, 60)  # seconds between attempts (~8 min)


def after_apply(reason: str) -> dict:
    """Called after every successful apply on this node (ha.signals)."""
    peer = Peer.current()
    if peer is None:
        return {"paired": False}
    result: dict = {"paired": True}
    if peer.role == MASTER and reason != SYNC_REASON:
        # The master's configuration is the pair's (as on vendor appliances): each of its applies is
        # sent to the backup. The backup never pushes, so a pairing-time apply there cannot
        # overwrite the master.
        version = next_version(peer.local_version)
        bundle = export_bundle(host_network=False)  # each node keeps its own interfaces and routes
        Outbox.objects.update_or_create(pk=1, defaults={"version": version, "bundle": bundle})
        Peer.objects.filter(pk=1).update(local_version=version, sync_state=Peer.OUT_OF_SYNC)
        start_sync()
        result["version"] = version
    if dataplane_mode() == "kernel":  # after queueing the sync: the backup need not wait for this
        result.update(refresh_kernel(peer))
    return result


def after_runtime_change(servers) -> dict:
    """Online/drain/halt on the master reaches the backup at once, so a drained server stays drained
    after a failover. Sent as the last applied bundle (the outbox) with these servers' states
    changed: configuration still waiting for Apply on the master does not travel with it."""
    peer = Peer.current()
    if peer is None or peer.role != MASTER:
        return {"paired": peer is not None}
    box = Outbox.objects.filter(pk=1).first()
    if box is None:
        return {"paired": True, "skipped": "nothing applied yet: the first apply carries it"}
    with_runtime_states(box.bundle, servers)
    version = next_version(peer.local_version)
    Outbox.objects.filter(pk=1).update(version=version, bundle=box.bundle)
    Peer.objects.filter(pk=1).update(local_version=version, sync_state=Peer.OUT_OF_SYNC)
    start_sync()
    return {"paired": True, "version": version}


def with_runtime_states(bundle: dict, servers) -> dict:
    """The last applied ``bundle`` (changed in place) with these servers' online/drain/halt states."""
    states = {(rs.service.label, rs.label): rs.admin_state for rs in servers}
    for service in bundle.get("virtual_services", []):
        for rs in service.get("real_servers", []):
            rs["admin_state"] = states.get((service.get("label"), rs.get("label")), rs.get("admin_state"))
    return bundle


def refresh_kernel(peer: Peer) -> dict:
    """keepalived (addresses, roles) and the connection sync daemons, from the current database."""
    out: dict = {}
    try:
        out["keepalived"] = keepalived.write_and_reload(keepalived.render(peer))
    except Exception as exc:  # reported, never fatal to the apply that already succeeded
        log.exception("HA: keepalived could not be configured")
        out["keepalived_error"] = str(exc)
        Event.objects.create(kind=Event.PEER, message=f"keepalived could not be configured: {exc}"[:500])
    try:
        iface = peer.sync_interface or ClusterSettings.load().vip_interface
        out["connection_sync"] = connsync.ensure(iface, peer.virtual_router_id)
    except Exception as exc:
        log.exception("HA: the IPVS sync daemon could not be started")
        out["connection_sync_error"] = str(exc)
    return out


_sync_lock = threading.Lock()
_again = threading.Event()


def sync_with_backoff(backoff=BACKOFF, sleep=time.sleep) -> bool:
    """Push until the peer has the newest configuration or the attempts run out (bounded)."""
    for pause in (*backoff, None):
        _again.clear()
        try:
            push_config()
            if not _again.is_set():
                return True
            continue  # an apply happened meanwhile: push the newer one at once
        except PeerError:
            if pause is None:
                return False
            sleep(pause)
    return False


def _sync_thread() -> None:
    try:
        while True:
            with _sync_lock:
                sync_with_backoff()
            if not _again.is_set():
                return
    finally:
        connection.close()


def start_sync() -> None:
    """Queue a sync for the worker; embedded (no Redis), a thread of this process does it."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        _again.set()
        if _sync_lock.locked():
            return  # the running thread sees _again and pushes the newest outbox
        threading.Thread(target=_sync_thread, name="ha-sync", daemon=True).start()
    else:
        from .tasks import sync_task  # ha.tasks imports this module

        sync_task.delay()


def sync_now() -> bool:
    """Push the configuration to the peer now, even if the peer says it has it. False: not paired."""
    if Peer.current() is None:
        return False
    Peer.objects.filter(pk=1).update(peer_version=0)
    start_sync()
    return True
