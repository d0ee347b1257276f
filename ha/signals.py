"""The after-apply hook: every successful apply (ApplyRun saved as success) refreshes keepalived
and, unless the peer asked for it, sends the configuration to the peer; in active-active mode the
edited member sends it to every member. Runs after commit."""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from cluster.models import ApplyRun

from .member_sync import after_apply as members_after_apply
from .replication import after_apply

log = logging.getLogger("fulcrum.ha")


@receiver(post_save, sender=ApplyRun, dispatch_uid="ha-after-apply")
def _applied(sender, instance: ApplyRun, created: bool, raw: bool = False, **kwargs):
    if raw or created or instance.status != ApplyRun.SUCCESS:
        return
    reason = instance.reason

    def run():
        for step in (after_apply, members_after_apply):  # the HA peer; active-active members
            try:
                step(reason)
            except Exception:
                log.exception("HA: after-apply step %s failed", step.__module__)

    transaction.on_commit(run)

