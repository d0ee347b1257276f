"""Health transitions, stored one per change of a real server's health, with the reason."""

from __future__ import annotations

from django.db import models

from realservers.models import HEALTH_STATES, RealServer


class HealthEvent(models.Model):
    real_server = models.ForeignKey(RealServer, on_delete=models.CASCADE, related_name="health_events")
    at = models.DateTimeField(db_index=True)
    old_state = models.CharField(max_length=7, choices=HEALTH_STATES)
    new_state = models.CharField(max_length=7, choices=HEALTH_STATES)
    check_type = models.CharField(max_length=10)
    reason = models.CharField(max_length=300, help_text="The result that decided, e.g. 'connect timeout after 1.0 s'.")
    action = models.CharField(max_length=200, blank=True,
                              help_text="What healthcheckd did in the kernel, e.g. 'weight 0', 'fallback in'.")

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["real_server", "-at"], name="healthevent_rs_at")]

    def __str__(self):
        return f"{self.real_server_id}: {self.old_state} -> {self.new_state} ({self.reason})"


def recent_events_text(limit: int) -> str:
    """The newest transitions, one line each (the support archive's health-events.txt)."""
    return "".join(f"{e.at:%Y-%m-%d %H:%M:%S} {e}\n" for e in HealthEvent.objects.order_by("-at")[:limit])
