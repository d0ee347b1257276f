"""Alert e-mails for apply failures and drift, to the recipients and through the SMTP relay stored in
Local Configuration › System settings (FULCRUM_ALERT_EMAILS and FULCRUM_SMTP_* when none are stored), by
the one mailer, ``netconfig.system.send_alert``.

(Health transitions are mailed by healthcheckd to each service's alert address; failover by the ha app.)
A drift alert goes out when drift appears, not on every check while it lasts.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from cluster.models import ApplyRun, DriftCheck
from netconfig.system import send_alert

log = logging.getLogger(__name__)


@receiver(post_save, sender=ApplyRun, dispatch_uid="operations-apply-alert")
def apply_finished(sender, instance: ApplyRun, created: bool, update_fields=None, **kwargs):
    if instance.status not in (ApplyRun.FAILED, ApplyRun.SUCCESS):
        return
    log.info("apply finished run=%s status=%s reason=%s operations=%s duration_ms=%.0f user=%s",
             instance.pk, instance.status, instance.reason, instance.operation_count,
             instance.duration_ms or 0, instance.username)
    if instance.status == ApplyRun.FAILED:
        transaction.on_commit(lambda: send_alert(f"apply #{instance.pk} failed and was rolled back",
                                                 instance.report()))


@receiver(post_save, sender=DriftCheck, dispatch_uid="operations-drift-alert")
def drift_checked(sender, instance: DriftCheck, created: bool, **kwargs):
    if not created or not instance.drift:
        return
    previous = DriftCheck.objects.filter(pk__lt=instance.pk).order_by("-pk").values_list("drift", flat=True).first()
    log.warning("kernel drift detected check=%s differences=%s repaired=%s", instance.pk,
                len(instance.differences), instance.repaired)
    if previous:
        return  # still drifting: mailed when it began
    lines = "\n".join(f"  {d}" for d in instance.differences[:50])
    body = (f"The kernel no longer matches the applied configuration ({len(instance.differences)} difference(s)); "
            f"{'it was repaired' if instance.repaired else 'it was not repaired'}.\n\n"
            f"Operations that bring it back:\n{lines}\n")
    transaction.on_commit(lambda: send_alert("kernel drift detected", body))
