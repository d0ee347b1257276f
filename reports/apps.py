import os

from django.apps import AppConfig

SAMPLE_TASK = "reports.sample_stats"
SAMPLE_EVERY_SECONDS = float(os.environ.get("FULCRUM_STATS_SECONDS", "10"))


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = "Reports (traffic statistics)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from celery.signals import beat_init

        beat_init.connect(add_beat_entry, dispatch_uid="reports-beat-entry")


def add_beat_entry(sender=None, **kwargs):
    """Schedule the sampler in Celery beat without a settings entry (CELERY_BEAT_SCHEDULE wins if set)."""
    app = getattr(sender, "app", None)
    if app is None:
        return
    schedule = dict(app.conf.beat_schedule or {})
    if not any(entry.get("task") == SAMPLE_TASK for entry in schedule.values()):
        schedule["reports-sample-stats"] = {"task": SAMPLE_TASK, "schedule": SAMPLE_EVERY_SECONDS}
        app.conf.beat_schedule = schedule
