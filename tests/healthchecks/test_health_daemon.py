"""healthcheckd end to end on the host: database, Redis, checks, and a render-only kernel.

The kernel here is the dataplane's RenderOnlyDriver seeded with what a full apply would hold,
so every weight change healthcheckd makes can be read back; the kernel lab repeats the main
scenario with real IPVS (tests/netlab/inside/test_health_failover.py).
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from django.core import mail

from cluster.compile import cluster_spec
from dataplane.compiler import compile_state
from dataplane.kernel import RenderOnlyDriver
from healthchecks import signals
from healthchecks.daemon import HEALTH_KEY, HealthDaemon
from healthchecks.models import HealthEvent
from realservers.models import RealServer
from tests.healthchecks import servers

pytestmark = pytest.mark.django_db(transaction=True)
REDIS_URL = "redis://127.0.0.1:6379/15"
FAST = {"check_type": "tcp", "check_interval": 0.1, "check_timeout": 0.3, "check_rise": 2, "check_fall": 1}


@pytest.fixture(autouse=True)
def _redis(settings):
    import redis

    settings.REDIS_URL = REDIS_URL
    client = redis.Redis.from_url(REDIS_URL)
    client.delete(HEALTH_KEY)
    yield client
    client.delete(HEALTH_KEY)


@pytest.fixture
def listeners():
    made = []

    def make(host):
        made.append(servers.Listener(host))
        return made[-1]

    yield make
    for srv in made:
        srv.stop()


def kernel_now() -> RenderOnlyDriver:
    """A render-only kernel holding what a full apply of the database gives."""
    return RenderOnlyDriver(state=compile_state(cluster_spec()))


def weights(driver) -> dict[tuple[str, int], int]:
    return {(d.address, d.port): d.weight for d in driver.state.destinations}


async def until(predicate, timeout: float = 5.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{what} not reached within {timeout} s")


def run(driver, scenario, **kw):
    async def main():
        stop = asyncio.Event()
        daemon = HealthDaemon(driver, redis_url=REDIS_URL, flush_every=0.1, **kw)
        task = asyncio.create_task(daemon.run(stop))
        try:
            await until(lambda: daemon.engine.targets, what="config loaded")
            await scenario(daemon)
        finally:
            stop.set()
            await task

    asyncio.run(main())


def test_quiesce_restore_event_mail_and_live_status(make_service, listeners, _redis):
    a, b = listeners("127.0.0.41"), listeners("127.0.0.42")
    svc = make_service([{"address": "127.0.0.41", "port": a.port}, {"address": "127.0.0.42", "port": b.port}],
                       alert_email="noc@example.com", **FAST)
    rs1 = svc.real_servers.get(label="rs1")
    driver = kernel_now()

    async def scenario(d):
        await until(lambda: all(s.state == "up" for s in d.engine.status.values()), what="both up")
        a.stop()
        await until(lambda: weights(driver)[("127.0.0.41", a.port)] == 0, what="quiesced")
        assert weights(driver)[("127.0.0.42", b.port)] == 100  # the other one is untouched
        await until(lambda: d.handled >= 3, what="transition recorded")
        await asyncio.sleep(0.3)
        raw = _redis.hget(HEALTH_KEY, str(rs1.pk))
        live = json.loads(raw)
        assert live["state"] == "down" and live["reason"] == "connection refused" and live["check_type"] == "tcp"
        a.start()
        await until(lambda: weights(driver)[("127.0.0.41", a.port)] == 100, what="restored")
        await until(lambda: d.handled >= 4, what="restore recorded")

    run(driver, scenario)
    rs1.refresh_from_db()
    assert rs1.health == "up" and rs1.health_since is not None
    events = list(HealthEvent.objects.filter(real_server=rs1).order_by("at", "id"))
    assert [(e.old_state, e.new_state) for e in events] == [("unknown", "up"), ("up", "down"), ("down", "up")]
    assert events[1].reason == "connection refused" and events[1].action == f"127.0.0.41:{a.port} weight 0"
    assert events[2].action == f"127.0.0.41:{a.port} weight 100"
    # Alerts for real transitions (not the first "unknown -> up"), to the service's address.
    assert [m.subject for m in mail.outbox] == ["[Fulcrum] svc1/rs1 is DOWN", "[Fulcrum] svc1/rs1 is UP"]
    assert mail.outbox[0].to == ["noc@example.com"] and "connection refused" in mail.outbox[0].body
    # The health update is not a configuration change: no change-log entry for it.
    from audit.models import ChangeRecord

    assert not ChangeRecord.objects.filter(summary__icontains="health").exists()


def test_remove_mode_and_fallback_in_and_out(make_service, listeners):
    a, b = listeners("127.0.0.43"), listeners("127.0.0.44")
    make_service([{"address": "127.0.0.43", "port": a.port}, {"address": "127.0.0.44", "port": b.port}],
                 on_down="remove", fallback_address="127.0.0.45", fallback_port=8080, **FAST)
    driver = kernel_now()
    fallback = ("127.0.0.45", 8080)
    assert fallback not in weights(driver)

    async def scenario(d):
        await until(lambda: all(s.state == "up" for s in d.engine.status.values()), what="both up")
        a.stop()
        await until(lambda: ("127.0.0.43", a.port) not in weights(driver), what="removed")
        assert fallback not in weights(driver)  # one server still serves
        b.stop()
        await until(lambda: fallback in weights(driver), what="fallback in")
        assert set(weights(driver)) == {fallback}
        b.start()
        await until(lambda: fallback not in weights(driver), what="fallback out")
        assert weights(driver) == {("127.0.0.44", b.port): 100}

    run(driver, scenario)


def test_admin_drain_and_halt_always_win(make_service, listeners):
    a, b = listeners("127.0.0.46"), listeners("127.0.0.47")
    make_service([{"address": "127.0.0.46", "port": a.port, "admin_state": "halt"},
                  {"address": "127.0.0.47", "port": b.port, "admin_state": "drain"}], **FAST)
    driver = kernel_now()
    assert weights(driver) == {("127.0.0.47", b.port): 0}

    async def scenario(d):
        await until(lambda: all(s.state == "up" for s in d.engine.status.values()), what="both up")
        a.stop()
        b.stop()
        await until(lambda: all(s.state == "down" for s in d.engine.status.values()), what="both down")
        a.start()
        b.start()
        await until(lambda: all(s.state == "up" for s in d.engine.status.values()), what="both up again")
        await until(lambda: d.handled >= 6, what="all handled")

    run(driver, scenario)
    assert weights(driver) == {("127.0.0.47", b.port): 0}  # halted never comes back, drained stays at 0
    assert not [op for op in driver.log]


def test_config_changes_are_picked_up_at_once_through_redis(make_service, listeners):
    a, b = listeners("127.0.0.48"), listeners("127.0.0.49")
    svc = make_service([{"address": "127.0.0.48", "port": a.port}], **FAST)
    driver = kernel_now()

    async def scenario(d):
        await until(lambda: d.redis_ok, what="subscribed")
        assert len(d.engine.targets) == 1
        signals._state["down_until"] = 0.0

        def add():
            rs = RealServer(service=svc, label="late", address="127.0.0.49", port=b.port)
            rs.full_clean()
            rs.save()  # autocommit: the post_save hook publishes at once
            return rs.pk

        pk = await asyncio.to_thread(add)
        started = time.monotonic()
        await until(lambda: pk in d.engine.targets, timeout=2.0, what="new real server watched")
        assert time.monotonic() - started < 1.0  # not the 30 s periodic reload
        await asyncio.to_thread(lambda: RealServer.objects.filter(pk=pk).delete())
        await until(lambda: pk not in d.engine.targets, timeout=2.0, what="deleted real server dropped")

    run(driver, scenario, reload_every=30.0)


def test_publish_survives_redis_being_down(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    signals._state.update(client=None, down_until=0.0)
    try:
        started = time.monotonic()
        assert signals.publish() is False
        assert signals.publish() is False  # paused: no second connection attempt
        assert time.monotonic() - started < 1.0
    finally:
        signals._state.update(client=None, down_until=0.0)
