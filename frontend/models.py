"""Failed logins, for throttling password guessing (per username and per client address)."""

from django.db import models


class FailedLogin(models.Model):
    username = models.CharField(max_length=150, db_index=True)
    address = models.GenericIPAddressField(null=True, blank=True, db_index=True)
    time = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-time"]

    def __str__(self):
        return f"{self.username} from {self.address} at {self.time:%Y-%m-%d %H:%M:%S}"
