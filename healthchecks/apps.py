from django.apps import AppConfig


class HealthChecksConfig(AppConfig):
    name = "healthchecks"
    verbose_name = "Health checks"

    def ready(self):
        from django.db.models.signals import post_delete, post_save

        from realservers.models import RealServer
        from virtualservices.models import VirtualService

        from .signals import config_changed

        for model in (VirtualService, RealServer):
            post_save.connect(config_changed, sender=model, dispatch_uid=f"healthchecks-save-{model.__name__}")
            post_delete.connect(config_changed, sender=model, dispatch_uid=f"healthchecks-del-{model.__name__}")
