"""Pairing and unpairing, as vendor appliances do it.

On the first appliance the admin enters the peer's address and the peer's admin credentials
(or a one-time pairing token made on the peer). This appliance makes a shared secret and sends
it, with the credentials, to the peer; the peer checks them, checks that it is unconfigured
(no services, no floating IPs, not paired), and stores the secret with the opposite role.
Then this appliance stores its side, applies (keepalived takes the addresses) and syncs.
"""

from __future__ import annotations

import ipaddress
import secrets
from typing import NamedTuple

from django.contrib.auth import authenticate
from django.db import transaction

from accounts import throttle
from accounts.roles import CONFIGURE, can
from audit.models import ChangeRecord
from audit.recording import record
from cluster.models import ACTIVE_ACTIVE, ClusterSettings, FloatingIP
from virtualservices.models import VirtualService

from . import connsync, keepalived, tls
from .models import BACKUP, MASTER, Event, Link, Outbox, PairingToken, Peer, SeenNonce, default_node_name
from .sync import API, PeerError, post


class PairingRefused(Exception):
    """Pairing cannot go ahead; the message says why, for the admin."""

    def __init__(self, message: str, status: int = 409, fingerprint: str = ""):
        super().__init__(message)
        self.status = status
        self.fingerprint = fingerprint  # set when the admin must confirm the peer's certificate


def other(role: str) -> str:
    return BACKUP if role == MASTER else MASTER


def unconfigured_reason() -> str:
    """Why this appliance may not become someone's peer, or "" when it may."""
    if Peer.current() is not None:
        return "it is already paired; unpair it first"
    if ClusterSettings.objects.filter(pk=1, mode=ACTIVE_ACTIVE).exists():
        return "it is in active-active mode (BGP), which has no HA pair"
    return content_reason()


def content_reason() -> str:
    """Why this appliance's own configuration stops it joining (its configuration would be replaced), or ""."""
    services = VirtualService.objects.count()
    floating = FloatingIP.objects.count()
    if services or floating:
        return (f"it is not unconfigured: it has {services} virtual service(s) and {floating} floating IP(s); "
                "a new peer must be empty, since the master's configuration replaces its own")
    return ""


def confirmed_pin(address: str, port: int, fingerprint: str) -> str:
    """The peer's certificate fingerprint when it is the one the admin confirmed; else PairingRefused carrying
    the fingerprint the peer presents, for the admin to compare and confirm."""
    try:
        actual = tls.server_fingerprint(address, port, timeout=10)
    except OSError as exc:
        raise PairingRefused(f"Pairing refused: the peer at {address}:{port} cannot be reached over HTTPS: {exc}",
                             502) from None
    if tls.normalise(fingerprint) != actual:
        said = "does not match the one you confirmed" if fingerprint else "must be confirmed"
        raise PairingRefused(f"The peer's certificate fingerprint {said}. It presents {actual}: compare it with "
                             "the fingerprint on the peer (its browser's certificate view, or `openssl x509 "
                             "-fingerprint -sha256` of its cert.pem) and pair again with it.", 409, actual)
    return actual


def pair(*, peer_address: str, peer_port: int = 443, scheme: str = "https", username: str = "",
         password: str = "", token: str = "", role: str = MASTER, node_name: str = "", my_port: int = 443,
         fingerprint: str = "", advert_int: float | None = None, preempt: bool | None = None,
         virtual_router_id: int | None = None, actor_note: str = "") -> Peer:
    """Pair this appliance with the one at ``peer_address``. PairingRefused says why not.

    Over HTTPS (the default) the peer's certificate must have the `fingerprint` the admin confirmed; it is
    pinned for every later message, and this appliance's own fingerprint goes to the peer in the offer."""
    if Peer.current() is not None:
        raise PairingRefused("This appliance is already paired; unpair it first.")
    if ClusterSettings.objects.filter(pk=1, mode=ACTIVE_ACTIVE).exists():
        raise PairingRefused("This appliance is in active-active mode (BGP): an HA pair needs the single/HA "
                             "pair mode under Cluster → Advanced.")
    if role not in (MASTER, BACKUP):
        raise PairingRefused("role must be master or backup", 400)
    if not (token or (username and password)):
        raise PairingRefused("Give the peer's admin username and password, or a pairing token made on the peer.",
                             400)
    ip = ipaddress.ip_address(peer_address)
    if ip.is_unspecified or ip.is_multicast:
        raise PairingRefused(f"{peer_address} is not an appliance's address.", 400)
    secret = secrets.token_hex(32)
    me = node_name or default_node_name()
    pin = confirmed_pin(str(ip), peer_port, fingerprint) if scheme == "https" else ""
    draft = Peer(address=str(ip), port=peer_port, scheme=scheme, role=role, secret=secret, node_name=me,
                 cert_fingerprint=pin)
    for name, value in (("advert_int", advert_int), ("preempt", preempt), ("virtual_router_id", virtual_router_id)):
        if value is not None:
            setattr(draft, name, value)
    offer = {**offer_of(username=username, password=password, token=token, secret=secret, node=me, port=my_port,
                        scheme=scheme),
             "your_role": other(role), "advert_int": draft.advert_int, "preempt": draft.preempt,
             "virtual_router_id": draft.virtual_router_id}
    answer = send_offer(draft, f"{API}/accept/", offer)
    with transaction.atomic():
        draft.peer_name = str(answer.get("node", ""))[:63]
        draft.full_clean()
        draft.save()
        Outbox.objects.all().delete()
        SeenNonce.objects.all().delete()
        record(ChangeRecord.ACTION, draft, object_type="hapeer",
               summary=f"paired as {role} with {draft.peer_name or peer_address}{actor_note}",
               after={"address": str(ip), "port": peer_port, "role": role})
        Event.objects.create(kind=Event.PAIRING, message=f"paired as {role} with {draft.peer_name} at {ip}")
    return draft


def offer_of(*, username: str, password: str, token: str, secret: str, node: str, port: int, scheme: str) -> dict:
    """What every pairing offer carries: the other box's credentials (or its token), the new shared secret,
    how to reach this appliance back, and (HTTPS) this appliance's certificate to pin."""
    return {"username": username, "password": password, "token": token, "secret": secret, "node": node,
            "port": port, "scheme": scheme, "fingerprint": tls.own_fingerprint() if scheme == "https" else ""}


def send_offer(draft, path: str, offer: dict, refused: str = "Pairing refused") -> dict:
    """POST the unsigned offer; its answer, or PairingRefused with the other box's reason (409) or 502."""
    try:
        return post(draft, path, offer, signed=False, timeout=15)
    except PeerError as exc:
        # The other box said no (its reason is passed on), or it could not be reached at all.
        raise PairingRefused(f"{refused}: {exc}", 409 if exc.status else 502) from None


WRONG_CREDENTIALS = "Pairing refused: the peer's admin credentials or pairing token are wrong."


def _credentials_allowed(offer: dict, request) -> tuple[bool, str]:
    """Whether the offer's token or admin credentials hold. Every failure is counted by accounts.throttle; a
    locked-out user fails here exactly like a wrong password (axes' backend refuses before the password)."""
    token, username, password = (str(offer.get(k) or "") for k in ("token", "username", "password"))
    if token:
        if PairingToken.redeem(token):
            return True, "a pairing token"
        throttle.record_failure(request, throttle.PAIRING_TOKEN)
        return False, "a pairing token"
    who = f"user {throttle.normalise_username(username)!r}"
    if not (username and password):
        throttle.record_failure(request, username)
        return False, who
    user = authenticate(request, username=username, password=password)  # a failure is counted by axes
    if user is None:
        return False, who
    if not (user.is_active and can(user, CONFIGURE)):
        throttle.record_failure(request, username)  # a right password of a non-admin reads as a wrong one
        return False, who
    return True, who


class Offer(NamedTuple):
    """A pairing offer that passed the checks: who sent it, how to reach it back, the shared secret."""

    remote: str
    who: str
    secret: str
    scheme: str
    pin: str
    node: str
    port: object


def checked_offer(offer, request, reason: str) -> Offer:
    """The receiving side's safety, for the HA pair and active-active members alike: the throttle, then
    `reason` (why this appliance may not join, "" when it may), then the credentials, then the offer's form.

    The reason is checked before the credentials so that no answer depends on whether a password was right;
    wrong and locked-out credentials get the same 403, and a throttled address gets 429 before any check."""
    remote = throttle.client_address(request)
    if throttle.address_throttled(request):
        Event.refused(f"pairing from {remote} throttled: too many failed attempts", remote)
        raise PairingRefused(f"Too many failed pairing attempts from this address. Wait "
                             f"{throttle.wait_minutes()} minutes.", 429)
    if not isinstance(offer, dict):
        raise PairingRefused("malformed pairing offer", 400)
    if reason:
        Event.refused(f"pairing from {remote} refused: {reason}", remote)
        raise PairingRefused(f"Pairing refused: the peer {reason}.")
    allowed, who = _credentials_allowed(offer, request)
    if not allowed:
        Event.refused(f"pairing from {remote} refused: bad credentials ({who})", remote)
        raise PairingRefused(WRONG_CREDENTIALS, 403)
    secret = str(offer.get("secret") or "")
    try:
        ok_secret = len(bytes.fromhex(secret)) >= 32
    except ValueError:
        ok_secret = False
    if not ok_secret:
        raise PairingRefused("malformed pairing offer (secret)", 400)
    scheme = offer.get("scheme") or "https"
    pin = tls.normalise(str(offer.get("fingerprint") or ""))
    if scheme == "https" and not pin:
        raise PairingRefused("malformed pairing offer: HTTPS pairing needs the first appliance's certificate "
                             "fingerprint (its FULCRUM_TLS_CERT)", 400)
    return Offer(remote, who, secret, scheme, pin if scheme == "https" else "", str(offer.get("node") or "")[:63],
                 offer.get("port") or 443)


def accept(offer: dict, request) -> Peer:
    """The peer's side: check emptiness, then credentials, then store the secret. PairingRefused says why not."""
    checked = checked_offer(offer, request, unconfigured_reason())
    remote, who, role = checked.remote, checked.who, offer.get("your_role")
    if role not in (MASTER, BACKUP):
        raise PairingRefused("malformed pairing offer (secret or role)", 400)
    peer = Peer(address=remote, port=checked.port, scheme=checked.scheme, role=role, secret=checked.secret,
                peer_name=checked.node, cert_fingerprint=checked.pin)
    for name in ("advert_int", "preempt", "virtual_router_id"):
        if name in offer:
            setattr(peer, name, offer[name])
    try:
        peer.full_clean()
    except Exception as exc:
        raise PairingRefused(f"malformed pairing offer: {exc}", 400) from None
    with transaction.atomic():
        peer.save()
        Outbox.objects.all().delete()
        SeenNonce.objects.all().delete()
        record(ChangeRecord.ACTION, peer, object_type="hapeer",
               summary=f"paired as {role} with {peer.peer_name or remote} ({who})",
               after={"address": remote, "role": role})
        Event.objects.create(kind=Event.PAIRING, message=f"paired as {role} with {peer.peer_name} at {remote}")
    return peer


def unpair(*, tell_peer: bool = True) -> str:
    """Forget the pair here (and, best effort, on the peer). Returns what the peer said."""
    peer = Peer.current()
    if peer is None:
        raise PairingRefused("This appliance is not paired.", 400)
    said = ""
    if tell_peer:
        try:
            post(peer, f"{API}/unpair/", {"from": peer.node_name}, timeout=5)
            said = "the peer unpaired too"
        except PeerError as exc:
            said = f"the peer was not told ({exc}); unpair it there as well"
    forget(peer, note=said)
    return said


def forget(peer: Peer, note: str = "") -> None:
    with transaction.atomic():
        record(ChangeRecord.ACTION, peer, object_type="hapeer",
               summary=f"unpaired from {peer.peer_name or peer.address}" + (f": {note}" if note else ""),
               before={"address": str(peer.address), "role": peer.role})
        Peer.objects.all().delete()
        Link.objects.all().delete()
        Outbox.objects.all().delete()
        Event.objects.create(kind=Event.PAIRING, message=f"unpaired from {peer.peer_name or peer.address}")
    try:
        keepalived.stop()
        connsync.stop()
    except Exception:  # no keepalived/ipvsadm here (render-only): nothing to stop
        pass
