"""The HA pair as this appliance sees it: its peer, its role, sync state, VRRP state, and the log.

These are local settings: never part of the configuration bundle, never synced. The peer row
holds the shared secret, so it is not an audited model (the change log would copy the secret);
pairing and unpairing are written to the change log explicitly, without it.
"""

from __future__ import annotations

import hashlib
import secrets
import socket
from datetime import timedelta

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from cluster.models import interface_name
from netconfig.validation import interface_field_errors, raise_errors

MASTER, BACKUP = "master", "backup"
ROLES = [(MASTER, "Master"), (BACKUP, "Backup")]


def default_node_name() -> str:
    return socket.gethostname()[:63] or "fulcrum"


class SignedRemote(models.Model):
    """Another appliance this one exchanges signed messages with (ha.sync.post/verify): where it is, the
    certificate pinned at pairing, and the shared secret."""

    address = models.GenericIPAddressField(help_text="The peer's management address (its API).")
    port = models.PositiveIntegerField(default=443, validators=[MinValueValidator(1), MaxValueValidator(65535)])
    scheme = models.CharField(max_length=5, default="https", choices=[("http", "http"), ("https", "https")])
    cert_fingerprint = models.CharField(max_length=102, blank=True,
                                        help_text="The peer's certificate (SHA-256) as the admin confirmed it "
                                                  "at pairing; HTTPS to any other certificate is refused.")
    peer_name = models.CharField(max_length=63, blank=True)
    secret = models.CharField(max_length=128, help_text="Shared HMAC key (hex); never shown.")

    class Meta:
        abstract = True

    @property
    def base_url(self) -> str:
        host = f"[{self.address}]" if ":" in str(self.address) else str(self.address)
        return f"{self.scheme}://{host}:{self.port}"


class Peer(SignedRemote):
    """This appliance's pairing (a singleton, pk=1). No row: a single appliance, not paired."""

    NEVER, SYNCING, IN_SYNC, OUT_OF_SYNC = "never", "syncing", "in_sync", "out_of_sync"
    SYNC_STATES = [(NEVER, "Never synced"), (SYNCING, "Syncing"), (IN_SYNC, "In sync"), (OUT_OF_SYNC, "Out of sync")]

    node_name = models.CharField(max_length=63, default=default_node_name, help_text="This appliance's name.")
    role = models.CharField(max_length=6, choices=ROLES, help_text="This appliance's configured role.")
    paired_at = models.DateTimeField(default=timezone.now)
    # VRRP (keepalived) settings: the same on both nodes.
    advert_int = models.FloatField("advert interval", default=0.05,
                                   validators=[MinValueValidator(0.01), MaxValueValidator(40.95)],
                                   help_text="VRRPv3 advertisement interval, seconds (sub-second: fast failover).")
    preempt = models.BooleanField(default=False, help_text="A returning master takes the addresses back.")
    virtual_router_id = models.PositiveSmallIntegerField(default=51, validators=[MinValueValidator(1),
                                                                                MaxValueValidator(240)])
    sync_interface = models.CharField("connection sync interface", max_length=15, blank=True,
                                      validators=[interface_name],
                                      help_text="Interface for the IPVS connection sync daemon. Blank: the "
                                                "VIP interface.")
    # Configuration sync state.
    local_version = models.BigIntegerField(default=0, help_text="Version of the configuration this node runs.")
    peer_version = models.BigIntegerField(default=0, help_text="Version the peer last confirmed.")
    sync_state = models.CharField(max_length=12, choices=SYNC_STATES, default=NEVER)
    last_sync_at = models.DateTimeField(null=True, blank=True)
    last_sync_error = models.TextField(blank=True)
    # Reachability and VRRP state.
    reachable = models.BooleanField(null=True, blank=True)
    last_contact_at = models.DateTimeField(null=True, blank=True)
    vrrp_state = models.CharField(max_length=8, default="unknown", help_text="From keepalived's notify.")
    vrrp_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "HA peer"

    def __str__(self):
        return f"{self.node_name} ({self.role}) paired with {self.address}:{self.port}"

    def clean(self):
        raise_errors(interface_field_errors(self, "sync_interface"))  # a real interface of this host

    def save(self, *args, **kwargs):
        self.pk = 1
        super().save(*args, **kwargs)

    @classmethod
    def current(cls) -> Peer | None:
        return cls.objects.filter(pk=1).first()

    @property
    def in_sync(self) -> bool:
        return self.local_version > 0 and self.peer_version == self.local_version


def keepalived_holds_addresses() -> bool:
    """In a pair, keepalived holds the VIPs and floating IPs (on the master only), not the apply
    (cluster.compile asks through its slot, filled in HaConfig.ready)."""
    return Peer.objects.filter(pk=1).exists()


class Link(models.Model):
    """Where VRRP adverts go on one interface (the peer's address there). Local, not synced."""

    interface = models.CharField(max_length=15, unique=True, validators=[interface_name])
    peer_address = models.GenericIPAddressField(help_text="The peer's address on this interface.")
    local_address = models.GenericIPAddressField(null=True, blank=True,
                                                 help_text="Our address on it (unicast source). Blank: primary.")

    class Meta:
        ordering = ["interface"]
        verbose_name = "VRRP link"

    def __str__(self):
        return f"{self.interface} → {self.peer_address}"

    def clean(self):
        raise_errors(interface_field_errors(self, "interface"))  # a real interface of this host


class Outbox(models.Model):
    """The configuration the peer should have: the bundle of the last local apply (pk=1)."""

    version = models.BigIntegerField()
    bundle = models.JSONField()
    created_at = models.DateTimeField(auto_now=True)


class SeenNonce(models.Model):
    """Nonces of accepted peer messages, kept for twice the clock window (replay protection)."""

    nonce = models.CharField(max_length=64, unique=True)
    seen_at = models.DateTimeField(default=timezone.now, db_index=True)


REFUSAL_FOLD = timedelta(minutes=10)


class Event(models.Model):
    """The HA log: syncs, refusals (bad signature, old timestamp, replay), role changes, pairing."""

    SYNC, REFUSED, ROLE, PAIRING, PEER = "sync", "refused", "role", "pairing", "peer"
    KINDS = [(SYNC, "Sync"), (REFUSED, "Refused"), (ROLE, "Role change"), (PAIRING, "Pairing"), (PEER, "Peer")]

    time = models.DateTimeField(default=timezone.now, db_index=True)
    kind = models.CharField(max_length=8, choices=KINDS)
    message = models.CharField(max_length=500)
    remote = models.CharField(max_length=64, blank=True)
    repeats = models.PositiveIntegerField(default=0, help_text="Further refusals from the same address folded "
                                                                "into this row (anonymous callers cannot fill "
                                                                "the log).")

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"{self.time:%Y-%m-%d %H:%M:%S} {self.kind}: {self.message}"

    @classmethod
    def refused(cls, message: str, remote: str) -> None:
        """Log a refused peer message: one row per address per REFUSAL_FOLD, counting the repeats."""
        remote = remote[:64]
        since = timezone.now() - REFUSAL_FOLD
        recent = cls.objects.filter(kind=cls.REFUSED, remote=remote, time__gte=since).order_by("-id").first()
        if recent is not None:
            cls.objects.filter(pk=recent.pk).update(repeats=models.F("repeats") + 1, message=message[:500],
                                                    time=timezone.now())
            return
        cls.objects.create(kind=cls.REFUSED, message=message[:500], remote=remote)


class PairingToken(models.Model):
    """A one-time pairing token: the first appliance may present it instead of admin credentials."""

    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    @staticmethod
    def _digest(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def issue(cls, minutes: int = 30) -> str:
        token = "fp_" + secrets.token_urlsafe(24)
        cls.objects.create(digest=cls._digest(token), expires_at=timezone.now() + timedelta(minutes=minutes))
        return token

    @classmethod
    def redeem(cls, token: str) -> bool:
        """True once for a valid, unexpired token; it is gone afterwards."""
        deleted, _ = cls.objects.filter(digest=cls._digest(token or ""), expires_at__gt=timezone.now()).delete()
        return deleted > 0


# --------------------------------------------------------------------------- active-active members
# Local settings like the Peer: never in the bundle. A row holds a shared secret, so it is not audited;
# joins and leaves are written to the change log explicitly, without it.


class Member(SignedRemote):
    """One member of the active-active cluster, as the edited member (where configuration is edited) lists it,
    with its own secret. `peer_name` is the member's own name."""

    NEVER, SYNCING, IN_SYNC, OUT_OF_SYNC = Peer.NEVER, Peer.SYNCING, Peer.IN_SYNC, Peer.OUT_OF_SYNC

    joined_at = models.DateTimeField(default=timezone.now)
    version = models.BigIntegerField(default=0, help_text="Configuration version the member last confirmed.")
    sync_state = models.CharField(max_length=12, choices=Peer.SYNC_STATES, default=NEVER)
    last_sync_at = models.DateTimeField(null=True, blank=True)
    last_sync_error = models.TextField(blank=True)
    failures = models.PositiveIntegerField(default=0, help_text="Failed pushes in a row (the backoff step).")
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text="No retry before this time.")
    reachable = models.BooleanField(null=True, blank=True)
    last_contact_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["address", "port"], name="ha_member_address_port")]

    def __str__(self):
        return f"member {self.peer_name or self.address} ({self.address}:{self.port})"

    def clean(self):
        from cluster.models import ClusterSettings
        from cluster.validation import member_errors
        from netconfig.validation import raise_errors

        if self.pk is None:  # joining: the list's rules (an existing member only changes its sync state)
            others = Member.objects.all()
            raise_errors(member_errors(
                self, mode_active_active=ClusterSettings.load().active_active, others=others.count(),
                taken=others.filter(address=self.address, port=self.port).exists()))


class EditedMember(SignedRemote):
    """On a member: the edited member it takes its configuration from (a singleton, pk=1)."""

    node_name = models.CharField(max_length=63, default=default_node_name, help_text="This appliance's name.")
    joined_at = models.DateTimeField(default=timezone.now)
    local_version = models.BigIntegerField(default=0, help_text="Version of the configuration this member runs.")
    last_sync_at = models.DateTimeField(null=True, blank=True)
    last_sync_error = models.TextField(blank=True)

    def save(self, *args, **kwargs):
        self.pk = 1
        super().save(*args, **kwargs)

    @classmethod
    def current(cls) -> EditedMember | None:
        return cls.objects.filter(pk=1).first()


class MemberOutbox(models.Model):
    """What every member should run: the bundle of the edited member's last apply (pk=1)."""

    version = models.BigIntegerField()
    bundle = models.JSONField()
    created_at = models.DateTimeField(auto_now=True)
