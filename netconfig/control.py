"""System Control: restart Fulcrum's services, reboot or halt the host (admin only, confirmed, logged).

The web process cannot do any of it (unprivileged), so it leaves one request in the data directory;
fulcrum-control.path starts fulcrum-control.service, which runs ``manage.py system_control`` as root
to carry out exactly one of the allowed actions. States and uptimes are read with ``systemctl show``,
which needs no privilege.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass

from django.conf import settings

SERVICES = {  # what the page offers → the systemd unit
    "web": "fulcrum-web.service",
    "worker": "fulcrum-worker.service",  # the kernel worker
    "tasks": "fulcrum-tasks.service",  # the unprivileged worker
    "beat": "fulcrum-beat.service",
    "healthcheckd": "fulcrum-healthcheckd.service",
    "keepalived": "fulcrum-keepalived.service",  # supervised on its own, never the worker's child
}
HOST_ACTIONS = {"reboot": ["reboot"], "halt": ["poweroff"]}
REQUEST_FILE = "control.request"
SYSTEMD_DIR = "/run/systemd/system"  # exists when systemd is PID 1


class ControlUnavailable(Exception):
    pass


@dataclass(frozen=True)
class ServiceState:
    name: str
    unit: str
    active: str  # active / inactive / failed / ...
    sub: str
    since: float | None  # unix time it entered the active state

    @property
    def uptime(self) -> int | None:
        return int(time.time() - self.since) if self.active == "active" and self.since else None


def availability() -> tuple[bool, str]:
    if not os.path.isdir(SYSTEMD_DIR):
        return False, ("This host does not run systemd (a container or a development run): restart the "
                       "processes with the tools that started them.")
    return True, ""


def parse_show(name: str, unit: str, text: str) -> ServiceState:
    """``systemctl show --timestamp=unix -p ActiveState,SubState,ActiveEnterTimestamp`` output → state."""
    values = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    stamp = values.get("ActiveEnterTimestamp", "").lstrip("@")
    return ServiceState(name, unit, values.get("ActiveState", "unknown"), values.get("SubState", ""),
                        float(stamp) if stamp.replace(".", "", 1).isdigit() else None)


def service_states() -> list[ServiceState]:
    ok, _ = availability()
    out = []
    for name, unit in SERVICES.items():
        text = ""
        if ok:
            try:
                text = subprocess.run(["systemctl", "show", "--timestamp=unix", "-p", "ActiveState", "-p", "SubState",
                                       "-p", "ActiveEnterTimestamp", unit], capture_output=True, text=True,
                                      timeout=10).stdout
            except (OSError, subprocess.SubprocessError):
                text = ""  # shown as "unknown"
        out.append(parse_show(name, unit, text))
    return out


def validate(action: str, service: str = "") -> list[str]:
    """The systemctl arguments for one allowed action; ValueError names what is not allowed."""
    if action == "restart":
        if service not in SERVICES:
            raise ValueError(f"Unknown service {service!r}: one of {', '.join(SERVICES)}.")
        return ["restart", SERVICES[service]]
    if action in HOST_ACTIONS:
        return HOST_ACTIONS[action]
    raise ValueError(f"Unknown action {action!r}: restart, reboot or halt.")


def request(action: str, service: str, username: str) -> str:
    """Leave the request for the root unit; returns what will be done, for the log and the page."""
    ok, reason = availability()
    if not ok:
        raise ControlUnavailable(reason)
    args = validate(action, service)
    path = os.path.join(settings.DATA_DIR, REQUEST_FILE)
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump({"action": action, "service": service, "user": username, "at": time.time()}, fh)
    os.replace(tmp, path)
    return "systemctl " + " ".join(args)


def take_request(data_dir: str) -> dict | None:
    """The waiting request, removed so it runs once (the root unit calls this)."""
    path = os.path.join(data_dir, REQUEST_FILE)
    try:
        with open(path) as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    finally:
        if os.path.exists(path):
            os.unlink(path)
    return data if isinstance(data, dict) else None
