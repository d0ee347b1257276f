import json

from django.core.management.base import BaseCommand

from cluster.bundle import export_bundle


class Command(BaseCommand):
    help = "Print the configuration bundle (JSON) to stdout, or write it to a file."

    def add_arguments(self, parser):
        parser.add_argument("-o", "--output", help="Write to this file instead of stdout.")

    def handle(self, *args, output=None, **options):
        text = json.dumps(export_bundle(), indent=2, sort_keys=True)
        if output:
            with open(output, "w") as fh:
                fh.write(text + "\n")
            self.stderr.write(f"Configuration written to {output}")
        else:
            self.stdout.write(text)
