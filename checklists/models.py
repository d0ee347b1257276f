"""Checklist runs and their results, per service and real server."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from checklists.probes.engine import FAIL, NOT_RUN, PASS, WARN
from realservers.models import RealServer
from virtualservices.models import VirtualService

STATUSES = [(PASS, "Pass"), (FAIL, "Fail"), (WARN, "Warning"), (NOT_RUN, "Not run")]


class CheckRun(models.Model):
    """One run of the probes (on demand, or after an apply): for one service or for all."""

    QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
    RUN_STATUSES = [(QUEUED, "Queued"), (RUNNING, "Running"), (DONE, "Done"), (FAILED, "Failed")]

    service = models.ForeignKey(VirtualService, null=True, blank=True, on_delete=models.CASCADE,
                                related_name="check_runs", help_text="Blank: every service.")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    username = models.CharField(max_length=150, default="system")
    reason = models.CharField(max_length=20, default="manual", help_text="manual or apply")
    status = models.CharField(max_length=8, choices=RUN_STATUSES, default=QUEUED, db_index=True)
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    result_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"checklist run #{self.pk} {self.status}"

    def as_dict(self) -> dict:
        return {"id": self.pk, "status": self.status, "reason": self.reason, "username": self.username,
                "service": self.service_id, "queued_at": self.queued_at, "started_at": self.started_at,
                "finished_at": self.finished_at, "result_count": self.result_count, "error": self.error}


class CheckResult(models.Model):
    """The latest outcome of one check for a service (real_server blank) or one of its real servers."""

    service = models.ForeignKey(VirtualService, on_delete=models.CASCADE, related_name="check_results")
    real_server = models.ForeignKey(RealServer, null=True, blank=True, on_delete=models.CASCADE,
                                    related_name="check_results")
    key = models.CharField(max_length=20)
    status = models.CharField(max_length=8, choices=STATUSES)
    evidence = models.TextField(blank=True)
    facts = models.JSONField(default=dict, blank=True)
    checked_at = models.DateTimeField()
    run = models.ForeignKey(CheckRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="results")

    class Meta:
        ordering = ["service_id", "real_server_id", "key"]
        indexes = [models.Index(fields=["service", "real_server", "key"])]

    def __str__(self):
        return f"{self.service_id}/{self.real_server_id or '-'} {self.key}: {self.status}"
