"""The one kernel writer: every change to the kernel, whoever asks (an apply, a runtime action,
healthcheckd, the drift repair), happens under one host-wide lock and is recorded in one journal
(the AppliedState row), so the next change plans from what the kernel really holds.

The journal is JSON with a schema version (dataplane/journal.py): a base (the whole state, written
by an apply) and small entries after it (the ops of each runtime action or health batch), so a
runtime change writes a few hundred bytes, not the whole table. A journal that is missing, of
another version or damaged is not trusted: the writer reads the kernel (the truth) and writes a new
base. Each process keeps its view in memory and reads only what other processes wrote since.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction

from dataplane.compiler import SYSCTL_NAMES
from dataplane.desired import DesiredState
from dataplane.diff import Op, simulate
from dataplane.journal import decode, decode_ops, encode, encode_ops

from .mode import dataplane_mode
from .models import AppliedState, JournalEntry

# This process's view: the state at (base version, last entry id). Refreshed by reading only what
# another process wrote since, so a runtime action does not decode the whole table.
_view: dict[str, object] = {"base": None, "last": 0, "entries": 0, "state": None}
COMPACT_AFTER = 500  # entries: past this, the next change writes a new base instead


class KernelBusy(RuntimeError):
    pass


@contextmanager
def kernel_lock(wait: bool = True):
    """The host-wide lock every kernel writer holds (a file lock: the writers are separate processes)."""
    path = os.path.join(settings.DATA_DIR, "apply.lock")
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise KernelBusy("another kernel change is running") from exc
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def make_driver(stored: DesiredState | None = None):
    if dataplane_mode() == "kernel":
        from dataplane.kernel import KernelDriver

        return KernelDriver()
    from dataplane.kernel import RenderOnlyDriver

    return RenderOnlyDriver(state=stored or DesiredState.empty())


def _version(row: AppliedState) -> str:
    # Row write time and run: ids can repeat (a test's rolled-back transaction), both together do not.
    return f"{row.run_id}@{row.updated_at.isoformat()}"


def recorded() -> tuple[str | None, DesiredState | None, bool]:
    """(version, state, verified) of the journal; state None when there is none, or it is of another
    schema version or damaged."""
    # The version first, without the document: decoding it is the cost the in-memory view saves.
    row = AppliedState.objects.filter(pk=1).only("run_id", "updated_at", "verified").first()
    if row is None:
        return None, None, False
    base = _version(row)
    if _view["base"] == base and _view["state"] is not None:
        state, last, count = _view["state"], _view["last"], _view["entries"]
    else:
        doc = AppliedState.objects.filter(pk=1).values_list("journal", flat=True).first()
        state, last, count = decode(doc), 0, 0
    entries = list(JournalEntry.objects.filter(id__gt=last).values_list("id", "ops"))
    if state is not None and entries:
        ops = []
        for _, doc in entries:
            entry_ops = decode_ops(doc)
            if entry_ops is None:
                state = None
                break
            ops += entry_ops
        if state is not None:
            state, last, count = simulate(state, ops), entries[-1][0], count + len(entries)
    if state is not None:
        _view.update(base=base, last=last, entries=count, state=state)
    return f"{base}+{last}", state, row.verified


def journal() -> tuple[str | None, DesiredState | None]:
    """(version, state) to plan from; state None when the journal is missing or not trusted."""
    version, state, verified = recorded()
    return version, state if verified else None


def record(state: DesiredState, run=None) -> None:
    """Write a new base (call with the kernel lock held): the whole state, the entries folded in."""
    with transaction.atomic():
        JournalEntry.objects.all().delete()
        row, _ = AppliedState.objects.update_or_create(
            pk=1, defaults={"journal": encode(state), "run": run, "verified": True})
    _view.update(base=_version(row), last=0, entries=0, state=state)


def append(ops: list[Op], state: DesiredState) -> None:
    """Journal ops the kernel took (kernel lock held; ``state``: the view after them)."""
    if _view["entries"] >= COMPACT_AFTER:
        record(state)
        return
    entry = JournalEntry.objects.create(ops=encode_ops(ops))
    _view.update(last=entry.id, entries=_view["entries"] + 1, state=state)


def forget_view() -> None:
    """Drop this process's view: the next change reads the journal again."""
    _view.update(base=None, last=0, entries=0, state=None)


def distrust() -> None:
    """Drift was seen, or a change crashed half-way: the next change, in any process, reads the kernel."""
    forget_view()
    AppliedState.objects.filter(pk=1).update(verified=False)


def current_state(driver, stored: DesiredState | None, sysctl_names: Iterable[str] = ()) -> DesiredState:
    """What the kernel holds: the trusted journal, else the kernel itself (read once)."""
    return stored if stored is not None else driver.read(sysctl_names=set(sysctl_names))


class Session:
    """One writer's turn: the kernel's state when it began, and every op the kernel took since."""

    def __init__(self, driver, state: DesiredState):
        self.driver, self.state = driver, state
        self.applied: list[Op] = []

    def apply(self, ops: Sequence[Op]):
        result = self.driver.apply(ops)
        self.applied.extend(result.applied)
        return result


@contextmanager
def session(driver=None):
    """Hold the kernel lock, start from what the kernel holds, and journal what was applied.

    ``driver``: a caller's long-lived driver (healthcheckd keeps its netlink socket open);
    else one is made and closed here."""
    with kernel_lock():
        _, stored = journal()
        own = driver is None
        driver = driver or make_driver(stored)
        try:
            turn = Session(driver, current_state(driver, stored, SYSCTL_NAMES))
            try:
                yield turn
            finally:
                if stored is None:  # an untrusted journal is rewritten from the kernel's truth
                    record(simulate(turn.state, turn.applied))
                elif turn.applied:
                    append(turn.applied, simulate(turn.state, turn.applied))
        finally:
            if own:
                driver.close()


@dataclass
class Outcome:
    """What one submitted change did: the ops planned, those the kernel took, the refusal if any."""

    planned: list[Op]
    applied: list[Op] = field(default_factory=list)
    failed: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def error(self) -> str:
        return "; ".join(f"{op.describe()}: {err}" for op, err in self.failed)


def submit(plan_ops: Callable[[DesiredState], list[Op]], driver=None) -> Outcome:
    """The single entry point for a change: plan ops (a pure function of the kernel's state),
    apply them and journal the result, under the kernel lock."""
    with session(driver) as turn:
        outcome = Outcome(plan_ops(turn.state))
        if outcome.planned:
            result = turn.apply(outcome.planned)
            outcome.applied, outcome.failed = list(result.applied), list(result.failed)
        return outcome
