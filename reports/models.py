"""Traffic statistics per virtual service, sampled from the kernel's IPVS counters.

Rows are keyed by the service's label, not a foreign key: labels are unique and survive a backup
restore (which recreates services with new ids), and a raw bulk delete of services never trips over
statistics rows. Rows of services that no longer exist are pruned by the sampler.
"""

from django.db import models


class ServiceStats(models.Model):
    """The latest counters of one service, its real servers', and a short history for sparklines."""

    label = models.CharField(max_length=64, unique=True)
    time = models.DateTimeField()
    active_conns = models.PositiveBigIntegerField(default=0)
    inactive_conns = models.PositiveBigIntegerField(default=0)
    # Raw kernel counters as last seen, to turn the next sample into rates.
    conns_total = models.PositiveBigIntegerField(default=0)
    in_bytes = models.PositiveBigIntegerField(default=0)
    out_bytes = models.PositiveBigIntegerField(default=0)
    cps = models.FloatField("new connections per second", default=0)
    in_bps = models.FloatField("bytes per second in", default=0)
    out_bps = models.FloatField("bytes per second out", default=0)
    history_time = models.DateTimeField(null=True, blank=True, help_text="When a history row was last written.")
    spark = models.JSONField(default=list, help_text="Recent [active connections, bytes/s] pairs, oldest first.")
    servers = models.JSONField(default=dict, help_text="Real server id → [active, inactive] connections.")

    class Meta:
        verbose_name_plural = "service stats"

    def __str__(self):
        return f"{self.label} @ {self.time:%H:%M:%S}"


class ServiceSample(models.Model):
    """One point of a service's history, for the Reports charts."""

    label = models.CharField(max_length=64)
    time = models.DateTimeField()
    active_conns = models.PositiveBigIntegerField(default=0)
    inactive_conns = models.PositiveBigIntegerField(default=0)
    cps = models.FloatField(default=0)
    in_bps = models.FloatField(default=0)
    out_bps = models.FloatField(default=0)

    class Meta:
        indexes = [models.Index(fields=["label", "time"]), models.Index(fields=["time"])]
        ordering = ["time"]

    def __str__(self):
        return f"{self.label} @ {self.time:%Y-%m-%d %H:%M}"
