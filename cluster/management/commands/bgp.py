from django.core.management.base import BaseCommand, CommandError

from cluster import bgp


class Command(BaseCommand):
    help = ("Active-active BGP: 'show' prints the FRR configuration this member loads (passwords masked) and "
            "the VIPs it announces; 'reload' loads it into the running FRR; 'withdraw' announces nothing "
            "(clean shutdown: the worker unit's ExecStop).")

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["show", "reload", "withdraw"])

    def handle(self, *args, action, **options):
        if action == "show":
            status = bgp.status()
            self.stdout.write(status["config"])
            self.stdout.write(f"! announced now: {', '.join(status['announced']) or 'nothing'}; "
                              f"BFD detection {status['bfd_detection_ms']} ms")
            return
        try:
            result = bgp.after_apply() if action == "reload" else bgp.withdraw()
        except RuntimeError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"BGP {action}: {result}")
