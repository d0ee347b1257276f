from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Change log"

    def ready(self):
        from django.apps import apps

        from .recording import connect_audited_models

        connect_audited_models(apps.get_models())
