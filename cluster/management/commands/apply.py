from django.core.management.base import BaseCommand

from cluster.apply import apply_now
from cluster.compile import cluster_spec
from cluster.writer import journal
from dataplane.compiler import compile_state
from dataplane.desired import DesiredState
from dataplane.diff import plan
from dataplane.oprender import render_ops
from dataplane.render import render_all


class Command(BaseCommand):
    help = ("Apply the configuration to this host's kernel (or, with --dry-run, print the commands an apply "
            "would run; with --full, everything the kernel would hold).")

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true",
                            help="Print the ipvsadm / iptables / ip addr / sysctl commands an apply would run, "
                                 "grouped and counted (as Logs › Apply runs shows them); change nothing.")
        parser.add_argument("--full", action="store_true",
                            help="With --dry-run: print the whole state the kernel would hold, not the changes.")

    def handle(self, *args, dry_run=False, full=False, **options):
        state = compile_state(cluster_spec())
        if dry_run:
            self.stdout.write(render_all(state) if full else self._changes(state))
            return

        run = apply_now(user=None, actor="cli:apply", progress=self._progress)
        self.stdout.write(run.report())
        if run.status != run.SUCCESS:
            raise SystemExit(1)

    @staticmethod
    def _changes(state: DesiredState) -> str:
        _, applied = journal()
        note = "" if applied is not None else (
            "# No trusted record of the kernel's state (never applied, or drift suspected): these are the\n"
            "# changes from an empty kernel; an apply reads the kernel first and makes only the difference.\n")
        ops = plan(applied or DesiredState.empty(), state)
        return note + (render_ops(ops) if ops else "# Nothing to change: the kernel holds this configuration.")

    def _progress(self, done: int, total: int, text: str):
        self.stderr.write(f"[{done}/{total}] {text}")
