"""Runtime state (online/drain/halt) reaches the kernel at once, through the one kernel writer.

Configuration waits for Apply; runtime state does not. The web process never touches the kernel:
it asks the privileged worker (Celery task "kernel.runtime") and waits for its answer; only in
embedded mode (no Redis, no worker) does it run the change itself, as it runs applies.
"""

from __future__ import annotations

import logging

from django.conf import settings

from dataplane.destinations import runtime_ops, vip_ops
from dataplane.diff import simulate

from .compile import service_spec
from .writer import submit

log = logging.getLogger("fulcrum.runtime")

ANSWER_SECONDS = 10.0  # how long a request waits for the worker's answer


def runtime_specs(server_ids):
    """(service spec, ids of its named real servers) for each service the servers belong to."""
    from realservers.models import RealServer
    from virtualservices.models import VirtualService

    wanted: dict[int, set[int]] = {}
    for rs_id, svc_id in RealServer.objects.filter(pk__in=list(server_ids)).values_list("id", "service_id"):
        wanted.setdefault(svc_id, set()).add(rs_id)
    by_service: dict[int, list] = {}
    for rs in RealServer.objects.filter(service_id__in=wanted).order_by("service_id", "label"):
        by_service.setdefault(rs.service_id, []).append(rs)
    return [(service_spec(svc, by_service.get(svc.id, ())), wanted[svc.id])
            for svc in VirtualService.objects.filter(pk__in=wanted)]


def _sharing_vips(specs) -> list:
    """Active-active: every enabled service on the VIPs these services use (a VIP stays announced while any
    of them serves); none in the other modes."""
    from virtualservices.models import VirtualService

    from .models import ClusterSettings

    if not ClusterSettings.load().active_active:
        return []
    vips = {spec.vip for spec, _ in specs if spec.vip}
    return [spec for spec, _ in runtime_specs(VirtualService.objects.filter(vip__in=vips, enabled=True)
                                              .values_list("real_servers__id", flat=True))]


def push_runtime_state(server_ids) -> dict:
    """In the process that owns the kernel: bring these servers' destinations to their saved state (and,
    active-active, the VIPs on lo to the ones this node can still serve: a drain of the last server
    withdraws the VIP)."""
    specs = runtime_specs(server_ids)
    sharing = _sharing_vips(specs)

    def plan(current):
        ops = runtime_ops(current, specs)
        return ops + vip_ops(simulate(current, ops), sharing) if sharing else ops

    outcome = submit(plan)
    done = [op.describe() for op in outcome.applied]
    if not outcome.ok:
        log.warning("runtime change refused by the kernel: %s", outcome.error())
        return {"status": "failed", "operations": done, "error": outcome.error()}
    return {"status": "done", "operations": done, "error": ""}


def ask_kernel_worker(ids: list[int]) -> dict:
    from .tasks import runtime_task

    return runtime_task.delay(ids).get(timeout=ANSWER_SECONDS)


def apply_runtime_state(server_ids) -> dict:
    """Ask the kernel's owner to act now; the answer says what the kernel did, or why it did not.

    {"status": "done" | "failed" | "unreachable", "operations": [...], "error": "..."}"""
    ids = sorted(set(server_ids))
    if not ids:
        return {"status": "done", "operations": [], "error": ""}
    try:
        return push_runtime_state(ids) if settings.CELERY_TASK_ALWAYS_EAGER else ask_kernel_worker(ids)
    except Exception as exc:  # Redis down, no worker, a timeout, a crash: the saved state waits for an apply
        log.warning("runtime change not delivered to the kernel: %s", exc, exc_info=True)
        return {"status": "unreachable", "operations": [],
                "error": f"the kernel worker did not answer ({type(exc).__name__}); the new state is saved "
                         f"and the next apply puts it in the kernel"}
