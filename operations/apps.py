from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "operations"
    verbose_name = "Operations: metrics, logging, alerts, management lockdown"

    def ready(self):
        from cluster import compile as cluster_compile

        from . import (
            alerts,  # noqa: F401 - connects the apply-failure and drift alert signals
            lockdown,  # noqa: F401 - connects the cache reset on management network changes
        )

        # The lockdown is a compile input: passed in, so cluster never imports operations.
        cluster_compile.management_spec.provide(lockdown.management_spec)
