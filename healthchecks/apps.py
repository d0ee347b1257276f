from django.apps import AppConfig


class HealthChecksConfig(AppConfig):
    name = "healthchecks"
    verbose_name = "Health checks"
