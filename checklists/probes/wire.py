"""Raw Ethernet on one link (AF_PACKET): send frames, collect what comes back until a deadline."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Callable, Sequence

from .packets import ETH_P_ALL, parse

PACKET_OUTGOING = 4


class Wire:
    def __init__(self, ifname: str):
        self.ifname = ifname
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.sock.bind((ifname, 0))
        self.sock.setblocking(False)

    def close(self) -> None:
        self.sock.close()

    def send(self, frame: bytes) -> None:
        self.sock.send(frame)

    def exchange(self, frames: Sequence[bytes], *, timeout: float, tries: int = 2,
                 done: Callable[[list], bool] | None = None, outgoing: bool = False) -> list:
        """Send ``frames`` ``tries`` times spread over ``timeout``; return every parsed packet
        received meanwhile, stopping early once ``done(received)`` is true. Frames this host sends
        (ours and the kernel's) are left out unless ``outgoing``."""
        received: list = []
        start = time.monotonic()
        deadline = start + timeout
        gap = timeout / (tries + 1)
        sends = [start + i * gap for i in range(tries)]
        while True:
            now = time.monotonic()
            while sends and sends[0] <= now:
                sends.pop(0)
                for frame in frames:
                    self.send(frame)
            if now >= deadline or (done is not None and done(received)):
                return received
            wake = min([deadline, *sends[:1]])
            ready, _, _ = select.select([self.sock], [], [], max(0.0, wake - now))
            if not ready:
                continue
            while True:
                try:
                    data, addr = self.sock.recvfrom(65535)
                except BlockingIOError:
                    break
                if addr[2] == PACKET_OUTGOING and not outgoing:
                    continue
                pkt = parse(data)
                if pkt is not None:
                    received.append(pkt)
