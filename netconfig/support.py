"""The technical-support archive: one .tar.gz a vendor's support would ask for, every secret masked.

Sections are plain text or JSON files. Kernel sections that need privilege (ipvsadm, iptables-save)
come from the kernel worker (``kernel.support_snapshot``); what the web process can read itself
(``ip``, keepalived's state, the database) it reads. A section that cannot be had says why.
"""

from __future__ import annotations

import io
import json
import platform
import tarfile
import time
from importlib import metadata

from appliance.hooks import Slot
from audit.diff import MASK, SECRET_WORDS
from audit.models import ChangeRecord
from cluster.bundle import export_bundle
from cluster.models import ApplyRun
from dataplane.kernel.snapshot import kernel_sections, run

from .models import NetworkChange, SystemSettings
from .tasks import support_snapshot_task

LOG_LINES = 500
RECENT = 200
MASKED_KEYS = SECRET_WORDS + ("check_secret", "smtp_password")

# Sections owned by the apps above netconfig, passed in when they are ready (never imported here).
keepalived_status = Slot("netconfig.support.keepalived_status", "ha")  # () -> keepalived's state
health_events = Slot("netconfig.support.health_events", "healthchecks")  # (limit) -> text, newest first


def masked(value):
    """The value with every secret-named key's value replaced (recursively)."""
    if isinstance(value, dict):
        return {k: (MASK if any(w in str(k).lower() for w in MASKED_KEYS) and v not in ("", None)
                    else masked(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


def _versions() -> dict:
    packages = {}
    for name in ("fulcrum", "Django", "djangorestframework", "celery", "pyroute2", "redis", "psycopg"):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    return {"python": platform.python_version(), "kernel": platform.release(), "machine": platform.machine(),
            "packages": packages, "keepalived": run(["keepalived", "--version"], 5).strip()[:300]}


def _kernel_from_worker() -> dict[str, str]:
    from django.conf import settings

    try:
        if settings.CELERY_TASK_ALWAYS_EAGER:
            return kernel_sections()
        if not _worker_alive():
            return {"kernel-sections-unavailable.txt": "No kernel worker is running (it publishes its status "
                                                       "every few seconds and none is there).\n"}
        return support_snapshot_task.delay().get(timeout=20)
    except Exception as exc:  # noqa: BLE001 - the archive is still worth having without these
        return {"kernel-sections-unavailable.txt": f"The kernel worker did not answer: {exc}\n"}


def _worker_alive() -> bool:
    from cluster.status import snapshot

    return snapshot() is not None  # None with Redis down: no worker can answer either


def sections() -> dict[str, str]:
    from django.forms.models import model_to_dict

    def as_json(data) -> str:
        return json.dumps(data, indent=2, default=str) + "\n"

    files = {
        "versions.json": as_json(_versions()),
        "configuration.json": as_json(masked(export_bundle())),
        "system-settings.json": as_json(masked(model_to_dict(SystemSettings.load()))),
        "apply-runs.txt": "\n\n".join(r.report() for r in ApplyRun.objects.order_by("-id")[:20]) + "\n",
        "change-log.json": as_json([masked({"time": c.time, "user": c.username, "action": c.action,
                                            "object": f"{c.object_type} {c.object_repr}", "summary": c.summary,
                                            "before": c.before, "after": c.after})
                                    for c in ChangeRecord.objects.order_by("-id")[:RECENT]]),
        "health-events.txt": health_events(RECENT),
        "network-changes.json": as_json([{"id": c.pk, "created_at": c.created_at, "user": c.username,
                                          "status": c.status, "ops": c.ops, "error": c.error}
                                         for c in NetworkChange.objects.order_by("-id")[:20]]),
        "ip-d-addr.txt": run(["ip", "-d", "addr"]),
        "ip-route.txt": run(["ip", "route"]) + run(["ip", "-6", "route"]),
        "keepalived.json": as_json(_keepalived()),
        "logs.txt": run(["journalctl", "--no-pager", "-o", "short-iso", "-n", str(LOG_LINES),
                         "-u", "fulcrum-*", "-u", "keepalived"]),
    }
    files.update(_kernel_from_worker())
    return files


def _keepalived() -> dict:
    try:
        return keepalived_status()
    except Exception as exc:  # noqa: BLE001 - keepalived not installed here
        return {"available": False, "reason": str(exc)}


def build_archive() -> tuple[str, bytes]:
    """(file name, .tar.gz bytes) of every section under one folder."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    folder = f"fulcrum-support-{platform.node() or 'host'}-{stamp}"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in sections().items():
            data = text.encode()
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o600
            tar.addfile(info, io.BytesIO(data))
    return f"{folder}.tar.gz", buf.getvalue()
