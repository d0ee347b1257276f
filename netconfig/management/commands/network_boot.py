from django.core.management.base import BaseCommand

from netconfig.apply import boot
from netconfig.ownership import network_owner


class Command(BaseCommand):
    help = "Re-apply the saved network configuration (run at boot, before the services)."

    def handle(self, *args, **options):
        owned, reason = network_owner()
        if not owned:
            self.stdout.write(f"network not managed here: {reason}")
            return
        self.stdout.write(boot())
