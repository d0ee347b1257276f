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
