"""The scheduler: every target checked on its interval, with jitter, rise/fall counting.

Pure asyncio, no Django: the daemon, the bench and the kernel-lab tests drive it alike::

    engine = Engine(on_transition=lambda target, status, result: ...)
    engine.update([Target(key=7, spec=CheckSpec("tcp", "10.0.0.7", 80), interval=1.0, rise=2, fall=2)])
    ...
    await engine.close()

States: "unknown" (never decided: the real server keeps its weight), "up", "down".
From unknown the first success is "up"; ``fall`` failures in a row make an up (or unknown)
server "down"; ``rise`` successes in a row make a down server "up".
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from healthchecks.checks import TCP, CheckResult, CheckSpec, run_check
from healthchecks.tcp_probes import TcpProbes

UNKNOWN, UP, DOWN = "unknown", "up", "down"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    key: int  # the real server's id
    spec: CheckSpec
    interval: float = 1.0
    rise: int = 2
    fall: int = 2


class Status:
    """What the engine knows about one target (mutable, owned by the engine)."""

    __slots__ = ("state", "since", "ok_run", "fail_run", "last", "checked_at", "checks")

    def __init__(self, state: str = UNKNOWN, since: float | None = None):
        self.state = state
        self.since = since if since is not None else time.time()  # wall clock: shown to people
        self.ok_run = 0
        self.fail_run = 0
        self.last: CheckResult | None = None
        self.checked_at = 0.0  # wall clock of the last result
        self.checks = 0


Transition = Callable[[Target, Status, str, CheckResult], None]  # (target, status, old_state, result)


class Engine:
    """Checks every target on its interval from one scheduler task.

    ``update`` may be called at any time (config changed). One task keeps a heap of due times and
    wakes at most every ``tick`` seconds to start whatever is due, so thousands of targets cost no
    more wake-ups than a few. TCP checks go through ``TcpProbes`` (no task per check); the other
    types run ``run_check`` as a task each, kept in ``tasks`` so removing a target cancels it.
    """

    def __init__(self, on_transition: Transition | None = None, *, jitter: float = 0.02,
                 on_result: Callable[[Target, Status, CheckResult], None] | None = None, tick: float = 0.005,
                 batch: int = 256):
        self.on_transition = on_transition
        self.on_result = on_result
        self.jitter = jitter
        self.tick = tick
        self.batch = batch  # checks started per turn of the event loop, so answers are read in between
        self.targets: dict[int, Target] = {}
        self.status: dict[int, Status] = {}
        self.tasks: dict[int, asyncio.Task] = {}  # in-flight checks other than TCP
        self.dirty: set[int] = set()  # keys with a result not yet published (the daemon drains it)
        self.checks_done = 0
        # (due, seq, target): an entry whose target was replaced or removed is skipped when it pops.
        self._due: list[tuple[float, int, Target]] = []
        self._seq = itertools.count()
        self._scheduler: asyncio.Task | None = None
        self._wakeup: asyncio.Future | None = None
        self._tcp: TcpProbes | None = None

    def update(self, targets: Iterable[Target], initial: dict[int, tuple[str, float | None]] | None = None) -> None:
        """Make the running set equal ``targets``: start new ones, restart changed ones, stop the rest.

        A changed target keeps its state and counters and is checked at once. ``initial`` gives new
        targets their starting state (e.g. the health stored in the database) instead of "unknown".
        """
        loop = asyncio.get_running_loop()
        wanted = {t.key: t for t in targets}
        for key in [k for k in self.targets if k not in wanted]:
            self._cancel(key)
            del self.targets[key]
            self.status.pop(key, None)
            self.dirty.discard(key)
        now = loop.time()
        for key, target in wanted.items():
            old = self.targets.get(key)
            if old == target:
                continue
            if old is not None:
                self._cancel(key)
            else:
                state, since = (initial or {}).get(key, (UNKNOWN, None))
                self.status[key] = Status(state, since)
            self.targets[key] = target
            # New targets spread over one interval so checks never line up.
            first = random.uniform(0, target.interval) if old is None else 0.0
            heapq.heappush(self._due, (now + first, next(self._seq), target))
        if self._scheduler is None or self._scheduler.done():
            self._scheduler = loop.create_task(self._schedule(), name="health-scheduler")
        elif self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)  # something may be due sooner than the scheduler thinks

    def _cancel(self, key: int) -> None:
        task = self.tasks.pop(key, None)
        if task is not None:
            task.cancel()
        # An in-flight TCP connect just finishes; record() drops the result of a replaced target.

    async def close(self) -> None:
        """Stop checking (targets and their status stay readable)."""
        tasks = list(self.tasks.values())
        if self._scheduler is not None:
            tasks.append(self._scheduler)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.tasks.clear()
        self._scheduler = None
        if self._tcp is not None:
            self._tcp.close()
            self._tcp = None

    async def _schedule(self) -> None:
        loop = asyncio.get_running_loop()
        due = self._due
        self._tcp = TcpProbes(loop, self._tcp_done)
        while True:
            now = loop.time()
            self._tcp.expire(now)
            horizon = now + self.tick / 2
            started = 0
            while due and due[0][0] <= horizon and started < self.batch:
                at, _, target = heapq.heappop(due)
                if self.targets.get(target.key) is target:
                    started += 1
                    try:
                        self._start(target, at)
                    except Exception:  # a callback's bug must not stop every other check
                        log.exception("health check of real server %s failed to run", target.key)
            if due and due[0][0] <= horizon:
                await asyncio.sleep(0)  # more are due: let the loop read answers first
                continue
            wake = min(due[0][0] if due else now + 1.0, self._tcp.next_deadline() or now + 1.0)
            # Sleep at least one tick: checks due within it start together, a few ms early or late.
            self._wakeup = loop.create_future()
            timer = loop.call_at(max(wake, now + self.tick), _resolve, self._wakeup)
            try:
                await self._wakeup
            finally:
                timer.cancel()

    def _start(self, target: Target, due: float) -> None:
        if target.spec.type == TCP:
            self._tcp.start(target.spec, (target, due))
            return
        task = asyncio.get_running_loop().create_task(run_check(target.spec), name=f"check-{target.key}")
        self.tasks[target.key] = task
        task.add_done_callback(lambda t: self._task_done(t, target, due))

    def _tcp_done(self, token: tuple[Target, float], result: CheckResult) -> None:
        target, due = token
        try:
            self.record(target, result)
        finally:
            self._again(target, due)

    def _task_done(self, task: asyncio.Task, target: Target, due: float) -> None:
        if self.tasks.get(target.key) is task:
            del self.tasks[target.key]
        if task.cancelled():
            return
        try:
            self.record(target, task.result())
        finally:
            self._again(target, due)

    def _again(self, target: Target, due: float) -> None:
        """Next check at a fixed rate with a little jitter; a slow check is never run twice at once.

        The jitter only ever shortens the interval: a failure is still seen within interval + timeout.
        """
        if self.targets.get(target.key) is not target:
            return  # removed or replaced while the check ran
        loop = asyncio.get_running_loop()
        nxt = max(due + target.interval * (1 - random.uniform(0, self.jitter)), loop.time())
        heapq.heappush(self._due, (nxt, next(self._seq), target))

    def record(self, target: Target, result: CheckResult) -> None:
        status = self.status.get(target.key)
        if status is None or self.targets.get(target.key) is not target:
            return  # removed or replaced while the check ran
        self.checks_done += 1
        status.checks += 1
        status.last = result
        status.checked_at = time.time()
        self.dirty.add(target.key)
        old = status.state
        if result.ok:
            status.ok_run += 1
            status.fail_run = 0
            new = UP if old == UNKNOWN or (old == DOWN and status.ok_run >= target.rise) else old
        else:
            status.fail_run += 1
            status.ok_run = 0
            new = DOWN if old != DOWN and status.fail_run >= target.fall else old
        if self.on_result is not None:
            self.on_result(target, status, result)
        if new != old:
            status.state = new
            status.since = status.checked_at
            if self.on_transition is not None:
                self.on_transition(target, status, old, result)


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)
