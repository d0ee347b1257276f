from django.apps import AppConfig


class NetconfigConfig(AppConfig):
    name = "netconfig"
    verbose_name = "Local network configuration"
    default_auto_field = "django.db.models.BigAutoField"
