"""Health check implementations: pure asyncio, no Django.

Each check type is a coroutine ``check(spec, ctx)`` that returns normally when the real
server is healthy and raises ``CheckFailed`` (or any ``OSError``) with a human reason when
it is not. ``run_check(spec)`` adds the timeout and turns every outcome into a
``CheckResult`` whose ``reason`` reads like "connect timeout after 1.0 s".

The bench, the kernel-lab guest and ``python -m healthchecks.checks`` run them alone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

# Check types (the same strings as virtualservices.choices.CHECK_TYPES).
NONE, DOWN, TCP, HTTP, HTTPS, SSTP = "none", "down", "tcp", "http", "https", "sstp"
UDP, ICMP, DNS, RADIUS, IKEV2, EXTERNAL = "udp", "icmp", "dns", "radius", "ikev2", "external"

# SSTP preset: HTTPS to the SSTP URL. A Windows RRAS server with SSTP running answers a plain
# request for this URL with "401 Unauthorized" (the SSTP handshake itself is an
# SSTP_DUPLEX_POST); a server whose SSTP service is stopped answers 404/503 or not at all.
SSTP_PATH = "/sra_{BA195980-CD49-458b-9E23-C84EE0ADCD75}/"
SSTP_DEFAULT_STATUS = 401

# Default ports when neither the check nor the real server names one.
DEFAULT_PORTS = {HTTP: 80, HTTPS: 443, SSTP: 443, DNS: 53, RADIUS: 1812, IKEV2: 500}


@dataclass(frozen=True)
class CheckSpec:
    """Everything one check needs: the target and the settings of its virtual service."""

    type: str
    address: str
    port: int | None = None
    timeout: float = 1.0
    method: str = "GET"
    request: str = ""  # HTTP(S): path; UDP: payload; DNS: "name [TYPE]"
    response: str = ""  # HTTP(S)/SSTP: body pattern; UDP: expected reply text; DNS: expected answer
    status: int | None = None  # HTTP(S): expected status; None: any 2xx/3xx (SSTP: 401)
    vhost: str = ""
    secret: str = ""  # RADIUS shared secret
    script: str = ""  # external: a file name in script_dir
    script_dir: str = ""
    vip: str = ""
    vip_port: int | None = None
    verify_tls: bool = False

    @property
    def target_port(self) -> int:
        return self.port or DEFAULT_PORTS.get(self.type, 0)


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    reason: str  # "ok", "connection refused", "connect timeout after 1.0 s", ...
    seconds: float  # how long the check took


class CheckFailed(Exception):
    """The real server answered, but not the way a healthy one does."""


class Context:
    """What a running check is doing, so a timeout can say where it stopped."""

    __slots__ = ("phase",)

    def __init__(self, phase: str = "connect"):
        self.phase = phase


CheckFunc = Callable[[CheckSpec, Context], Awaitable[str | None]]


def _registry() -> dict[str, CheckFunc]:
    # each check module imports this package
    from healthchecks.checks import dns, external, http, icmp, ikev2, radius, tcp, udp

    return {
        NONE: _always_up,
        DOWN: _always_down,
        TCP: tcp.check,
        HTTP: http.check,
        HTTPS: http.check,
        SSTP: http.check,
        UDP: udp.check,
        ICMP: icmp.check,
        DNS: dns.check,
        RADIUS: radius.check,
        IKEV2: ikev2.check,
        EXTERNAL: external.check,
    }


async def _always_up(spec: CheckSpec, ctx: Context) -> str:
    return "no check (always up)"


async def _always_down(spec: CheckSpec, ctx: Context) -> str:
    raise CheckFailed("always down")


_CHECKS: dict[str, CheckFunc] | None = None


def check_function(kind: str) -> CheckFunc:
    global _CHECKS
    if _CHECKS is None:
        _CHECKS = _registry()
    try:
        return _CHECKS[kind]
    except KeyError:
        raise ValueError(f"unknown check type {kind!r}") from None


def describe_error(e: BaseException) -> str:
    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    if isinstance(e, ConnectionResetError):
        return "connection reset"
    if isinstance(e, OSError) and e.strerror:
        return e.strerror[0].lower() + e.strerror[1:]
    return str(e) or type(e).__name__


async def run_check(spec: CheckSpec) -> CheckResult:
    """Run one check with its timeout; never raises (except cancellation)."""
    func = check_function(spec.type)
    ctx = Context()
    started = time.monotonic()
    try:
        async with asyncio.timeout(spec.timeout):
            detail = await func(spec, ctx)
    except TimeoutError:
        return CheckResult(False, f"{ctx.phase} timeout after {spec.timeout:.1f} s", time.monotonic() - started)
    except CheckFailed as e:
        return CheckResult(False, str(e), time.monotonic() - started)
    except (OSError, EOFError, ValueError) as e:
        reason = describe_error(e) if ctx.phase == "connect" else f"{ctx.phase}: {describe_error(e)}"
        return CheckResult(False, reason, time.monotonic() - started)
    return CheckResult(True, detail or "ok", time.monotonic() - started)


def run_check_sync(spec: CheckSpec) -> CheckResult:
    return asyncio.run(run_check(spec))
