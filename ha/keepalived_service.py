"""keepalived's own supervisor: ``manage.py keepalived`` (the fulcrum-keepalived unit, the compose
service, scripts/run, the kernel lab).

It waits until the kernel worker has written a configuration, runs keepalived in the foreground as
its child, starts it again if it exits (after a pause, so a broken configuration cannot spin) and
stops it when told to. The worker only writes the file and sends SIGHUP (ha/keepalived.py), so a
worker restart, crash or upgrade leaves keepalived, and the VIPs it holds, untouched.
"""

from __future__ import annotations

import logging
import subprocess
import threading

from .keepalived import conf_path, keepalived_argv

log = logging.getLogger("fulcrum.ha")

POLL_SECONDS = 0.5
RESTART_PAUSE_SECONDS = 2.0
STOP_GRACE_SECONDS = 10.0


def supervise(stop: threading.Event, poll: float = POLL_SECONDS, pause: float = RESTART_PAUSE_SECONDS) -> None:
    """Keep keepalived running while a configuration exists, until ``stop`` is set."""
    child: subprocess.Popen | None = None
    try:
        while not stop.is_set():
            if child is not None and child.poll() is not None:
                log.warning("HA: keepalived exited with status %s", child.returncode)
                child = None
                if stop.wait(pause):
                    break
            if child is None and conf_path().exists():
                child = subprocess.Popen(keepalived_argv())
                log.info("HA: keepalived started (pid %s) with %s", child.pid, conf_path())
            stop.wait(poll)
    finally:
        if child is not None and child.poll() is None:
            child.terminate()  # keepalived removes the addresses it holds as it exits
            try:
                child.wait(STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
