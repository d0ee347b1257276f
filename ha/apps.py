from django.apps import AppConfig


class HaConfig(AppConfig):
    name = "ha"
    verbose_name = "HA clustered pair"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        provide_to_lower_layers()
        from . import signals  # noqa: F401  (connects the after-apply hook)


def provide_to_lower_layers() -> None:
    """What the layers below need from the pair, passed in so they never import ha."""
    # Imported here: models load only once the app registry is ready.
    from cluster import compile as cluster_compile
    from cluster import validation as cluster_validation
    from netconfig import support
    from realservers import actions

    from . import keepalived
    from .models import Member, keepalived_holds_addresses

    cluster_compile.vrrp_holds_addresses.provide(keepalived_holds_addresses)
    cluster_validation.member_count.provide(Member.objects.count)
    actions.peer_runtime_change.provide(runtime_change_to_peers)
    support.keepalived_status.provide(keepalived.status)


def runtime_change_to_peers(servers) -> dict:
    """Online/drain/halt done here goes on to the HA peer and to the active-active members."""
    from . import member_sync, replication  # provided at ready(): these import models

    return {**replication.after_runtime_change(servers), **member_sync.after_runtime_change(servers)}
