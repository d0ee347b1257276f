"""Active-active members: joining and leaving, with the HA pair's pairing safety.

The edited member (where configuration is edited) sends a new member an offer with that box's admin
credentials (or a pairing token made there) and a fresh secret, over HTTPS pinned to the certificate the
admin confirmed (ha.pairing.confirmed_pin). The new member checks it exactly as an HA peer does
(ha.pairing.checked_offer: throttle, emptiness, credentials) and stores the edited member's side.
Every later message is signed with that member's secret (ha.sync.post/verify).
"""

from __future__ import annotations

import secrets

from django.db import transaction

from audit.models import ChangeRecord
from audit.recording import record

from . import member_sync
from .models import EditedMember, Event, Member, Peer, default_node_name
from .pairing import PairingRefused, checked_offer, confirmed_pin, content_reason, offer_of, send_offer
from .sync import PeerError, post


def join(*, address: str, port: int = 443, scheme: str = "https", username: str = "", password: str = "",
         token: str = "", fingerprint: str = "", my_port: int = 443) -> Member:
    """Add the appliance at `address` to the members. ValidationError (by field) or PairingRefused says why not."""
    edited = EditedMember.current()
    if edited is not None:
        raise PairingRefused(f"This appliance is a member of the cluster edited at {edited.address}: members are "
                             "joined and left there.")
    if not (token or (username and password)):
        raise PairingRefused("Give the member's admin username and password, or a pairing token made on it.", 400)
    draft = Member(address=str(address), port=port, scheme=scheme, secret=secrets.token_hex(32))
    draft.full_clean(validate_constraints=False)  # the list's rules, named by field, before anything is sent
    if scheme == "https":
        draft.cert_fingerprint = confirmed_pin(draft.address, port, fingerprint)
    offer = offer_of(username=username, password=password, token=token, secret=draft.secret,
                     node=default_node_name(), port=my_port, scheme=scheme)
    answer = send_offer(draft, f"{member_sync.MEMBER_API}/accept/", offer, "Joining refused")
    with transaction.atomic():
        draft.peer_name = str(answer.get("node", ""))[:63]
        draft.save()
        record(ChangeRecord.CREATE, draft, object_type="clustermember",
               summary=f"member {draft.peer_name or draft.address} joined",
               after={"address": draft.address, "port": port, "scheme": scheme})
        Event.objects.create(kind=Event.PAIRING, message=f"member {draft.peer_name} at {draft.address} joined")
    member_sync.start_sync([draft.pk])  # it takes the configuration of the last apply at once
    return draft


def leave(member: Member) -> str:
    """Remove `member` from the list; it is told (best effort) and then stands alone. Returns what it said."""
    try:
        post(member, f"{member_sync.MEMBER_API}/leave/", {"from": default_node_name()}, timeout=5)
        said = "the member stands alone now"
    except PeerError as exc:
        said = f"the member was not told ({exc}); remove the cluster there too"
    with transaction.atomic():
        record(ChangeRecord.DELETE, member, object_type="clustermember",
               summary=f"member {member.peer_name or member.address} left: {said}",
               before={"address": str(member.address), "port": member.port})
        Event.objects.create(kind=Event.PAIRING, message=f"member {member.peer_name or member.address} left")
        member.delete()
    return said


def join_reason() -> str:
    """Why this appliance may not become a member, or "" when it may."""
    if Peer.current() is not None:
        return "it is in an HA pair; unpair it first"
    edited = EditedMember.current()
    if edited is not None:
        return f"it is already a member of the cluster edited at {edited.address}"
    if Member.objects.exists():
        return "it is the edited member of its own cluster"
    return content_reason()


def accept(offer, request) -> EditedMember:
    """The new member's side of join(). PairingRefused says why not."""
    checked = checked_offer(offer, request, join_reason())
    edited = EditedMember(address=checked.remote, port=checked.port, scheme=checked.scheme,
                          cert_fingerprint=checked.pin, peer_name=checked.node, secret=checked.secret)
    try:
        edited.full_clean()
    except Exception as exc:
        raise PairingRefused(f"malformed offer: {exc}", 400) from None
    with transaction.atomic():
        edited.save()
        record(ChangeRecord.ACTION, edited, object_type="clustermember",
               summary=f"joined the active-active cluster edited at {edited.peer_name or checked.remote} "
                       f"({checked.who})", after={"address": checked.remote})
        Event.objects.create(kind=Event.PAIRING, message=f"joined the cluster edited at {checked.remote}")
    return edited


def forget_edited(edited: EditedMember) -> None:
    """This member leaves: it keeps the configuration it runs, and is edited here from now on."""
    with transaction.atomic():
        record(ChangeRecord.ACTION, edited, object_type="clustermember",
               summary=f"left the cluster edited at {edited.peer_name or edited.address}",
               before={"address": str(edited.address)})
        Event.objects.create(kind=Event.PAIRING, message=f"left the cluster edited at {edited.address}")
        EditedMember.objects.all().delete()
