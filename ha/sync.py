"""Messages between the two appliances of a pair, authenticated with the shared secret.

Every message carries ``X-Fulcrum-Timestamp`` (Unix seconds), ``X-Fulcrum-Nonce`` (random,
single use) and ``X-Fulcrum-Signature`` = hex HMAC-SHA256(secret, timestamp \\n nonce \\n
METHOD \\n path \\n body). The receiver refuses — and logs — a bad signature, a timestamp
outside the window, and a nonce it has seen before.

Configuration sync: the sender pushes the bundle of its last apply with a version; the
receiver validates it with cluster.bundle (all-or-nothing), imports it and applies it (the
apply holds IPVS and rules; the addresses stay with keepalived), then answers with its version.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
import urllib.error
import urllib.request
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from appliance.inputgate import ascii_digits
from cluster.apply import apply_now
from cluster.bundle import DELETE_ALL_CONFIRMATION, import_bundle, parse_bundle

from . import tls
from .models import Event, Outbox, Peer, SeenNonce

log = logging.getLogger("fulcrum.ha")

WINDOW = 30  # seconds a message's timestamp may differ from our clock
TIMEOUT = 10.0  # seconds for one HTTP exchange with the peer
HEADER_TS, HEADER_NONCE, HEADER_SIG = "X-Fulcrum-Timestamp", "X-Fulcrum-Nonce", "X-Fulcrum-Signature"
SYNC_REASON = "ha-sync"  # ApplyRun.reason of an apply the peer asked for (never pushed back)
API = "/api/v1/ha/peer"


class PeerError(RuntimeError):
    """The peer could not be reached (status None), or answered with an HTTP error (its status)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class Refused(Exception):
    """An incoming peer message failed authentication."""


# --------------------------------------------------------------------------- signing


def signature(secret: str, timestamp: str, nonce: str, method: str, path: str, body: bytes) -> str:
    msg = b"\n".join([timestamp.encode(), nonce.encode(), method.upper().encode(), path.encode(), body])
    return hmac.new(bytes.fromhex(secret), msg, hashlib.sha256).hexdigest()


def sign(secret: str, method: str, path: str, body: bytes, now: float | None = None) -> dict[str, str]:
    ts = str(int(time.time() if now is None else now))
    nonce = secrets.token_hex(16)
    return {HEADER_TS: ts, HEADER_NONCE: nonce, HEADER_SIG: signature(secret, ts, nonce, method, path, body)}


def refuse(reason: str, remote: str = "") -> Refused:
    log.warning("HA: refused a peer message from %s: %s", remote or "?", reason)
    Event.refused(reason, remote)
    return Refused(reason)


def verify(peer: Peer | None, headers, method: str, path: str, body: bytes, remote: str = "",
           now: float | None = None) -> None:
    """Raise Refused (already logged) unless the message is signed by our peer, fresh and new."""
    if peer is None:
        raise refuse("not paired: no shared secret to check the message with", remote)
    ts, nonce, sig = headers.get(HEADER_TS, ""), headers.get(HEADER_NONCE, ""), headers.get(HEADER_SIG, "")
    if not (ts and nonce and sig):
        raise refuse("unsigned message (missing timestamp, nonce or signature)", remote)
    if not (ascii_digits(ts) and 8 <= len(nonce) <= 64 and nonce.isalnum()):
        raise refuse("malformed timestamp or nonce", remote)
    expected = signature(peer.secret, ts, nonce, method, path, body)
    if not hmac.compare_digest(expected, sig.lower()):
        raise refuse("bad signature", remote)
    skew = (time.time() if now is None else now) - int(ts)
    if abs(skew) > WINDOW:
        raise refuse(f"timestamp {skew:+.0f} s from our clock (window ±{WINDOW} s)", remote)
    cutoff = timezone.now() - timedelta(seconds=2 * WINDOW)
    SeenNonce.objects.filter(seen_at__lt=cutoff).delete()
    try:
        with transaction.atomic():
            SeenNonce.objects.create(nonce=nonce)
    except IntegrityError:
        raise refuse(f"replayed nonce {nonce}", remote) from None


# --------------------------------------------------------------------------- sending

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # the peer is never behind a proxy


def post(peer: Peer, path: str, payload: dict, *, timeout: float = TIMEOUT, signed: bool = True,
         base_url: str | None = None) -> dict:
    """POST JSON to the peer (signed), return its JSON answer; PeerError on any failure."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if signed:
        headers.update(sign(peer.secret, "POST", path, body))
    url = (base_url or peer.base_url) + path
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    opener = _opener
    if url.startswith("https://"):
        if not peer.cert_fingerprint:
            raise PeerError("no confirmed certificate fingerprint for the peer: pair again")
        opener = tls.pinned_opener(peer.cert_fingerprint)
    try:
        with opener.open(req, timeout=timeout) as resp:
            return json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:2000].decode(errors="replace")
        try:
            detail = json.loads(detail).get("detail", detail)
        except (ValueError, AttributeError):
            pass
        raise PeerError(f"the peer answered {exc.code}: {detail}", exc.code) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PeerError(f"the peer at {url} cannot be reached: {reason}") from None


def _mark(peer_pk: int, **fields) -> None:
    Peer.objects.filter(pk=peer_pk).update(**fields)


def push_config() -> dict:
    """Send the outbox (the configuration of the last apply) to the peer. PeerError on failure."""
    peer = Peer.current()
    box = Outbox.objects.filter(pk=1).first()
    if peer is None or box is None:
        return {"skipped": "not paired" if peer is None else "nothing applied yet"}
    if peer.peer_version == box.version:
        return {"version": box.version, "skipped": "the peer has it"}
    _mark(peer.pk, sync_state=Peer.SYNCING)
    started = time.monotonic()
    try:
        answer = post(peer, f"{API}/config/", {"version": box.version, "from": peer.node_name,
                                               "bundle": box.bundle})
        if answer.get("apply") == "failed":
            raise PeerError(f"the peer imported version {box.version} but its apply failed: {answer.get('error')}")
    except PeerError as exc:
        _mark(peer.pk, sync_state=Peer.OUT_OF_SYNC, last_sync_error=str(exc)[:2000], reachable=_reachable(exc))
        Event.objects.create(kind=Event.SYNC, message=f"sync of version {box.version} failed: {exc}"[:500])
        log.warning("HA: sync of version %s failed: %s", box.version, exc)
        raise
    now = timezone.now()
    acked = int(answer.get("version") or 0)
    state = Peer.IN_SYNC if acked == box.version else Peer.OUT_OF_SYNC
    _mark(peer.pk, sync_state=state, peer_version=acked, last_sync_at=now, last_sync_error="",
          reachable=True, last_contact_at=now, peer_name=str(answer.get("node", ""))[:63] or peer.peer_name)
    ms = (time.monotonic() - started) * 1000
    Event.objects.create(kind=Event.SYNC, message=f"peer took version {box.version} in {ms:.0f} ms "
                                                  f"({answer.get('operations', 0)} kernel operations)")
    return {"version": acked, "ms": ms, **{k: answer[k] for k in ("apply", "operations") if k in answer}}


def _reachable(exc: PeerError) -> bool:
    return exc.status is not None


def heartbeat() -> dict:
    """Ask the peer how it is; catch it up when it is reachable and behind."""
    peer = Peer.current()
    if peer is None:
        return {"paired": False}
    try:
        answer = post(peer, f"{API}/status/", {"from": peer.node_name, "version": peer.local_version},
                      timeout=3.0)
    except PeerError as exc:
        _mark(peer.pk, reachable=_reachable(exc), last_sync_error=str(exc)[:2000],
              **({"sync_state": Peer.OUT_OF_SYNC} if peer.local_version else {}))
        return {"paired": True, "reachable": False, "error": str(exc)}
    acked = int(answer.get("version") or 0)
    _mark(peer.pk, reachable=True, last_contact_at=timezone.now(), peer_version=acked,
          sync_state=Peer.IN_SYNC if acked == peer.local_version and acked else Peer.OUT_OF_SYNC,
          peer_name=str(answer.get("node", ""))[:63] or peer.peer_name)
    result = {"paired": True, "reachable": True, "peer_version": acked, "vrrp": answer.get("vrrp_state")}
    box = Outbox.objects.filter(pk=1).first()
    if box and acked < box.version:
        result["sync"] = push_config()
    return result


# --------------------------------------------------------------------------- receiving


def import_and_apply(bundle, actor: str, reason: str):
    """Replace this appliance's configuration with `bundle` and apply it through its own writer; the ApplyRun.
    BundleError (nothing changed) when the bundle is invalid."""
    parse_bundle(bundle)  # all-or-nothing: a bad bundle changes nothing here
    with transaction.atomic():
        # The receiver mirrors the sender exactly, even when the sender's admin deleted every service.
        import_bundle(bundle, confirm=DELETE_ALL_CONFIRMATION)
    return apply_now(actor=actor, reason=reason)


def next_version(previous: int) -> int:
    """A configuration version after ``previous``: the time in ms, so a restored node's counter still moves on."""
    return max(int(time.time() * 1000), previous + 1)


def positive_version(payload: dict) -> int:
    version = payload.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version <= 0:
        raise ValueError("version must be a positive integer")
    return version


def receive_config(peer: Peer, payload: dict) -> dict:
    """Validate, import and apply a configuration the peer sent. BundleError when invalid."""
    version = positive_version(payload)
    peer.refresh_from_db()
    if version <= peer.local_version:
        # A retry, or an older message overtaken by a newer one: we already run it or newer.
        return {"version": peer.local_version, "apply": "unchanged", "node": peer.node_name}
    run = import_and_apply(payload.get("bundle"), f"peer {peer.peer_name or peer.address}", SYNC_REASON)
    now = timezone.now()
    if run.status != run.SUCCESS:
        Event.objects.create(kind=Event.SYNC, message=f"version {version} from the peer: apply failed: "
                                                      f"{run.error}"[:500])
        return {"version": peer.local_version, "apply": "failed", "error": run.error, "node": peer.node_name}
    _mark(peer.pk, local_version=version, peer_version=version, sync_state=Peer.IN_SYNC, last_sync_at=now,
          last_contact_at=now, reachable=True, last_sync_error="")
    Event.objects.create(kind=Event.SYNC, message=f"applied version {version} from the peer "
                                                  f"({run.operation_count} kernel operations)")
    return {"version": version, "apply": "success", "operations": run.operation_count, "node": peer.node_name}
