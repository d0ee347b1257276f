import signal
import threading

from django.core.management.base import BaseCommand

from ha.keepalived_service import supervise


class Command(BaseCommand):
    help = ("Supervise keepalived (the fulcrum-keepalived service): start it once the kernel worker has "
            "written its configuration, restart it if it exits, stop it on SIGTERM/SIGINT.")

    def handle(self, *args, **options):
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        supervise(stop)
