from django.apps import AppConfig


class HealthChecksConfig(AppConfig):
    name = "healthchecks"
    verbose_name = "Health checks"

    def ready(self):
        # Imported here: models load only once the app registry is ready.
        from django.db.models.signals import post_delete, post_save

        from netconfig import support
        from realservers.models import RealServer
        from virtualservices import validation
        from virtualservices.models import VirtualService

        from .checks.patterns import pattern_error
        from .models import recent_events_text
        from .signals import config_changed

        support.health_events.provide(recent_events_text)  # the support archive's section, passed in
        validation.pattern_error.provide(pattern_error)  # the matcher's own rule for saved patterns

        for model in (VirtualService, RealServer):
            post_save.connect(config_changed, sender=model, dispatch_uid=f"healthchecks-save-{model.__name__}")
            post_delete.connect(config_changed, sender=model, dispatch_uid=f"healthchecks-del-{model.__name__}")
