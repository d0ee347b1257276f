"""At boot, put the last applied kernel state back: an appliance comes back serving after a reboot.

The kernel forgets IPVS, the appliance's chains and its addresses on a reboot; the database does
not. What served before the reboot is the journal's state (the last apply plus the runtime actions
and health decisions after it), not the configuration as edited since: pending edits still wait
for Apply. The journal is distrusted first (the kernel no longer holds it), so the one writer
reads the kernel, plans to that state and writes a new, verified base.
"""

from __future__ import annotations

from dataplane.compiler import compile_state
from dataplane.desired import DesiredState
from dataplane.diff import plan

from .apply import pending_changes
from .compile import cluster_spec
from .mode import dataplane_mode
from .models import ApplyRun
from .writer import distrust, recorded, submit


class RestoreFailed(RuntimeError):
    pass


def last_applied() -> tuple[DesiredState | None, str]:
    """(state, where it came from): the journal, trusted or not (a drift seen before the reboot does
    not change what was applied last); else, when nothing is pending since the last successful
    apply, the configuration itself, which is then exactly what was applied (an unreadable row)."""
    _, state, _ = recorded()
    if state is not None:
        return state, "the journal"
    if not ApplyRun.objects.filter(status=ApplyRun.SUCCESS).exists():
        return None, "nothing applied yet"
    if pending_changes():
        return None, ("the journal is unreadable and the configuration has changes never applied: "
                      "the kernel waits for Apply")
    return compile_state(cluster_spec()), "the configuration (unchanged since its last apply)"


def restore_kernel() -> str:
    """Bring the kernel to the last applied state through the one writer; say what was done."""
    if dataplane_mode() != "kernel":
        return "kernel state not restored: this host is render-only"
    target, source = last_applied()
    if target is None:
        return f"kernel state not restored: {source}"
    distrust()
    outcome = submit(lambda current: plan(current, target))
    if not outcome.ok:
        raise RestoreFailed(f"kernel state from {source} only partly restored "
                            f"({len(outcome.applied)} of {len(outcome.planned)} ops): {outcome.error()}")
    return f"restored the kernel state from {source}: {len(outcome.applied)} ops"
