from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Users, roles and API tokens"

    def ready(self):
        from . import schema  # noqa: F401  (registers the API token scheme with drf-spectacular)
