"""Pair, unpair, show, or make a pairing token, from the command line."""

import json

from django.core.management.base import BaseCommand, CommandError

from ha import pairing
from ha.api.views import status_data
from ha.models import PairingToken


class Command(BaseCommand):
    help = ("HA pair: `hapair status`, `hapair token`, `hapair pair ADDRESS --user U --password P "
            "[--fingerprint SHA256]` (HTTPS/443 unless --scheme http --port N), `hapair unpair`.")

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["status", "token", "pair", "unpair"])
        parser.add_argument("address", nargs="?")
        # HTTPS by default, as in the WebUI and API: the offer carries the admin's password and the secret.
        parser.add_argument("--port", type=int, default=443)
        parser.add_argument("--scheme", default="https", choices=["https", "http"])
        parser.add_argument("--fingerprint", default="",
                            help="the peer's certificate SHA-256 fingerprint, as confirmed by the admin (a pair "
                                 "without it is refused with the fingerprint to confirm)")
        parser.add_argument("--user", default="")
        parser.add_argument("--password", default="")
        parser.add_argument("--token", default="")
        parser.add_argument("--role", default="master", choices=["master", "backup"])
        parser.add_argument("--name", default="")
        parser.add_argument("--my-port", type=int, default=443)

    def handle(self, *args, action, **o):
        try:
            if action == "token":
                reason = pairing.unconfigured_reason()
                if reason:
                    raise CommandError(f"This appliance cannot be paired: {reason}.")
                self.stdout.write(PairingToken.issue(30))
                return
            if action == "pair":
                if not o["address"]:
                    raise CommandError("pair needs the peer's address")
                pairing.pair(peer_address=o["address"], peer_port=o["port"], scheme=o["scheme"],
                             username=o["user"], password=o["password"], token=o["token"], role=o["role"],
                             node_name=o["name"], my_port=o["my_port"], fingerprint=o["fingerprint"])
            elif action == "unpair":
                self.stdout.write(pairing.unpair())
        except pairing.PairingRefused as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(json.dumps(status_data(), indent=2, default=str))
