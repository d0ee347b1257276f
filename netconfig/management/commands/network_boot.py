from django.core.management.base import BaseCommand
from django.db import connection

from netconfig.apply import boot
from netconfig.models import NetworkChange
from netconfig.ownership import network_owner


class Command(BaseCommand):
    help = "Re-apply the saved network configuration (run at boot, before the services)."

    def handle(self, *args, **options):
        owned, reason = network_owner()
        if not owned:
            self.stdout.write(f"network not managed here: {reason}")
            return
        if NetworkChange._meta.db_table not in connection.introspection.table_names():
            self.stdout.write("no saved network configuration yet (database not migrated)")
            return  # the very first start: migrate runs later, and nothing was saved
        self.stdout.write(boot())
