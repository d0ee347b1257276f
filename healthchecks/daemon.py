"""healthcheckd: the engine + the database + Redis + the dataplane driver.

* Loads every enabled service's real servers and check settings from the database, and
  reloads at once when the Redis channel CONFIG_CHANGED says the configuration changed (and every ``reload_every``
  seconds anyway, in case a message was lost while Redis was away).
* On a transition: sets the destination's weight in the kernel directly (quiesce to 0 or
  remove per ``on_down``, restore the configured weight, fallback server in/out), with the
  rules of ``dataplane.compiler`` applied to that one service; stores the health in the
  RealServer row (``QuerySet.update``: no change-log entry) and a HealthEvent; mails the
  service's alert address.
* Publishes live status to the Redis hash HEALTH (field = real server id, JSON value)
  and the heartbeat key HEALTHCHECKD (appliance/redis_client.py), for pages and
  ``GET /api/v1/real-servers/{id}/health``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from appliance import redis_client
from dataplane.compiler import service_key
from dataplane.config import ServiceSpec
from dataplane.destinations import destination_changes, plan_destinations, vip_ops
from dataplane.diff import AddAddress, DelDest, Op, dest_id
from healthchecks.checks import DEFAULT_PORTS, CheckResult, CheckSpec
from healthchecks.scheduler import DOWN, UNKNOWN, UP, Engine, Status, Target

log = logging.getLogger("healthcheckd")


def scripts_dir() -> Path:
    from django.conf import settings

    return Path(settings.FULCRUM_CHECK_SCRIPTS_DIR)


# --------------------------------------------------------------------------- configuration


@dataclass
class Config:
    """What the database says, as plain data."""

    services: dict[int, ServiceSpec] = field(default_factory=dict)  # by service id
    service_of: dict[int, int] = field(default_factory=dict)  # real server id -> service id
    targets: list[Target] = field(default_factory=list)
    initial: dict[int, tuple[str, float | None]] = field(default_factory=dict)
    alert: dict[int, str] = field(default_factory=dict)  # service id -> e-mail address
    check_type: dict[int, str] = field(default_factory=dict)  # service id -> check type
    active_active: bool = False  # a VIP is held (announced) only while fit: transitions move it too


def check_port(svc, rs) -> int | None:
    """The port a check goes to: the check's own, else the real server's, else the VIP's."""
    if svc.check_port:
        return svc.check_port
    if rs.port:
        return rs.port
    if svc.single_port:
        return svc.single_port
    if svc.check_type in DEFAULT_PORTS:
        return None  # the check type's well-known port (IKEv2 500, RADIUS 1812, ...)
    ranges = svc.port_ranges
    return ranges[0].first if ranges else None


def check_spec(svc, rs, script_dir: str) -> CheckSpec:
    ranges = svc.port_ranges
    return CheckSpec(
        type=svc.check_type, address=str(rs.address), port=check_port(svc, rs), timeout=svc.check_timeout,
        method=svc.check_method, request=svc.check_request, response=svc.check_response,
        status=svc.check_status, vhost=svc.check_vhost, verify_tls=svc.check_verify_tls, secret=svc.check_secret,
        script=svc.check_script,
        script_dir=script_dir, vip=str(svc.vip), vip_port=ranges[0].first if ranges else None,
    )


def load_config() -> Config:
    """Read the configuration (two queries). Runs in the database thread."""
    # loaded here, not at import: bench/healthcheck.py imports this module without Django
    from cluster.compile import service_spec
    from cluster.models import ClusterSettings
    from realservers.models import RealServer
    from virtualservices.models import VirtualService

    script_dir = str(scripts_dir())
    config = Config(active_active=ClusterSettings.load().active_active)
    by_service: dict[int, list] = {}
    for rs in RealServer.objects.order_by("service_id", "label"):
        by_service.setdefault(rs.service_id, []).append(rs)
    for svc in VirtualService.objects.filter(enabled=True):
        servers = by_service.get(svc.id, [])
        config.services[svc.id] = service_spec(svc, servers)
        config.alert[svc.id] = svc.alert_email
        config.check_type[svc.id] = svc.check_type
        for rs in servers:
            config.service_of[rs.id] = svc.id
            config.targets.append(Target(rs.id, check_spec(svc, rs, script_dir), svc.check_interval,
                                         svc.check_rise, svc.check_fall))
            since = rs.health_since.timestamp() if rs.health_since else None
            config.initial[rs.id] = (rs.health, since)
    return config


# --------------------------------------------------------------------------- kernel


def _with_health(spec: ServiceSpec, rs_id: int, health: str) -> ServiceSpec:
    return replace(spec, real_servers=tuple(replace(r, health=health) if r.id == rs_id else r
                                            for r in spec.real_servers))


def describe_ops(ops: list[Op], spec: ServiceSpec) -> str:
    key = service_key(spec)
    fallback = (spec.fallback_address, key.port if spec.fallback_port is None else spec.fallback_port)
    real = {(r.address, key.port if r.port is None else r.port) for r in spec.real_servers}
    words = []
    for op in ops:
        d = op.dest
        at = (d.address, d.port)
        who = "fallback" if at == fallback and at not in real else f"{d.address}:{d.port}"
        if isinstance(op, DelDest):
            words.append(f"{who} out" if who == "fallback" else f"{who} removed")
        elif who == "fallback":
            words.append("fallback in")
        else:
            words.append(f"{who} weight {d.weight}")
    return ", ".join(words)


class KernelWeights:
    """Reads and changes one service's destinations through a dataplane driver."""

    def __init__(self, driver):
        self.driver = driver

    def current(self, key, state) -> dict | None:
        """The service's destinations as the kernel holds them; None if the service is absent.
        ``state``: the kernel writer's view, what a render-only dataplane holds."""
        ipvs = getattr(self.driver, "ipvs", None)
        if ipvs is not None:
            try:
                return {dest_id(e.dest): e.dest for e in ipvs.dests(key)}
            except OSError:
                return None
        if key not in {s.key for s in state.services}:
            return None
        return {dest_id(d): d for d in state.destinations if d.service == key}

    def change(self, before: ServiceSpec, after: ServiceSpec, turn) -> str:
        """Bring the service's destinations from ``before`` to ``after`` in a turn of the kernel writer
        (cluster/writer.py session), so the change is locked and journalled like any other."""
        touched, want = destination_changes(before, after)
        if not touched:
            return "no kernel change"
        key = service_key(after)
        have = self.current(key, turn.state)
        if have is None:
            return "service not in the kernel (not applied yet): no kernel change"
        have = {i: d for i, d in have.items() if i in touched}
        ops = plan_destinations(touched, want, have)
        if not ops:
            return "kernel already right"
        result = turn.apply(ops)
        if not result.ok:
            op, error = result.failed[0] if result.failed else (ops[result.attempted - 1], "not attempted")
            return f"kernel refused {type(op).__name__}: {error}"
        return describe_ops(ops, after)


def make_driver(mode: str | None = None):
    """The dataplane driver of this host: 'kernel', 'render-only', or None for the runtime's choice.
    Render-only: it records what the kernel writer's journal says the kernel would hold."""
    # loaded here, not at import: bench/healthcheck.py imports this module without Django
    from dataplane.desired import DesiredState
    from dataplane.kernel import KernelDriver, RenderOnlyDriver

    if mode is None:
        from cluster.mode import dataplane_mode  # no Django at import (bench)

        mode = dataplane_mode()
    if mode == "kernel":
        return KernelDriver()
    from cluster.writer import journal  # no Django at import (bench)

    return RenderOnlyDriver(state=journal()[1] or DesiredState.empty())


# --------------------------------------------------------------------------- the daemon


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat() if ts else None


def status_json(target: Target, status: Status) -> str:
    last = status.last
    return json.dumps({
        "state": status.state, "since": status.since, "check_type": target.spec.type,
        "ok": last.ok if last else None, "reason": last.reason if last else "",
        "latency_ms": round(last.seconds * 1000, 2) if last else None,
        "checked_at": status.checked_at or None, "checks": status.checks, "interval": target.interval,
    })


@dataclass
class TransitionEvent:
    key: int
    old: str
    new: str
    result: CheckResult
    at: float
    target: Target


SHUTDOWN_SECONDS = 5.0


async def _cancel_all(tasks) -> None:
    """Cancel the loops and wait a bounded time: a loop can swallow one cancellation when it lands
    together with its own asyncio.timeout deadline, so it is cancelled again rather than awaited forever."""
    for _ in range(3):
        pending = [t for t in tasks if not t.done()]
        if not pending:
            return
        for t in pending:
            t.cancel()
        await asyncio.wait(pending, timeout=SHUTDOWN_SECONDS)
    stuck = [t for t in tasks if not t.done()]
    if stuck:
        log.error("healthcheckd: %d task(s) did not stop: %s", len(stuck), stuck)


class HealthDaemon:
    def __init__(self, driver=None, *, reload_every: float = 30.0,
                 flush_every: float = 0.5, kernel: bool = True, alerts: bool = True):
        self.driver = driver
        self.weights = KernelWeights(driver) if (driver is not None and kernel) else None
        self.reload_every = reload_every
        self.flush_every = flush_every
        self.alerts = alerts
        self.engine = Engine(on_transition=self._on_transition)
        self.config = Config()
        self.transitions: asyncio.Queue[TransitionEvent] = asyncio.Queue()
        self.reload_now = asyncio.Event()
        self.redis = None
        self.redis_ok = False
        self.removed: set[int] = set()  # status fields to delete from Redis
        self.handled = 0  # transitions fully handled (for tests)
        self._db = ThreadPoolExecutor(1, thread_name_prefix="healthcheckd-db")
        self._kernel = ThreadPoolExecutor(1, thread_name_prefix="healthcheckd-kernel")

    # --- running

    async def run(self, stop: asyncio.Event) -> None:
        await self.reload()
        tasks = [asyncio.create_task(c) for c in (self._transitions_loop(), self._reload_loop(),
                                                  self._flush_loop(), self._subscribe_loop())]
        try:
            await stop.wait()
        finally:
            await _cancel_all(tasks)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(SHUTDOWN_SECONDS):
                    await self.engine.close()
            if self.redis is not None:
                with contextlib.suppress(Exception):
                    await self.redis.aclose()
            self._db.shutdown(wait=True)
            self._kernel.shutdown(wait=True)

    async def _in_db(self, func, *args):
        def call():
            from django.db import close_old_connections

            close_old_connections()
            return func(*args)

        return await asyncio.get_running_loop().run_in_executor(self._db, call)

    async def reload(self) -> None:
        config = await self._in_db(load_config)
        # Health the engine already knows beats the database's (a transition may be in flight).
        for svc_id, spec in list(config.services.items()):
            servers = []
            for rs in spec.real_servers:
                st = self.engine.status.get(rs.id)
                servers.append(replace(rs, health=st.state) if st is not None else rs)
            config.services[svc_id] = replace(spec, real_servers=tuple(servers))
        gone = set(self.engine.targets) - set(config.service_of)
        self.removed |= gone
        self.config = config
        self.engine.update(config.targets, config.initial)
        log.info("watching %d real servers in %d services", len(config.targets), len(config.services))

    async def _reload_loop(self) -> None:
        while True:
            timeout = self.reload_every if self.redis_ok else min(self.reload_every, 5.0)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self.reload_now.wait()
            await asyncio.sleep(0.05)  # coalesce a burst of changes
            self.reload_now.clear()
            try:
                await self.reload()
            except Exception:
                log.exception("reloading the configuration failed; keeping the last one")

    async def _redis(self):
        if self.redis is None:
            self.redis = redis_client.async_client()
        return self.redis

    async def _subscribe_loop(self) -> None:
        while True:
            try:
                client = await self._redis()
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                channel = redis_client.key(redis_client.CONFIG_CHANGED)
                await pubsub.subscribe(channel)
                if not self.redis_ok:
                    log.info("listening for configuration changes on Redis channel %s", channel)
                self.redis_ok = True
                self.reload_now.set()  # changes may have been missed while not subscribed
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self.reload_now.set()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                if self.redis_ok:
                    log.warning("Redis unavailable (%s): reloading every 5 s until it returns", e)
                self.redis_ok = False
                await asyncio.sleep(2.0)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_every)
            await self.flush()

    async def flush(self) -> None:
        dirty, self.engine.dirty = self.engine.dirty, set()
        removed, self.removed = self.removed, set()
        try:
            client = await self._redis()
            pipe = client.pipeline(transaction=False)
            mapping = {str(k): status_json(self.engine.targets[k], self.engine.status[k])
                       for k in dirty if k in self.engine.targets}
            statuses = redis_client.key(redis_client.HEALTH)
            if mapping:
                pipe.hset(statuses, mapping=mapping)
            if removed:
                pipe.hdel(statuses, *[str(k) for k in removed])
            pipe.set(redis_client.key(redis_client.HEALTHCHECKD), json.dumps({"pid": os.getpid(), "at": time.time(),
                                                "targets": len(self.engine.targets),
                                                "checks": self.engine.checks_done}), ex=10)
            await pipe.execute()
        except asyncio.CancelledError:
            raise
        except Exception:
            self.engine.dirty |= dirty  # publish them once Redis is back
            self.removed |= removed

    # --- transitions

    def _on_transition(self, target: Target, status: Status, old: str, result: CheckResult) -> None:
        self.transitions.put_nowait(TransitionEvent(target.key, old, status.state, result, status.since, target))

    async def _transitions_loop(self) -> None:
        while True:
            # Everything queued is handled together: when a switch dies and takes 500 servers with it,
            # the kernel gets all 500 weights at once instead of one database round trip apart.
            batch = [await self.transitions.get()]
            while not self.transitions.empty():
                batch.append(self.transitions.get_nowait())
            try:
                await self.handle(batch)
            except Exception:
                log.exception("handling the transitions of real servers %s failed", [ev.key for ev in batch][:20])
            self.handled += len(batch)

    async def handle(self, events: list[TransitionEvent]) -> None:
        """Kernel first (one change per service, however many of its servers moved), then the log,
        then the database and alerts in one transaction."""
        befores: dict[int, ServiceSpec] = {}
        mine = []
        for ev in events:
            svc_id = self.config.service_of.get(ev.key)
            if svc_id is None:
                continue  # removed meanwhile
            befores.setdefault(svc_id, self.config.services[svc_id])
            self.config.services[svc_id] = _with_health(self.config.services[svc_id], ev.key, ev.new)
            mine.append((ev, svc_id))
        if not mine:
            return
        actions = dict.fromkeys(befores, "no kernel change")
        if self.weights is not None:
            changes = [(svc_id, before, self.config.services[svc_id]) for svc_id, before in befores.items()]
            actions = await asyncio.get_running_loop().run_in_executor(self._kernel, self._change_all, changes)
        records = []
        for ev, svc_id in mine:
            spec = self.config.services[svc_id]
            rs = next(r for r in spec.real_servers if r.id == ev.key)
            self.engine.dirty.add(ev.key)
            records.append((ev, svc_id, spec, rs, actions[svc_id]))
        await self._in_db(self._record, records)

    def _change_all(self, changes) -> dict[int, str]:
        from django.db import close_old_connections

        from cluster.writer import session  # no Django at import (bench)

        close_old_connections()
        # One turn of the kernel writer for the whole batch: one lock, one journal entry.
        with session(self.weights.driver) as turn:
            actions = {svc_id: self.weights.change(before, after, turn) for svc_id, before, after in changes}
            if self.config.active_active:
                self._announce(turn, actions)
            return actions

    def _announce(self, turn, actions: dict[int, str]) -> None:
        """Active-active: the last server of a VIP down → the VIP off lo (bgpd withdraws it); one back → on."""
        ops = vip_ops(turn.state, self.config.services.values())
        if not ops:
            return
        result = turn.apply(ops)
        said = ", ".join(f"{'announce' if isinstance(op, AddAddress) else 'withdraw'} {op.address.address}"
                         for op in ops)
        if not result.ok:
            said += f" refused: {result.failed[0][1] if result.failed else 'not attempted'}"
        touched = {op.address.address for op in ops}
        for svc_id in actions:
            spec = self.config.services.get(svc_id)
            if spec is not None and spec.vip in touched:
                actions[svc_id] += f"; {said}"

    def _record(self, records) -> None:
        from django.db import transaction

        from realservers.models import RealServer  # no Django at import (bench)

        from .models import HealthEvent  # no Django at import (bench)

        # Logged here, in the database thread: thousands of lines at once must not hold up the checks.
        for ev, _, spec, rs, action in records:
            log.info("%s/%s %s: %s -> %s (%s); %s", spec.label, rs.label, rs.address, ev.old, ev.new,
                     ev.result.reason, action)
        keys = [ev.key for ev, *_ in records]
        alive = set()
        for i in range(0, len(keys), 500):  # deleted meanwhile: no row to update, no event to keep
            alive |= set(RealServer.objects.filter(pk__in=keys[i:i + 500]).values_list("pk", flat=True))
        records = [r for r in records if r[0].key in alive]
        with transaction.atomic():
            for ev, *_ in records:
                at = datetime.fromtimestamp(ev.at, UTC)
                RealServer.objects.filter(pk=ev.key).update(health=ev.new, health_since=at)
            HealthEvent.objects.bulk_create([
                HealthEvent(real_server_id=ev.key, at=datetime.fromtimestamp(ev.at, UTC), old_state=ev.old,
                            new_state=ev.new, check_type=ev.target.spec.type, reason=ev.result.reason[:300],
                            action=action[:200])
                for ev, _, _, _, action in records])
        for ev, svc_id, spec, rs, action in records:
            address = self.config.alert.get(svc_id)
            if self.alerts and address and ev.new in (UP, DOWN) and ev.old != UNKNOWN:
                send_alert(address, spec, rs, ev, action)


def send_alert(address: str, spec: ServiceSpec, rs, ev: TransitionEvent, action: str) -> None:
    from netconfig.system import send_alert as mail

    body = (f"Real server {rs.label} ({rs.address}) of virtual service {spec.label} ({spec.vip}) "
            f"went from {ev.old} to {ev.new} at {_iso(ev.at)}.\n\n"
            f"Check: {ev.target.spec.type}\nReason: {ev.result.reason}\nKernel: {action}\n")
    mail(f"{spec.label}/{rs.label} is {ev.new.upper()}", body, [address])
