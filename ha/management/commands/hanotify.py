"""keepalived's notify: ``hanotify TYPE NAME STATE [PRIORITY]`` (keepalived appends these four).

Records this appliance's VRRP state so the API, the pages and the sync know who holds the
addresses. Must be quick and must never fail keepalived's transition: errors are logged only.
Run behind flock (ha.keepalived.notify_argv): a notification older than the one already recorded
(it lost the race for the lock on a flapping link) is logged and otherwise ignored.
"""

import logging
import os

from django.core.management.base import BaseCommand
from django.utils import timezone

from ha.keepalived import notify_birth, record_state
from ha.models import Event, Peer

log = logging.getLogger("fulcrum.ha")


class Command(BaseCommand):
    help = "Record a keepalived (VRRP) state transition. Called by keepalived's notify."

    def add_arguments(self, parser):
        parser.add_argument("type", help="INSTANCE or GROUP")
        parser.add_argument("name", help="vrrp_instance or vrrp_sync_group name")
        parser.add_argument("state", help="MASTER, BACKUP, FAULT or STOP")
        parser.add_argument("priority", nargs="?", default="")

    def handle(self, *args, type, name, state, priority, **options):
        state = state.upper()[:8]
        try:
            if not record_state(state, notify_birth(os.getppid())):
                log.info("hanotify: %s %s %s is older than the state already recorded; ignored", type, name, state)
                self.stdout.write(f"{name} {state} (stale, ignored)")
                return
            Peer.objects.filter(pk=1).update(vrrp_state=state, vrrp_changed_at=timezone.now())
            Event.objects.create(kind=Event.ROLE, message=f"{type.lower()} {name} is now {state}"
                                                          + (f" (priority {priority})" if priority else ""))
        except Exception:
            log.exception("hanotify: could not record %s %s %s", type, name, state)
        self.stdout.write(f"{name} {state}")
