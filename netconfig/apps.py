from django.apps import AppConfig


class NetconfigConfig(AppConfig):
    name = "netconfig"
    verbose_name = "Local network configuration"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        provide_to_lower_layers()


def provide_to_lower_layers() -> None:
    """What cluster needs from the host network, passed in so cluster never imports netconfig."""
    # Imported here: models load only once the app registry is ready.
    from cluster import bundle
    from cluster import models as cluster_models

    from . import bundle as network_bundle
    from .validation import interface_field_errors

    cluster_models.interface_errors.provide(interface_field_errors)
    bundle.export_network.provide(network_bundle.export_network)
    bundle.parse_network.provide(network_bundle.parse_network)
    bundle.replace_network.provide(network_bundle.replace_network)
