"""After each successful apply, re-run the checklists (kernel state changed: VIPs, rules, sysctls).

Today this listens to post_save of cluster.ApplyRun: `cluster.apply._finish` saves the run once,
at its end, with its final status. If the cluster app sends an explicit "apply finished" signal
later, connect `after_apply` to it instead (see the report in the checklists commit).
"""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from cluster.models import ApplyRun


@receiver(post_save, sender=ApplyRun, dispatch_uid="checklists.after_apply")
def after_apply(sender, instance: ApplyRun, created: bool = False, **kwargs) -> None:
    if created or instance.status != ApplyRun.SUCCESS or instance.finished_at is None:
        return
    from .tasks import start_recheck

    transaction.on_commit(lambda: start_recheck(actor=instance.username or "system", reason="apply"))
