"""DNS query over UDP: healthy when the server answers our query with NOERROR (or NXDOMAIN).

``request`` is "NAME" or "NAME TYPE" (A, AAAA, NS, SOA, MX, TXT, PTR, CNAME, ANY); the
default is "localhost A". With ``response`` set, an A/AAAA answer must equal it (or any
answer's text must contain it).
"""

from __future__ import annotations

import ipaddress
import random
import struct

from healthchecks.checks import CheckFailed, CheckSpec, Context
from healthchecks.checks.udp import exchange

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28, "ANY": 255}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
HEALTHY_RCODES = (0, 3)


def parse_request(text: str) -> tuple[str, int]:
    parts = (text or "localhost").split()
    name = parts[0]
    qtype = TYPES.get(parts[1].upper(), 1) if len(parts) > 1 else 1
    return name, qtype


def encode_name(name: str) -> bytes:
    out = b""
    for label in name.strip(".").split("."):
        if label:
            raw = label.encode("idna")
            if len(raw) > 63:
                raise ValueError(f"DNS label too long: {label!r}")
            out += bytes([len(raw)]) + raw
    return out + b"\0"


def query(name: str, qtype: int, qid: int) -> bytes:
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + encode_name(name) + struct.pack("!HH", qtype, 1)


def _skip_name(data: bytes, i: int) -> int:
    while i < len(data):
        n = data[i]
        if n == 0:
            return i + 1
        if n & 0xC0 == 0xC0:
            return i + 2
        i += n + 1
    raise ValueError("truncated name")


def answers(data: bytes) -> list[str]:
    """Text of the answer records: addresses for A/AAAA, raw data otherwise."""
    qd, an = struct.unpack("!HH", data[4:8])
    i = 12
    for _ in range(qd):
        i = _skip_name(data, i) + 4
    out = []
    for _ in range(an):
        i = _skip_name(data, i)
        rtype, _cls, _ttl, length = struct.unpack("!HHIH", data[i:i + 10])
        rdata = data[i + 10:i + 10 + length]
        i += 10 + length
        if rtype == 1 and length == 4:
            out.append(str(ipaddress.IPv4Address(rdata)))
        elif rtype == 28 and length == 16:
            out.append(str(ipaddress.IPv6Address(rdata)))
        else:
            out.append(rdata.decode("latin-1"))
    return out


async def check(spec: CheckSpec, ctx: Context) -> str:
    name, qtype = parse_request(spec.request)
    qid = random.getrandbits(16)
    reply = await exchange(spec, ctx, query(name, qtype, qid),
                           accept=lambda r: len(r) >= 12 and r[0:2] == struct.pack("!H", qid) and r[2] & 0x80)
    rcode = reply[3] & 0x0F
    if rcode not in HEALTHY_RCODES:
        raise CheckFailed(f"DNS answer {RCODES.get(rcode, rcode)} for {name}")
    found = answers(reply)
    if spec.response:
        want = spec.response.strip()
        if not any(a == want or want in a for a in found):
            raise CheckFailed(f"DNS answer for {name} is {', '.join(found) or 'empty'}, expected {want}")
    return f"DNS {RCODES[rcode]}, {len(found)} answer(s)"
