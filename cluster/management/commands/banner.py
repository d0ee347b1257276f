from django.conf import settings
from django.core.management.base import BaseCommand

from cluster.mode import runtime_facts


class Command(BaseCommand):
    help = "Print what this appliance runs with: database, task queue, dataplane."

    def add_arguments(self, parser):
        parser.add_argument("--celery", default="", help="How Celery was started (from scripts/run).")
        parser.add_argument("--health", default="", help="How healthcheckd was started (from scripts/run).")
        parser.add_argument("--keepalived", default="", help="How keepalived is supervised (from scripts/run).")

    def handle(self, *args, celery="", health="", keepalived="", **options):
        facts = runtime_facts()
        db = settings.DATABASES["default"]
        database = (f"SQLite (embedded) at {db['NAME']}" if facts["database"] == "sqlite"
                    else f"{facts['database']} {db.get('HOST') or ''}/{db['NAME']}")
        dataplane = ("kernel: IPVS, netfilter and addresses are changed on Apply" if facts["dataplane"] == "kernel"
                     else "render-only: this host has no usable IPVS (or no root); Apply renders without "
                          "touching the kernel")
        celery = celery or ("tasks run in-process" if facts["celery_eager"] else
                            "Celery on Redis: kernel worker (queue kernel, privileged), task worker (default "
                            "queue, unprivileged)")
        lines = [f"Database : {database}", f"Tasks    : {celery}", f"Dataplane: {dataplane}"]
        if health:
            lines.append(f"Health   : {health}")
        if keepalived:
            lines.append(f"VRRP     : keepalived {keepalived}")
        width = max(len(line) for line in lines) + 4
        self.stdout.write("+" + "-" * width + "+")
        for line in ["Fulcrum Layer 4 load balancer", *lines]:
            self.stdout.write(f"|  {line.ljust(width - 2)}|")
        self.stdout.write("+" + "-" * width + "+")
