from django.apps import AppConfig


class ClusterConfig(AppConfig):
    name = "cluster"
    verbose_name = "Cluster"

    def ready(self):
        from .autoapply import connect

        connect()
        provide_to_lower_layers()


def provide_to_lower_layers() -> None:
    """What the domain apps below need from cluster, passed in so they never import it."""
    # Imported here: models load only once the app registry is ready.
    from realservers import actions
    from virtualservices import validation

    from .models import ACTIVE_ACTIVE, ClusterSettings
    from .runtime_state import apply_runtime_state

    actions.kernel_runtime_state.provide(apply_runtime_state)
    validation.cluster_is_active_active.provide(
        lambda: ClusterSettings.objects.filter(pk=1, mode=ACTIVE_ACTIVE).exists())
