"""TCP connect checks without a task, a future or a timer each: the engine's fast path.

Thousands of TCP checks a second are mostly kernel work (socket, connect, close); asyncio's
``sock_connect`` adds a Task, a Future, a timeout handle and an epoll add/remove pair per check,
which cost several times the check itself. Here a check is: a non-blocking socket created in
one call, SO_LINGER 0 (close sends RST: no TIME_WAIT however many checks run), ``connect_ex``,
and, while the handshake is in flight, one registration in a private epoll set that the event
loop watches as a single reader. Closing the socket drops it from that set, so no unregister.
Timeouts are a heap of deadlines the engine's scheduler expires on its ticks.

Reasons match ``healthchecks.checks.tcp`` run through ``run_check``: "connected",
"connection refused", "connect timeout after 1.0 s", ...
"""

from __future__ import annotations

import asyncio
import errno
import heapq
import itertools
import os
import select
import socket
import struct
from collections.abc import Callable

from healthchecks.checks import CheckResult, CheckSpec, describe_error

_LINGER_RST = struct.pack("ii", 1, 0)
_NONBLOCKING_STREAM = socket.SOCK_STREAM | socket.SOCK_NONBLOCK
_IN_PROGRESS = (errno.EINPROGRESS, errno.EAGAIN)

Done = Callable[[object, CheckResult], None]  # (token the caller gave start(), result)


def _reason(err: int) -> str:
    return describe_error(OSError(err, os.strerror(err)))  # OSError() picks ConnectionRefusedError etc.


class TcpProbes:
    """In-flight TCP connects of one event loop; ``done(token, result)`` is called for each."""

    def __init__(self, loop: asyncio.AbstractEventLoop, done: Done):
        self.loop = loop
        self.done = done
        self.epoll = select.epoll()
        # fd -> (socket, token, started, seq); seq tells a deadline from one of a reused fd.
        self.inflight: dict[int, tuple[socket.socket, object, float, int]] = {}
        self.deadlines: list[tuple[float, int, int, float]] = []  # (deadline, seq, fd, timeout)
        self.seq = itertools.count()
        loop.add_reader(self.epoll.fileno(), self._ready)

    def start(self, spec: CheckSpec, token: object) -> None:
        now = self.loop.time()
        try:
            s = socket.socket(socket.AF_INET6 if ":" in spec.address else socket.AF_INET, _NONBLOCKING_STREAM)
        except OSError as e:  # out of file descriptors, ...
            self.done(token, CheckResult(False, describe_error(e), 0.0))
            return
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
            err = s.connect_ex((spec.address, spec.target_port))
            if err in _IN_PROGRESS:
                fd = s.fileno()
                self.epoll.register(fd, select.EPOLLOUT)
                seq = next(self.seq)
                self.inflight[fd] = (s, token, now, seq)
                heapq.heappush(self.deadlines, (now + spec.timeout, seq, fd, spec.timeout))
                return
            reason = "connected" if err == 0 else _reason(err)
        except OSError as e:  # a malformed address, epoll out of room: not a connect result
            err, reason = -1, describe_error(e)
        s.close()
        self.done(token, CheckResult(err == 0, reason, self.loop.time() - now))

    def _ready(self) -> None:
        now = self.loop.time()
        for fd, _ in self.epoll.poll(0, max(1, len(self.inflight))):
            entry = self.inflight.pop(fd, None)
            if entry is None:
                continue
            s, token, started, _ = entry
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            s.close()
            self.done(token, CheckResult(err == 0, "connected" if err == 0 else _reason(err), now - started))

    def expire(self, now: float) -> None:
        """Fail every connect whose deadline has passed."""
        deadlines = self.deadlines
        if deadlines and deadlines[0][0] <= now:
            self._ready()  # answers the loop had no time to read yet are answers, not timeouts
        while deadlines and deadlines[0][0] <= now:
            _, seq, fd, timeout = heapq.heappop(deadlines)
            entry = self.inflight.get(fd)
            if entry is None or entry[3] != seq:
                continue  # answered already (and the fd perhaps reused)
            del self.inflight[fd]
            entry[0].close()
            self.done(entry[1], CheckResult(False, f"connect timeout after {timeout:.1f} s", now - entry[2]))

    def next_deadline(self) -> float | None:
        # Entries of answered connects stay until they come due; dropping them early is not worth it.
        return self.deadlines[0][0] if self.deadlines else None

    def close(self) -> None:
        self.loop.remove_reader(self.epoll.fileno())
        for s, *_ in self.inflight.values():
            s.close()
        self.inflight.clear()
        self.deadlines.clear()
        self.epoll.close()
