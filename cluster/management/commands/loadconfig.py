import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from appliance.gate import parse_json_bytes
from audit.context import acting_as
from cluster.bundle import DELETE_ALL_CONFIRMATION, MODES, REPLACE, import_bundle, preview


class Command(BaseCommand):
    help = "Replace the configuration with a bundle file, all or nothing (validated first)."

    def add_arguments(self, parser):
        parser.add_argument("file", help="A bundle written by exportconfig or GET /api/v1/config/ ('-' = stdin).")
        parser.add_argument("--dry-run", action="store_true", help="Validate and show what would change.")
        parser.add_argument("--mode", choices=MODES, default=REPLACE,
                            help="replace: the bundle becomes the configuration; merge: add and update only.")
        parser.add_argument("--confirm", default="", help=f"'{DELETE_ALL_CONFIRMATION}' lets a replace with no "
                                                          "virtual services delete them all.")

    def handle(self, *args, file, dry_run=False, mode=REPLACE, confirm="", **options):
        try:
            if file == "-":
                import sys

                bundle = parse_json_bytes(sys.stdin.buffer.read())
            else:
                with open(file, "rb") as fh:
                    bundle = parse_json_bytes(fh.read())
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read {file}: {exc}") from exc
        try:
            with acting_as(None, "cli:loadconfig"):
                result = preview(bundle, mode) if dry_run else import_bundle(bundle, mode=mode, confirm=confirm)
        except ValidationError as exc:
            lines = [f"{path}: {msg}" for path, msgs in exc.message_dict.items() for msg in msgs]
            raise CommandError("The bundle was not loaded; nothing changed:\n  " + "\n  ".join(lines)) from exc
        self.stdout.write(json.dumps(result, indent=2))
