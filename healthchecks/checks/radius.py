"""RADIUS: an Access-Request with the shared secret; any authentic answer means alive.

Accept, Reject and Challenge all prove the server is up and knows our secret. The answer
is authentic when its Response Authenticator (RFC 2865 §3) and, if present, its
Message-Authenticator (RFC 3579 §3.2) verify with the secret. A server that does not know
us, or a wrong secret, gets no answer (FreeRADIUS drops such requests): a timeout.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct

from healthchecks.checks import CheckFailed, CheckSpec, Context
from healthchecks.checks.udp import exchange

ACCESS_REQUEST, ACCESS_ACCEPT, ACCESS_REJECT, ACCESS_CHALLENGE = 1, 2, 3, 11
ANSWERS = {ACCESS_ACCEPT: "Access-Accept", ACCESS_REJECT: "Access-Reject", ACCESS_CHALLENGE: "Access-Challenge"}
USER_NAME, USER_PASSWORD, NAS_IDENTIFIER, MESSAGE_AUTHENTICATOR = 1, 2, 32, 80
USER = b"fulcrum-healthcheck"
PASSWORD = b"fulcrum-healthcheck"


def _attr(kind: int, value: bytes) -> bytes:
    return bytes([kind, len(value) + 2]) + value


def hide_password(password: bytes, secret: bytes, authenticator: bytes) -> bytes:
    """User-Password hiding, RFC 2865 §5.2."""
    padded = password + b"\0" * (-len(password) % 16 or (16 if not password else 0))
    out, last = b"", authenticator
    for i in range(0, len(padded), 16):
        key = hashlib.md5(secret + last).digest()
        last = bytes(a ^ b for a, b in zip(padded[i:i + 16], key, strict=True))
        out += last
    return out


def access_request(secret: bytes, ident: int, authenticator: bytes) -> bytes:
    attrs = (_attr(USER_NAME, USER) + _attr(USER_PASSWORD, hide_password(PASSWORD, secret, authenticator))
             + _attr(NAS_IDENTIFIER, b"fulcrum") + _attr(MESSAGE_AUTHENTICATOR, b"\0" * 16))
    length = 20 + len(attrs)
    packet = struct.pack("!BBH", ACCESS_REQUEST, ident, length) + authenticator + attrs
    mac = hmac.new(secret, packet, hashlib.md5).digest()
    return packet[:-16] + mac


def _attributes(packet: bytes):
    i = 20
    while i + 2 <= len(packet):
        kind, n = packet[i], packet[i + 1]
        if n < 2:
            raise CheckFailed("malformed RADIUS attribute")
        yield i, kind, packet[i + 2:i + n]
        i += n


def verify_reply(reply: bytes, secret: bytes, ident: int, req_auth: bytes) -> int:
    """The reply's code if it is an authentic answer to our request; raises CheckFailed."""
    if len(reply) < 20:
        raise CheckFailed("short RADIUS reply")
    code, rid, length = struct.unpack("!BBH", reply[:4])
    if rid != ident or length > len(reply) or length < 20:
        raise CheckFailed("RADIUS reply does not match the request")
    reply = reply[:length]
    expected = hashlib.md5(reply[:4] + req_auth + reply[20:] + secret).digest()
    if not hmac.compare_digest(expected, reply[4:20]):
        raise CheckFailed("RADIUS reply not authentic (wrong shared secret?)")
    for pos, kind, value in _attributes(reply):
        if kind == MESSAGE_AUTHENTICATOR:
            zeroed = reply[:4] + req_auth + reply[20:pos + 2] + b"\0" * 16 + reply[pos + 18:]
            if not hmac.compare_digest(hmac.new(secret, zeroed, hashlib.md5).digest(), value):
                raise CheckFailed("RADIUS Message-Authenticator does not verify")
    if code not in ANSWERS:
        raise CheckFailed(f"unexpected RADIUS code {code}")
    return code


async def check(spec: CheckSpec, ctx: Context) -> str:
    if not spec.secret:
        raise CheckFailed("no RADIUS shared secret configured")
    secret = spec.secret.encode()
    ident = os.urandom(1)[0]
    auth = os.urandom(16)
    reply = await exchange(spec, ctx, access_request(secret, ident, auth),
                           accept=lambda r: len(r) >= 2 and r[1] == ident)
    return ANSWERS[verify_reply(reply, secret, ident, auth)]
