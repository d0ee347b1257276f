from django.core.management.base import BaseCommand

from cluster.compile import cluster_spec
from dataplane.compiler import compile_state
from dataplane.render import render_all


class Command(BaseCommand):
    help = "Apply the configuration to this host's kernel (or, with --dry-run, print what it would hold)."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true",
                            help="Print the ipvsadm, iptables, sysctl and address text; change nothing.")

    def handle(self, *args, dry_run=False, **options):
        state = compile_state(cluster_spec())
        if dry_run:
            self.stdout.write(render_all(state))
            return
        from cluster.apply import apply_now

        run = apply_now(user=None, actor="cli:apply", progress=self._progress)
        self.stdout.write(run.report())
        if run.status != run.SUCCESS:
            raise SystemExit(1)

    def _progress(self, done: int, total: int, text: str):
        self.stderr.write(f"[{done}/{total}] {text}")
