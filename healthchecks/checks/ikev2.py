"""IKEv2: a well-formed IKE_SA_INIT request (RFC 7296 §1.2) to UDP 500; any IKE answer means alive.

The responder answers with its own IKE_SA_INIT (a full response), or with a notification
such as NO_PROPOSAL_CHOSEN, INVALID_KE_PAYLOAD or COOKIE: each proves the IKE service runs.
An answer must carry our initiator SPI and the Response flag. We never send IKE_AUTH, so no
SA is ever established; a half-open SA on the responder times out on its own.

To UDP 4500 the message goes with the four-zero-byte non-ESP marker (RFC 3948 §2.2).
"""

from __future__ import annotations

import os
import struct

from healthchecks.checks import CheckFailed, CheckSpec, Context
from healthchecks.checks.udp import exchange

IKE_SA_INIT = 34
FLAG_INITIATOR, FLAG_RESPONSE = 0x08, 0x20
PAYLOAD_NONE, PAYLOAD_SA, PAYLOAD_KE, PAYLOAD_NONCE, PAYLOAD_NOTIFY = 0, 33, 34, 40, 41
NOTIFY_NAMES = {
    7: "INVALID_SYNTAX", 14: "NO_PROPOSAL_CHOSEN", 17: "INVALID_KE_PAYLOAD", 24: "AUTHENTICATION_FAILED",
    16390: "COOKIE", 16388: "NAT_DETECTION_SOURCE_IP", 16389: "NAT_DETECTION_DESTINATION_IP",
}
NON_ESP_MARKER = b"\0\0\0\0"

# The offer: AES-CBC-256 / HMAC-SHA2-256 PRF / HMAC-SHA2-256-128 / MODP-2048 (group 14), what
# Windows RRAS and strongSwan both accept with their defaults.
ENCR, PRF, INTEG, DH = 1, 2, 3, 4
ENCR_AES_CBC, PRF_HMAC_SHA2_256, AUTH_HMAC_SHA2_256_128, MODP_2048 = 12, 5, 12, 14
KEY_LENGTH_ATTR = 0x800E  # TV format, Key Length

# RFC 3526 group 14: 2048-bit MODP, generator 2.
MODP_2048_P = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
    "15728E5A8AACAA68FFFFFFFFFFFFFFFF", 16)
_ke_value: bytes | None = None


def ke_value() -> bytes:
    """A real Diffie-Hellman public value g^x mod p (made once: it only has to be well-formed)."""
    global _ke_value
    if _ke_value is None:
        x = int.from_bytes(os.urandom(32), "big")
        _ke_value = pow(2, x, MODP_2048_P).to_bytes(256, "big")
    return _ke_value


def _transform(kind: int, ident: int, last: bool, attrs: bytes = b"") -> bytes:
    return struct.pack("!BBHBBH", 0 if last else 3, 0, 8 + len(attrs), kind, 0, ident) + attrs


def _payload(next_payload: int, body: bytes) -> bytes:
    return struct.pack("!BBH", next_payload, 0, 4 + len(body)) + body


def ike_sa_init(spi_i: bytes) -> bytes:
    transforms = (_transform(ENCR, ENCR_AES_CBC, False, struct.pack("!HH", KEY_LENGTH_ATTR, 256))
                  + _transform(PRF, PRF_HMAC_SHA2_256, False)
                  + _transform(INTEG, AUTH_HMAC_SHA2_256_128, False)
                  + _transform(DH, MODP_2048, True))
    proposal = struct.pack("!BBHBBBB", 0, 0, 8 + len(transforms), 1, 1, 0, 4) + transforms
    body = (_payload(PAYLOAD_KE, proposal)
            + _payload(PAYLOAD_NONCE, struct.pack("!HH", MODP_2048, 0) + ke_value())
            + _payload(PAYLOAD_NONE, os.urandom(32)))
    header = struct.pack("!8s8sBBBBII", spi_i, b"\0" * 8, PAYLOAD_SA, 0x20, IKE_SA_INIT, FLAG_INITIATOR, 0,
                         28 + len(body))
    return header + body


def notifications(msg: bytes) -> list[str]:
    """Names of the Notify payloads in an IKE message (best effort)."""
    names, kind, i = [], msg[16], 28
    while kind != PAYLOAD_NONE and i + 4 <= len(msg):
        nxt, _crit, length = struct.unpack("!BBH", msg[i:i + 4])
        if length < 4:
            break
        if kind == PAYLOAD_NOTIFY and length >= 8:
            ntype = struct.unpack("!H", msg[i + 6:i + 8])[0]
            names.append(NOTIFY_NAMES.get(ntype, f"notify {ntype}"))
        kind, i = nxt, i + length
    return names


def is_answer(msg: bytes, spi_i: bytes) -> bool:
    return len(msg) >= 28 and msg[:8] == spi_i and msg[17] >> 4 == 2 and bool(msg[19] & FLAG_RESPONSE)


async def check(spec: CheckSpec, ctx: Context) -> str:
    spi_i = os.urandom(8)
    marker = NON_ESP_MARKER if spec.target_port == 4500 else b""
    reply = await exchange(spec, ctx, marker + ike_sa_init(spi_i),
                           accept=lambda r: is_answer(r[len(marker):], spi_i))
    msg = reply[len(marker):]
    if msg[18] != IKE_SA_INIT:
        raise CheckFailed(f"IKE answer of exchange type {msg[18]}, expected IKE_SA_INIT")
    notes = [n for n in notifications(msg) if not n.startswith("NAT_DETECTION")]
    return "IKE_SA_INIT answered" + (f" ({', '.join(notes)})" if notes else "")
