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
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from healthchecks.checks import CheckResult, CheckSpec, run_check

UNKNOWN, UP, DOWN = "unknown", "up", "down"


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
    """Runs one asyncio task per target. ``update`` may be called at any time (config changed)."""

    def __init__(self, on_transition: Transition | None = None, *, jitter: float = 0.02,
                 on_result: Callable[[Target, Status, CheckResult], None] | None = None):
        self.on_transition = on_transition
        self.on_result = on_result
        self.jitter = jitter
        self.targets: dict[int, Target] = {}
        self.status: dict[int, Status] = {}
        self.tasks: dict[int, asyncio.Task] = {}
        self.dirty: set[int] = set()  # keys with a result not yet published (the daemon drains it)
        self.checks_done = 0

    def update(self, targets: Iterable[Target], initial: dict[int, tuple[str, float | None]] | None = None) -> None:
        """Make the running set equal ``targets``: start new ones, restart changed ones, stop the rest.

        A changed target keeps its state and counters. ``initial`` gives new targets their
        starting state (e.g. the health stored in the database) instead of "unknown".
        """
        wanted = {t.key: t for t in targets}
        for key in [k for k in self.targets if k not in wanted]:
            self.tasks.pop(key).cancel()
            del self.targets[key]
            self.status.pop(key, None)
            self.dirty.discard(key)
        for key, target in wanted.items():
            old = self.targets.get(key)
            if old == target:
                continue
            if old is not None:
                self.tasks.pop(key).cancel()
            else:
                state, since = (initial or {}).get(key, (UNKNOWN, None))
                self.status[key] = Status(state, since)
            self.targets[key] = target
            first = random.uniform(0, target.interval) if old is None else 0.0
            self.tasks[key] = asyncio.create_task(self._run(target, first), name=f"check-{key}")

    async def close(self) -> None:
        tasks = list(self.tasks.values())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.tasks.clear()

    async def _run(self, target: Target, first_delay: float) -> None:
        loop = asyncio.get_running_loop()
        interval = target.interval
        due = loop.time() + first_delay
        while True:
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            result = await run_check(target.spec)
            self.record(target, result)
            # Fixed rate, a little jitter so checks never line up; a slow check is not run twice at once.
            due += interval * (1 + random.uniform(-self.jitter, self.jitter))
            now = loop.time()
            if due < now:
                due = now

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
