"""The scheduler: rise/fall counting, updates that keep state, and detection time."""

from __future__ import annotations

import asyncio
import time

from healthchecks.checks import CheckResult, CheckSpec
from healthchecks.engine import DOWN, UNKNOWN, UP, Engine, Target
from tests.healthchecks import servers

OK, FAIL = CheckResult(True, "ok", 0.001), CheckResult(False, "connection refused", 0.001)


def _engine_with(target, initial=None):
    seen = []

    async def setup():
        engine = Engine(on_transition=lambda t, st, old, r: seen.append((old, st.state, r.reason)))
        engine.update([target], initial)
        for task in engine.tasks.values():  # drive record() by hand
            task.cancel()
        return engine

    return asyncio.run(setup()), seen


def test_rise_and_fall_counts():
    target = Target(1, CheckSpec("none", "127.0.0.1"), interval=1, rise=3, fall=2)
    engine, seen = _engine_with(target)
    assert engine.status[1].state == UNKNOWN
    engine.record(target, OK)
    assert seen == [(UNKNOWN, UP, "ok")]  # the first success decides an unknown server
    engine.record(target, FAIL)
    assert engine.status[1].state == UP  # one failure is not enough with fall=2
    engine.record(target, OK)
    engine.record(target, FAIL)
    engine.record(target, FAIL)
    assert seen[-1] == (UP, DOWN, "connection refused")
    engine.record(target, OK)
    engine.record(target, OK)
    engine.record(target, FAIL)  # a failure resets the run of successes
    engine.record(target, OK)
    engine.record(target, OK)
    assert engine.status[1].state == DOWN
    engine.record(target, OK)
    assert seen[-1] == (DOWN, UP, "ok") and len(seen) == 3


def test_initial_state_from_the_database_needs_rise_to_come_back():
    target = Target(1, CheckSpec("none", "127.0.0.1"), interval=1, rise=2, fall=1)
    engine, seen = _engine_with(target, {1: (DOWN, 1000.0)})
    assert engine.status[1].since == 1000.0
    engine.record(target, OK)
    assert engine.status[1].state == DOWN
    engine.record(target, OK)
    assert seen == [(DOWN, UP, "ok")]


def test_update_keeps_state_of_changed_targets_and_drops_removed_ones():
    async def scenario():
        engine = Engine()
        a = Target(1, CheckSpec("none", "127.0.0.1"), interval=0.05)
        b = Target(2, CheckSpec("down", "127.0.0.1"), interval=0.05, fall=1)
        engine.update([a, b])
        await asyncio.sleep(0.2)
        assert engine.status[1].state == UP and engine.status[2].state == DOWN
        engine.update([Target(1, CheckSpec("none", "127.0.0.1"), interval=0.1)])  # interval changed
        assert engine.status[1].state == UP and 2 not in engine.status and 2 not in engine.tasks
        done = engine.checks_done
        await asyncio.sleep(0.25)
        assert engine.checks_done > done
        await engine.close()

    asyncio.run(scenario())


def test_detection_within_interval_plus_timeout():
    srv = servers.Listener("127.0.0.31")
    interval, timeout = 0.2, 0.2

    async def scenario():
        down_at = []
        engine = Engine(on_transition=lambda t, st, old, r: st.state == DOWN and down_at.append(time.monotonic()))
        engine.update([Target(1, CheckSpec("tcp", "127.0.0.31", srv.port, timeout=timeout), interval, 1, 1)])
        await asyncio.sleep(0.5)
        assert engine.status[1].state == UP
        killed = time.monotonic()
        srv.stop()
        for _ in range(40):
            if down_at:
                break
            await asyncio.sleep(0.02)
        await engine.close()
        return down_at[0] - killed

    try:
        latency = asyncio.run(scenario())
    finally:
        srv.stop()
    assert latency <= interval * 1.02 + timeout + 0.2
