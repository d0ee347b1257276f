"""UDP request/reply: send a payload, expect an answer (containing the expected text, if set)."""

from __future__ import annotations

import asyncio
import codecs
import socket

from healthchecks.checks import CheckFailed, CheckSpec, Context
from healthchecks.checks.tcp import connect


def payload(text: str) -> bytes:
    """The configured payload; backslash escapes such as \\x00 or \\n are honoured."""
    return codecs.decode(text, "unicode_escape").encode("latin-1") if text else b"\n"


async def exchange(spec: CheckSpec, ctx: Context, data: bytes, accept=None, size: int = 4096) -> bytes:
    """Send ``data`` on a connected UDP socket; return the first reply ``accept(reply)`` likes.

    A connected socket reports an ICMP port unreachable as ConnectionRefusedError.
    """
    s = await connect(spec, ctx, socket.SOCK_DGRAM)
    loop = asyncio.get_running_loop()
    try:
        await loop.sock_sendall(s, data)
        ctx.phase = "reply"
        while True:
            try:
                reply = await loop.sock_recv(s, size)
            except ConnectionRefusedError:
                raise CheckFailed("port unreachable") from None
            if accept is None or accept(reply):
                return reply
    finally:
        s.close()


async def check(spec: CheckSpec, ctx: Context) -> str:
    reply = await exchange(spec, ctx, payload(spec.request))
    if spec.response:
        want = payload(spec.response)
        if want not in reply:
            raise CheckFailed(f"reply {reply[:40]!r} does not contain {spec.response!r}")
    return f"{len(reply)}-byte reply"
