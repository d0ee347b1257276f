"""Configuration sync to the active-active members: one signed push per member, state per member.

After each apply on the edited member its bundle becomes the member outbox (a new version) and is
pushed to every member at once, each in its own task (or thread, embedded), so a slow member holds up
no other. A failed push marks that member out of sync and sets its next attempt by BACKOFF; the
member check (every few seconds, ha.tasks) retries it when due, and catches up a member that lost or
never had the newest version. A member applies what it receives through its own writer (apply_now).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from cluster.bundle import export_bundle
from cluster.models import ClusterSettings

from .models import EditedMember, Event, Member, MemberOutbox, default_node_name
from .replication import BACKOFF, with_runtime_states
from .sync import PeerError, import_and_apply, next_version, positive_version, post

log = logging.getLogger("fulcrum.ha")

MEMBER_API = "/api/v1/cluster/members/peer"
MEMBER_SYNC_REASON = "member-sync"  # ApplyRun.reason of an apply the edited member sent (never pushed on)


def backoff(failures: int) -> timedelta:
    """The pause after the `failures`-th failed push in a row."""
    return timedelta(seconds=BACKOFF[min(max(failures, 1), len(BACKOFF)) - 1])


def after_apply(reason: str) -> dict:
    """After a successful apply here: on the edited member, the new configuration goes to every member."""
    if reason == MEMBER_SYNC_REASON or EditedMember.objects.exists():
        return {}  # a member never pushes: its configuration comes from the edited member
    if not ClusterSettings.load().active_active:
        if Member.objects.exists():
            # Pushed, a single/HA-pair mode would put the same VIPs on every member's interface (ARP fights).
            message = "not sent: this appliance left active-active mode; remove the members or switch back"
            Member.objects.update(sync_state=Member.OUT_OF_SYNC, last_sync_error=message)
            Event.objects.create(kind=Event.SYNC, message=f"members: configuration {message}")
        return {}
    box = MemberOutbox.objects.filter(pk=1).first()
    version = next_version(box.version if box else 0)
    MemberOutbox.objects.update_or_create(pk=1, defaults={"version": version,
                                                          "bundle": export_bundle(host_network=False)})
    # A new version is tried at once on every member, whatever its backoff was.
    Member.objects.update(sync_state=Member.OUT_OF_SYNC, failures=0, next_attempt_at=None)
    start_sync()
    return {"members_version": version}


def after_runtime_change(servers) -> dict:
    """Online/drain/halt on the edited member reaches every member at once (a drained server must stop
    taking new flows on whichever member the router picks): the last pushed version with these servers'
    states changed. Configuration still waiting for Apply here does not travel with it."""
    if EditedMember.objects.exists() or not Member.objects.exists():
        return {}
    box = MemberOutbox.objects.filter(pk=1).first()
    if box is None:
        return {"members": "nothing applied yet: the first apply carries it"}
    version = next_version(box.version)
    MemberOutbox.objects.filter(pk=1).update(version=version, bundle=with_runtime_states(box.bundle, servers))
    Member.objects.update(sync_state=Member.OUT_OF_SYNC, failures=0, next_attempt_at=None)
    start_sync()
    return {"members_version": version}


def _mark(pk: int, **fields) -> None:
    Member.objects.filter(pk=pk).update(**fields)


def push(pk: int) -> dict:
    """Send the outbox to member `pk` unless it has it. PeerError (its state updated) when it fails."""
    member = Member.objects.filter(pk=pk).first()
    box = MemberOutbox.objects.filter(pk=1).first()
    if member is None or box is None:
        return {"skipped": "no such member" if member is None else "nothing applied yet"}
    if member.version == box.version:
        return {"version": box.version, "skipped": "the member has it"}
    _mark(pk, sync_state=Member.SYNCING)
    started = time.monotonic()
    try:
        answer = post(member, f"{MEMBER_API}/config/", {"version": box.version, "from": default_node_name(),
                                                        "bundle": box.bundle})
        if answer.get("apply") == "failed":
            raise PeerError(f"the member imported version {box.version} but its apply failed: "
                            f"{answer.get('error')}")
    except PeerError as exc:
        failures = member.failures + 1
        _mark(pk, sync_state=Member.OUT_OF_SYNC, last_sync_error=str(exc)[:2000], reachable=exc.status is not None,
              failures=failures, next_attempt_at=timezone.now() + backoff(failures))
        Event.objects.create(kind=Event.SYNC, message=f"member {member.peer_name or member.address}: sync of "
                                                      f"version {box.version} failed: {exc}"[:500])
        log.warning("members: sync of version %s to %s failed: %s", box.version, member.address, exc)
        raise
    now = timezone.now()
    acked = int(answer.get("version") or 0)
    _mark(pk, sync_state=Member.IN_SYNC if acked == box.version else Member.OUT_OF_SYNC, version=acked,
          last_sync_at=now, last_sync_error="", reachable=True, last_contact_at=now, failures=0,
          next_attempt_at=None, peer_name=str(answer.get("node", ""))[:63] or member.peer_name)
    ms = (time.monotonic() - started) * 1000
    Event.objects.create(kind=Event.SYNC, message=f"member {member.peer_name or member.address} took version "
                                                  f"{box.version} in {ms:.0f} ms")
    return {"version": acked, "ms": ms, **{k: answer[k] for k in ("apply", "operations") if k in answer}}


def check(pk: int) -> dict:
    """One member's periodic check: push when it is behind and its backoff is over; otherwise ask for its
    version (a member that restarted from an older state is caught up next time)."""
    member = Member.objects.filter(pk=pk).first()
    box = MemberOutbox.objects.filter(pk=1).first()
    if member is None:
        return {"skipped": "no such member"}
    if member.next_attempt_at and member.next_attempt_at > timezone.now():
        return {"waiting": member.next_attempt_at.isoformat()}  # backoff: a silent member is asked less often
    if box is not None and member.version != box.version:
        try:
            return push(pk)
        except PeerError as exc:
            return {"error": str(exc)}
    try:
        answer = post(member, f"{MEMBER_API}/status/", {"from": default_node_name()}, timeout=3.0)
    except PeerError as exc:
        failures = member.failures + 1
        _mark(pk, reachable=exc.status is not None, last_sync_error=str(exc)[:2000], failures=failures,
              next_attempt_at=timezone.now() + backoff(failures))
        return {"reachable": False, "error": str(exc)}
    acked = int(answer.get("version") or 0)
    behind = box is not None and acked != box.version
    _mark(pk, reachable=True, last_contact_at=timezone.now(), version=acked, failures=0, next_attempt_at=None,
          **({"sync_state": Member.OUT_OF_SYNC} if behind else {}))
    if behind:  # e.g. restored from an older backup: caught up now
        try:
            return {"reachable": True, "behind": True, "sync": push(pk)}
        except PeerError as exc:
            return {"reachable": True, "behind": True, "error": str(exc)}
    return {"reachable": True, "version": acked, "behind": False}


def sync_now(pk: int | None = None) -> int:
    """Push to one member (or all) now, even if it says it has the configuration. How many members."""
    members = Member.objects.all() if pk is None else Member.objects.filter(pk=pk)
    pks = list(members.values_list("pk", flat=True))
    Member.objects.filter(pk__in=pks).update(version=0, failures=0, next_attempt_at=None)
    start_sync(pks)
    return len(pks)


def _push_thread(pk: int) -> None:
    try:
        push(pk)
    except PeerError:
        pass  # recorded on the member; the member check retries it when its backoff is over
    finally:
        connection.close()


def start_sync(pks=None) -> None:
    """Queue a push to each member (default: all); embedded (no Redis), one thread per member."""
    if pks is None:
        pks = list(Member.objects.values_list("pk", flat=True))
    for pk in pks:
        if settings.CELERY_TASK_ALWAYS_EAGER:
            threading.Thread(target=_push_thread, args=(pk,), name=f"member-sync-{pk}", daemon=True).start()
        else:
            from .tasks import member_sync_task

            member_sync_task.delay(pk)


# --------------------------------------------------------------------------- on a member


def receive(edited: EditedMember, payload: dict) -> dict:
    """Validate, import and apply the configuration the edited member sent. BundleError when invalid."""
    version = positive_version(payload)
    edited.refresh_from_db()
    me = edited.node_name
    if version <= edited.local_version:
        return {"version": edited.local_version, "apply": "unchanged", "node": me}  # a retry, or overtaken
    run = import_and_apply(payload.get("bundle"), f"edited member {edited.peer_name or edited.address}",
                           MEMBER_SYNC_REASON)
    now = timezone.now()
    if run.status != run.SUCCESS:
        EditedMember.objects.filter(pk=1).update(last_sync_error=run.error[:2000])
        Event.objects.create(kind=Event.SYNC, message=f"version {version} from the edited member: apply failed: "
                                                      f"{run.error}"[:500])
        return {"version": edited.local_version, "apply": "failed", "error": run.error, "node": me}
    EditedMember.objects.filter(pk=1).update(local_version=version, last_sync_at=now, last_sync_error="")
    Event.objects.create(kind=Event.SYNC, message=f"applied version {version} from the edited member "
                                                  f"({run.operation_count} kernel operations)")
    return {"version": version, "apply": "success", "operations": run.operation_count, "node": me}
