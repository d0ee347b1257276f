"""manage.py healthcheckd: run the health-check daemon in the foreground (SIGTERM/SIGINT stop it)."""

from __future__ import annotations

import asyncio
import signal

from django.core.management.base import BaseCommand

from healthchecks.daemon import HealthDaemon, make_driver


class Command(BaseCommand):
    requires_system_checks: list = []  # a daemon: the web-facing checks (URLs, templates) are not its concern
    help = ("Check every real server on its interval; on a transition set its kernel weight (quiesce, remove, "
            "restore, fallback), store the health and an event, mail the alert address, publish live status.")

    def add_arguments(self, parser):
        parser.add_argument("--dataplane", choices=["auto", "kernel", "render-only"], default="auto",
                            help="Kernel driver to change weights with (auto: the host's, like the worker).")
        parser.add_argument("--reload-every", type=float, default=30.0,
                            help="Seconds between periodic configuration reloads (Redis pub/sub is immediate).")
        parser.add_argument("--no-alerts", action="store_true", help="Do not send e-mail alerts.")

    def handle(self, *args, dataplane, reload_every, no_alerts, **options):
        driver = make_driver(None if dataplane == "auto" else dataplane)
        kind = type(driver).__name__
        self.stdout.write(f"healthcheckd: changing weights with {kind}")
        try:
            asyncio.run(self._main(driver, reload_every, not no_alerts))
        finally:
            driver.close()

    async def _main(self, driver, reload_every: float, alerts: bool) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        daemon = HealthDaemon(driver, reload_every=reload_every, alerts=alerts)
        await daemon.run(stop)
