from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from cluster.boot import RestoreFailed, restore_kernel
from cluster.models import AppliedState
from netconfig.apply import boot
from netconfig.models import NetworkChange
from netconfig.ownership import network_owner


class Command(BaseCommand):
    help = ("Re-apply the saved network configuration, then the last applied kernel state (IPVS, the "
            "appliance's chains and addresses): run at boot, before the services.")

    def handle(self, *args, **options):
        tables = connection.introspection.table_names()
        if NetworkChange._meta.db_table not in tables or AppliedState._meta.db_table not in tables:
            self.stdout.write("nothing saved yet (database not migrated)")
            return  # the very first start: migrate runs later, and nothing was saved
        owned, reason = network_owner()
        self.stdout.write(boot() if owned else f"network not managed here: {reason}")
        # After the network: the VIPs go on interfaces it brings up. Whether or not the network is ours,
        # the kernel's load-balancing state is.
        try:
            self.stdout.write(restore_kernel())
        except RestoreFailed as exc:
            raise CommandError(str(exc)) from exc
