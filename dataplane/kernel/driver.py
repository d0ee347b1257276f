"""The dataplane drivers: the kernel one, and a render-only one for hosts without IPVS.

Both take the ops of ``dataplane.diff.plan`` and return an ``ApplyResult``::

    driver = KernelDriver()                      # or RenderOnlyDriver()
    now = driver.read(sysctl_names=[n for n, _ in desired.sysctls])
    result = driver.apply(plan(now, desired))
    if not result.ok:                            # roll back what did get applied
        driver.apply(plan(simulate(now, result.applied), now))
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from dataplane import diff
from dataplane.desired import DesiredState, ServiceKey
from dataplane.diff import (
    AddAddress,
    AddDest,
    AddService,
    DelAddress,
    DelDest,
    DelService,
    EditDest,
    EditService,
    Op,
    ReplaceRules,
    SetSysctl,
    SetTimeouts,
)
from dataplane.kernel import ipvs as nl
from dataplane.kernel import sysctl
from dataplane.kernel.addresses import Addresses
from dataplane.kernel.netfilter import Netfilter


@dataclass(frozen=True)
class ApplyResult:
    """What ``apply(ops)`` did.

    ``applied``: the ops the kernel accepted, in order (feed them to ``diff.simulate``).
    ``failed``: (op, error) for each op the kernel refused. ``attempted``: ops[:attempted]
    were tried; none after. Ops are tried in order and the driver stops after a failure,
    except that IPVS ops go to the kernel in batches and the kernel processes every
    message of a batch: ops after a failed one in the same batch may be in ``applied``.
    """

    applied: tuple[Op, ...]
    failed: tuple[tuple[Op, str], ...]
    attempted: int
    total: int

    @property
    def ok(self) -> bool:
        return not self.failed and self.attempted == self.total


@dataclass(frozen=True)
class IpvsTable:
    """The kernel's IPVS table with its counters."""

    services: tuple[nl.ServiceEntry, ...]
    destinations: tuple[nl.DestEntry, ...]
    timeouts: object


def ipvs_available() -> bool:
    """True when this host's kernel answers the IPVS generic netlink family."""
    try:
        with nl.IpvsSocket() as s:
            s.version()
        return True
    except OSError:
        return False


def _request(op: Op, tag: int, keys: dict) -> nl.Request:
    match op:
        case AddService(s):
            return nl.service_request(nl.CMD_NEW_SERVICE, s, tag)
        case EditService(s):
            return nl.service_request(nl.CMD_SET_SERVICE, s, tag)
        case DelService(s):
            return nl.service_request(nl.CMD_DEL_SERVICE, s.key, tag)
        case AddDest(d):
            return nl.dest_request(nl.CMD_NEW_DEST, d, tag, keys)
        case EditDest(d):
            return nl.dest_request(nl.CMD_SET_DEST, d, tag, keys)
        case DelDest(d):
            return nl.dest_request(nl.CMD_DEL_DEST, d, tag, keys)
        case SetTimeouts(t):
            return nl.timeouts_request(t, tag)
    raise TypeError(f"not an IPVS op: {op!r}")


class KernelDriver:
    """Applies ops to this host's kernel (the calling thread's network namespace).

    ``iptables_backend``: "" (the system's iptables), "legacy" or "nft"; None picks
    iptables-legacy when present and the nft backend is not usable.
    """

    def __init__(self, *, iptables_backend: str | None = None, batch: int = nl.BATCH_MESSAGES):
        self.ipvs = nl.IpvsSocket(batch=batch)
        self.netfilter = Netfilter(iptables_backend)
        self._addresses = None
        self._addresses_cls = Addresses

    @property
    def addresses(self):
        if self._addresses is None:
            self._addresses = self._addresses_cls()
        return self._addresses

    def close(self) -> None:
        self.ipvs.close()
        if self._addresses is not None:
            self._addresses.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- reading

    def read_ipvs(self) -> IpvsTable:
        services = tuple(self.ipvs.services())
        dests = tuple(d for s in services for d in self.ipvs.dests(s.service.key))
        return IpvsTable(services, dests, self.ipvs.timeouts())

    def read(self, sysctl_names: Iterable[str] = (), families: Iterable[int] = (4, 6)) -> DesiredState:
        """What the kernel holds, in DesiredState terms (only what Fulcrum owns)."""
        services = self.ipvs.services()
        dests = [d.dest for s in services for d in self.ipvs.dests(s.service.key)]
        rules = []
        for family in families:
            with contextlib.suppress(Exception):  # no ip6tables: nothing of ours there
                rules += self.netfilter.read(family)
        sysctls = tuple(sorted((n, v) for n in set(sysctl_names) if (v := sysctl.read(n)) is not None))
        return DesiredState(
            services=frozenset(s.service for s in services),
            destinations=frozenset(dests),
            addresses=self.addresses.read(),
            rules=tuple(rules),
            sysctls=sysctls,
            timeouts=self.ipvs.timeouts(),
        )

    # --- writing

    def apply(self, ops: Sequence[Op]) -> ApplyResult:
        applied: list[Op] = []
        failed: list[tuple[Op, str]] = []
        i = 0
        while i < len(ops):
            if isinstance(ops[i], diff.IPVS_OPS):
                j = i
                while j < len(ops) and isinstance(ops[j], diff.IPVS_OPS):
                    j += 1
                keys: dict[ServiceKey, bytes] = {}
                reqs = [_request(ops[k], k, keys) for k in range(i, j)]
                attempted, failures = self.ipvs.execute(reqs)
                bad = {f.request.tag: f for f in failures}
                for k in range(i, i + attempted):
                    if k in bad:
                        failed.append((ops[k], f"[errno {bad[k].errno}] {bad[k].message}"))
                    else:
                        applied.append(ops[k])
                i += attempted
            else:
                try:
                    self._apply_one(ops[i])
                    applied.append(ops[i])
                except Exception as e:  # reported, never raised: the caller rolls back
                    failed.append((ops[i], f"{type(e).__name__}: {e}"))
                i += 1
            if failed:
                break
        return ApplyResult(tuple(applied), tuple(failed), i, len(ops))

    def _apply_one(self, op: Op) -> None:
        match op:
            case SetSysctl(name, value):
                sysctl.write(name, value)
            case AddAddress(a):
                self.addresses.add(a)
            case DelAddress(a):
                self.addresses.delete(a)
            case ReplaceRules(family, rules):
                self.netfilter.replace(family, rules)
            case _:
                raise TypeError(f"unknown op {op!r}")


@dataclass
class RenderOnlyDriver:
    """Same interface as KernelDriver, for hosts without IPVS: records, never touches.

    ``state`` is what the kernel would hold; ``log`` every op ever applied, in order.
    ``fail_on`` makes ops matching it fail (tests of the rollback path).
    """

    state: DesiredState = field(default_factory=DesiredState.empty)
    log: list[Op] = field(default_factory=list)
    fail_on: object = None  # callable(op) -> bool

    def read(self, sysctl_names: Iterable[str] = (), families: Iterable[int] = (4, 6)) -> DesiredState:
        names = set(sysctl_names)
        return replace(self.state, sysctls=tuple(kv for kv in self.state.sysctls if kv[0] in names))

    def read_ipvs(self) -> IpvsTable:
        zero: dict = {}
        return IpvsTable(
            tuple(nl.ServiceEntry(s, zero) for s in sorted(self.state.services)),
            tuple(nl.DestEntry(d, 0, 0, 0, zero) for d in sorted(self.state.destinations)),
            self.state.timeouts,
        )

    def apply(self, ops: Sequence[Op]) -> ApplyResult:
        applied = []
        for i, op in enumerate(ops):
            if self.fail_on is not None and self.fail_on(op):
                return ApplyResult(tuple(applied), ((op, "refused (fail_on)"),), i + 1, len(ops))
            self.state = diff.simulate(self.state, [op])
            self.log.append(op)
            applied.append(op)
        return ApplyResult(tuple(applied), (), len(ops), len(ops))

    def close(self) -> None:
        pass
