"""The change log: every configuration change with its user, time and before/after."""

from django.conf import settings
from django.db import models

from .diff import record_changes


class ChangeRecord(models.Model):
    CREATE, UPDATE, DELETE, ACTION = "create", "update", "delete", "action"
    ACTIONS = [(CREATE, "create"), (UPDATE, "update"), (DELETE, "delete"), (ACTION, "action")]

    time = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    username = models.CharField(max_length=150, help_text="Kept when the user is deleted.")
    action = models.CharField(max_length=10, choices=ACTIONS)
    object_type = models.CharField(max_length=64, db_index=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    summary = models.CharField(max_length=300, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    @property
    def changes(self) -> list[str]:
        """Field-level "field before → after" lines (secrets hidden), for the change log."""
        return record_changes(self.action, self.before, self.after, self.summary)

    def __str__(self):
        return f"{self.time:%Y-%m-%d %H:%M:%S} {self.username} {self.action} {self.object_type} {self.object_repr}"
