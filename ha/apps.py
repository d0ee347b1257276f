from django.apps import AppConfig


class HaConfig(AppConfig):
    name = "ha"
    verbose_name = "HA clustered pair"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import signals  # noqa: F401  (connects the after-apply hook)
