from django.apps import AppConfig


class HaConfig(AppConfig):
    name = "ha"
    verbose_name = "HA clustered pair"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.conf import settings

        from . import signals  # noqa: F401  (connects the after-apply hook)

        # The peer heartbeat: reachability, and catching a returned peer up. Celery beat reads
        # the schedule after Django is set up, so adding it here needs no edit of settings.py.
        schedule = getattr(settings, "CELERY_BEAT_SCHEDULE", None)
        if isinstance(schedule, dict):
            schedule.setdefault("ha-heartbeat", {"task": "ha.heartbeat", "schedule": 5.0})
