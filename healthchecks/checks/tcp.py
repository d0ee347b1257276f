"""TCP connect: healthy when the three-way handshake completes."""

from __future__ import annotations

import asyncio
import socket
import struct

from healthchecks.checks import CheckSpec, Context

# Close with RST: no TIME_WAIT on the appliance, however many checks per second run.
_LINGER_RST = struct.pack("ii", 1, 0)


def family_of(address: str) -> int:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


async def connect(spec: CheckSpec, ctx: Context, type_: int = socket.SOCK_STREAM) -> socket.socket:
    """A non-blocking socket connected to the target (the caller closes it)."""
    s = socket.socket(family_of(spec.address), type_)
    try:
        s.setblocking(False)
        if type_ == socket.SOCK_STREAM:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
        ctx.phase = "connect"
        await asyncio.get_running_loop().sock_connect(s, (spec.address, spec.target_port))
    except BaseException:
        s.close()
        raise
    return s


async def check(spec: CheckSpec, ctx: Context) -> str:
    s = await connect(spec, ctx)
    s.close()
    return "connected"
