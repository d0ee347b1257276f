"""Celery tasks of the pair: configuration sync (retried with backoff) and the heartbeat."""

from __future__ import annotations

from celery import shared_task

from .replication import BACKOFF
from .sync import PeerError, heartbeat, push_config


@shared_task(bind=True, name="ha.sync", max_retries=len(BACKOFF))
def sync_task(self) -> dict:
    try:
        return push_config()
    except PeerError as exc:
        # The peer is down: retry with backoff; after that, the heartbeat catches it up when it returns.
        raise self.retry(exc=exc, countdown=BACKOFF[min(self.request.retries, len(BACKOFF) - 1)]) from None


@shared_task(name="ha.heartbeat")
def heartbeat_task() -> dict:
    return heartbeat()


@shared_task(name="ha.member_sync")
def member_sync_task(pk: int) -> dict:
    from .member_sync import push

    try:
        return push(pk)
    except PeerError as exc:
        return {"error": str(exc)}  # recorded on the member, with its next attempt; the member check retries


@shared_task(name="ha.members_check")
def members_check_task() -> int:
    """Fan out: one check per member, so a member that does not answer delays no other."""
    from .models import Member

    pks = list(Member.objects.values_list("pk", flat=True))
    for pk in pks:
        member_check_task.delay(pk)
    return len(pks)


@shared_task(name="ha.member_check")
def member_check_task(pk: int) -> dict:
    from .member_sync import check

    return check(pk)
