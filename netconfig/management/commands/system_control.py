"""Carry out the one System Control request waiting in the data directory (run as root by
fulcrum-control.service when fulcrum-control.path sees it). Only the actions of netconfig.control."""

import subprocess

from django.conf import settings
from django.core.management.base import BaseCommand

from netconfig.control import take_request, validate


class Command(BaseCommand):
    help = "Run the waiting System Control request (restart a Fulcrum service, reboot, halt)."

    def add_arguments(self, parser):
        parser.add_argument("--systemctl", default="systemctl", help="The systemctl program (tests: a recorder).")

    def handle(self, *args, systemctl="systemctl", **options):
        req = take_request(str(settings.DATA_DIR))
        if req is None:
            self.stdout.write("no request")
            return
        try:
            argv = [systemctl, *validate(str(req.get("action", "")), str(req.get("service", "")))]
        except ValueError as exc:
            self.stdout.write(f"refused: {exc}")
            return
        self.stdout.write(f"{req.get('user', '?')}: {' '.join(argv)}")
        subprocess.run(argv, check=False, timeout=120)
