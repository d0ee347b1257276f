"""Run the probes for the configuration in the database and store what they found.

Called by the Celery task in the privileged worker (checklists.tasks). The probes themselves
(checklists.probes) know nothing of Django; this module turns services into plain targets and
findings into CheckResult rows.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from django.db import transaction
from django.utils import timezone

from checklists.probes import engine as E
from cluster.models import ClusterSettings
from virtualservices.models import VirtualService

from .models import CheckResult, CheckRun

log = logging.getLogger("fulcrum.checklists")


def target(svc) -> E.ServiceTarget:
    return E.ServiceTarget(
        id=svc.pk, label=svc.label, vip=str(svc.vip), method=svc.method,
        protocols=tuple(sorted(svc.l4_protocols)),
        port=svc.port_ranges[0].first if svc.port_ranges else None,
        real_servers=tuple(E.ServerTarget(rs.pk, rs.label, str(rs.address), rs.port)
                           for rs in svc.real_servers.all() if rs.admin_state != "halt"),
    )


def services_for(run: CheckRun):
    qs = VirtualService.objects.filter(enabled=True).prefetch_related("real_servers")
    return qs.filter(pk=run.service_id) if run.service_id else qs


def probe(targets, autonat_interface: str) -> list[E.Finding]:
    """The probes, as the worker runs them (tests replace this)."""
    return E.run_checks(targets, autonat_interface=autonat_interface)


RENDER_ONLY_NOTE = (" This appliance runs the render-only dataplane: an apply computes the commands but sets "
                    "nothing in the kernel.")


def with_dataplane_note(findings: list[E.Finding], mode: str) -> list[E.Finding]:
    """A failed forwarding check on a render-only appliance says why no apply fixes it."""
    if mode != "render-only":
        return findings
    return [replace(f, evidence=f.evidence + RENDER_ONLY_NOTE) if f.key == E.FORWARDING and f.status == E.FAIL
            else f for f in findings]


def store(services, findings: list[E.Finding], run: CheckRun | None = None) -> int:
    """Replace the stored results of ``services`` by ``findings``."""
    from cluster.mode import dataplane_mode

    findings = with_dataplane_note(findings, dataplane_mode())
    now = timezone.now()
    ids = [s.pk for s in services]
    rows = [CheckResult(service_id=f.service_id, real_server_id=f.server_id, key=f.key, status=f.status,
                        evidence=f.evidence, facts=f.facts, checked_at=now, run=run)
            for f in findings if f.service_id in ids]
    with transaction.atomic():
        CheckResult.objects.filter(service_id__in=ids).delete()
        CheckResult.objects.bulk_create(rows)
    return len(rows)


def execute(run: CheckRun) -> CheckRun:
    """Run a queued CheckRun to its end; never leaves it "running"."""
    CheckRun.objects.filter(pk=run.pk).update(status=CheckRun.RUNNING, started_at=timezone.now())
    try:
        services = list(services_for(run))
        findings = probe([target(s) for s in services], ClusterSettings.load().autonat_interface)
        run.result_count = store(services, findings, run)
        run.status = CheckRun.DONE
    except Exception as exc:  # a broken host must still end the run, with the reason
        log.exception("checklist run #%s crashed", run.pk)
        run.status, run.error = CheckRun.FAILED, f"{type(exc).__name__}: {exc}"
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "error", "result_count", "finished_at"])
    return run
