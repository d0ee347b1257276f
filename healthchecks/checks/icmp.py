"""ICMP echo (ping) over a raw socket: needs root or CAP_NET_RAW, like healthcheckd itself.

One raw socket per address family is shared by every ping of the process: the kernel hands
each raw socket every ICMP packet, so per-check sockets would each see all the replies.
Replies are matched to their request by (address, identifier, sequence).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import struct

from healthchecks.checks import CheckFailed, CheckSpec, Context

ECHO_REQUEST = {socket.AF_INET: 8, socket.AF_INET6: 128}
ECHO_REPLY = {socket.AF_INET: 0, socket.AF_INET6: 129}
UNREACHABLE = {socket.AF_INET: 3, socket.AF_INET6: 1}


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def echo_request(family: int, ident: int, seq: int, payload: bytes = b"fulcrum-healthcheck") -> bytes:
    kind = ECHO_REQUEST[family]
    header = struct.pack("!BBHHH", kind, 0, 0, ident, seq)
    # The kernel fills in the ICMPv6 checksum (it covers a pseudo-header we do not see).
    csum = checksum(header + payload) if family == socket.AF_INET else 0
    return struct.pack("!BBHHH", kind, 0, csum, ident, seq) + payload


class Pinger:
    """The shared raw socket of one family and the pings waiting for a reply."""

    def __init__(self, family: int):
        self.family = family
        proto = socket.IPPROTO_ICMP if family == socket.AF_INET else socket.IPPROTO_ICMPV6
        self.sock = socket.socket(family, socket.SOCK_RAW, proto)
        self.sock.setblocking(False)
        self.ident = os.getpid() & 0xFFFF
        self.seq = itertools.count(1)
        self.waiting: dict[tuple[str, int], asyncio.Future] = {}
        self.loop = asyncio.get_running_loop()
        self.loop.add_reader(self.sock.fileno(), self._readable)

    def _readable(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if self.family == socket.AF_INET:
                data = data[(data[0] & 0x0F) * 4:]  # IPv4 raw sockets include the IP header
            if len(data) < 8:
                continue
            kind, _code, _csum, ident, seq = struct.unpack("!BBHHH", data[:8])
            if kind == ECHO_REPLY[self.family] and ident == self.ident:
                fut = self.waiting.pop((peer[0], seq), None)
                if fut is not None and not fut.done():
                    fut.set_result(None)
            elif kind == UNREACHABLE[self.family]:
                # The quoted original: IP header (v4) + our echo request's first 8 bytes.
                inner = data[8:]
                if self.family == socket.AF_INET and inner:
                    inner = inner[(inner[0] & 0x0F) * 4:]
                else:
                    inner = inner[40:]
                if len(inner) >= 8:
                    _k, _c, _s, ident, seq = struct.unpack("!BBHHH", inner[:8])
                    if ident == self.ident:
                        for key in [k for k in self.waiting if k[1] == seq]:
                            fut = self.waiting.pop(key)
                            if not fut.done():
                                fut.set_exception(CheckFailed(f"destination unreachable (from {peer[0]})"))

    async def ping(self, address: str) -> None:
        seq = next(self.seq) & 0xFFFF
        fut = self.loop.create_future()
        key = (socket.inet_ntop(self.family, socket.inet_pton(self.family, address)), seq)
        self.waiting[key] = fut
        try:
            self.sock.sendto(echo_request(self.family, self.ident, seq), (address, 0))
            await fut
        finally:
            self.waiting.pop(key, None)


_pingers: dict[tuple[int, int], Pinger] = {}


def pinger(family: int) -> Pinger:
    loop = asyncio.get_running_loop()
    for old_key in [k for k, v in _pingers.items() if v.loop.is_closed()]:
        _pingers.pop(old_key).sock.close()
    key = (id(loop), family)
    p = _pingers.get(key)
    if p is None or p.loop is not loop or p.loop.is_closed():
        p = _pingers[key] = Pinger(family)
    return p


async def check(spec: CheckSpec, ctx: Context) -> str:
    family = socket.AF_INET6 if ":" in spec.address else socket.AF_INET
    ctx.phase = "echo reply"
    try:
        p = pinger(family)
    except PermissionError:
        raise CheckFailed("ICMP needs root (CAP_NET_RAW)") from None
    await p.ping(spec.address)
    return "echo reply"
