"""Appliance-wide settings (a singleton) and floating IPs."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from appliance.hooks import Slot
from appliance.versioning import Versioned
from audit.recording import Audited, paused, snapshot
from dataplane.oprender import render_report
from virtualservices.validation import family

# {field: [messages]} for the named fields that are no interface of this host: netconfig knows the
# host's interfaces and passes the check in when it is ready (netconfig.validation.interface_field_errors).
interface_errors = Slot("cluster.models.interface_errors", "netconfig")

interface_name = RegexValidator(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,14}$",
                                "A Linux interface name: up to 15 letters, digits, _ . @ -.")


FAILOVER, ACTIVE_ACTIVE = "failover", "active_active"
MODES = [(FAILOVER, "Single appliance or HA pair (active/standby)"),
         (ACTIVE_ACTIVE, "Active-active: N members behind a router (BGP ECMP, Maglev hashing)")]


class ClusterSettings(Versioned, Audited):
    mode = models.CharField(
        max_length=13, choices=MODES, default=FAILOVER,
        help_text="Active-active: every member serves; VIPs on lo announced by BGP while this node can serve "
                  "them; services must use Maglev hashing (mh). Set up BGP under Cluster → BGP.")
    vip_interface = models.CharField(
        "VIP interface", max_length=15, default="eth0", validators=[interface_name],
        help_text="Interface that carries the virtual IPs on this appliance.")
    autonat_interface = models.CharField(
        "Autonat interface", max_length=15, blank=True, validators=[interface_name],
        help_text="Masquerade real servers' own outbound traffic out of this interface (NAT mode). "
                  "Blank: off.")
    tcp_timeout = models.PositiveIntegerField("TCP timeout", default=900,
                                              validators=[MinValueValidator(1), MaxValueValidator(2**31 - 1)],
                                              help_text="IPVS idle timeout for established TCP, seconds.")
    tcpfin_timeout = models.PositiveIntegerField("TCP FIN timeout", default=120,
                                                 validators=[MinValueValidator(1),
                                                             MaxValueValidator(2**31 - 1)])
    udp_timeout = models.PositiveIntegerField("UDP timeout", default=300,
                                              validators=[MinValueValidator(1), MaxValueValidator(2**31 - 1)])
    lock = models.BooleanField("lock kernel state", default=False,
                               help_text="Repair drift: put back anything changed in the kernel by hand.")
    auto_apply = models.BooleanField(default=False, help_text="Apply each change as soon as it is saved.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "cluster settings"
        verbose_name_plural = "cluster settings"

    def __str__(self):
        return "Cluster settings"

    def clean(self):
        from .validation import mode_errors  # cluster.validation reads these models

        errors = {**interface_errors(self, "vip_interface", "autonat_interface"), **mode_errors(self)}
        if errors:
            raise ValidationError(errors)

    @property
    def active_active(self) -> bool:
        return self.mode == ACTIVE_ACTIVE

    def save(self, *args, **kwargs):
        self.pk = 1  # a singleton
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("The cluster settings cannot be deleted.")

    @classmethod
    def load(cls) -> ClusterSettings:
        obj = cls.objects.filter(pk=1).first()
        if obj is None:
            obj = cls(pk=1)
            with paused():  # the defaults are no change an admin made: a fresh install has nothing pending
                obj.save()
            obj._audit_before = snapshot(obj)  # so its next save logs field changes
        return obj


class FloatingIP(Versioned, Audited):
    natural_key_fields = ("address",)  # the name clients use as its key (409 names the holder)
    address = models.GenericIPAddressField(unique=True)
    prefixlen = models.PositiveSmallIntegerField("prefix length", default=24,
                                                 validators=[MinValueValidator(1), MaxValueValidator(128)])
    interface = models.CharField(max_length=15, default="eth0", validators=[interface_name])
    description = models.CharField(max_length=200, blank=True,
                                   help_text="e.g. 'gateway for NAT real servers'.")

    class Meta:
        ordering = ["address"]
        verbose_name = "floating IP"

    def __str__(self):
        return f"{self.address}/{self.prefixlen}"

    def clean(self):
        if family(self.address) == 4 and self.prefixlen and self.prefixlen > 32:
            raise ValidationError({"prefixlen": "An IPv4 prefix length is 1-32."})
        if ClusterSettings.objects.filter(pk=1, mode=ACTIVE_ACTIVE).exists():
            raise ValidationError({"address": "Active-active mode has no floating IPs: every member would hold "
                                              "the address. Route it to the members instead."})
        errors = interface_errors(self, "interface")
        if errors:
            raise ValidationError(errors)


class BgpSettings(Versioned, Audited):
    """This member's BGP speaker (active-active mode). Local, like the HA links: never in the bundle,
    because the router id is per node and a routed design peers each member with its own routers."""

    asn = models.PositiveBigIntegerField("our ASN", default=65000,
                                         help_text="This appliance's autonomous system number (1-4294967294).")
    router_id = models.GenericIPAddressField("router id", protocol="IPv4", null=True, blank=True,
                                             help_text="Unique per member, e.g. its management address. Blank: "
                                                       "bgpd picks one of this host's addresses.")
    bfd_interval_ms = models.PositiveIntegerField(
        "BFD interval (ms)", default=300, validators=[MinValueValidator(10), MaxValueValidator(60000)],
        help_text="BFD transmit and receive interval.")
    bfd_multiplier = models.PositiveSmallIntegerField(
        "BFD multiplier", default=3, validators=[MinValueValidator(2), MaxValueValidator(255)],
        help_text="Missed packets before a session is down: detection time = interval x multiplier.")

    class Meta:
        verbose_name = "BGP settings"
        verbose_name_plural = "BGP settings"

    def __str__(self):
        return f"BGP AS{self.asn}"

    def clean(self):
        from .validation import bgp_errors  # cluster.validation reads these models

        errors = bgp_errors(self)
        if errors:
            raise ValidationError(errors)

    def save(self, *args, **kwargs):
        self.pk = 1  # a singleton
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> BgpSettings:
        obj = cls.objects.filter(pk=1).first()
        if obj is None:
            from audit.recording import paused, snapshot

            obj = cls(pk=1)
            with paused():
                obj.save()
            obj._audit_before = snapshot(obj)
        return obj


class BgpNeighbour(Versioned, Audited):
    """An upstream router this member peers with (BGP + BFD). Local: see BgpSettings."""

    natural_key_fields = ("address",)
    address = models.GenericIPAddressField(unique=True, help_text="The router's address on a link to this host.")
    asn = models.PositiveBigIntegerField("ASN", help_text="The router's autonomous system number.")
    password = models.CharField(max_length=80, blank=True,
                                help_text="TCP MD5 password (RFC 2385), if the router asks for one; never shown.")
    description = models.CharField(max_length=80, blank=True)

    class Meta:
        ordering = ["address"]
        verbose_name = "BGP neighbour"

    def __str__(self):
        return f"{self.address} AS{self.asn}"

    def clean(self):
        from .validation import neighbour_errors  # cluster.validation reads these models

        errors = neighbour_errors(self)
        if errors:
            raise ValidationError(errors)


REPORT_OPS = 50  # operations in a text report (CLI, mail); the API and WebUI list every stored one


class ApplyRun(models.Model):
    """One apply: who, when, what it changed in the kernel, how long it took, and how it ended."""

    QUEUED, RUNNING, SUCCESS, FAILED = "queued", "running", "success", "failed"
    STATUSES = [(QUEUED, "Queued"), (RUNNING, "Running"), (SUCCESS, "Succeeded"), (FAILED, "Failed, rolled back")]

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    username = models.CharField(max_length=150)
    status = models.CharField(max_length=8, choices=STATUSES, default=QUEUED, db_index=True)
    dataplane = models.CharField(max_length=12, blank=True, help_text="kernel or render-only")
    reason = models.CharField(max_length=40, default="apply", help_text="apply, drift repair, health, …")
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    change_id = models.BigIntegerField(default=0, help_text="The newest change-log entry this apply includes.")
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    progress_text = models.CharField(max_length=200, blank=True)
    operation_count = models.PositiveIntegerField(default=0)
    operations = models.JSONField(default=list, blank=True, help_text="What changed (at most 2,000 lines).")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"apply #{self.pk} {self.status}"

    def commands(self, limit: int | None = None) -> str:
        """What changed as the admin's tools' command lines, grouped and counted (dataplane.oprender);
        `limit`: at most that many operations, then how many more there were."""
        return render_report(self.operations[:limit], self.operation_count)

    def report(self) -> str:
        ops = f"{self.operation_count} operation" + ("" if self.operation_count == 1 else "s")
        head = (f"Apply #{self.pk} {self.get_status_display().lower()} on the {self.dataplane} dataplane: "
                f"{ops} in {self.duration_ms or 0:.0f} ms")
        lines = [head, self.commands(limit=REPORT_OPS)] if self.operations else [head]
        if self.error:
            lines.append(f"Error: {self.error}")
        return "\n".join(lines)


class AppliedState(models.Model):
    """The kernel journal's base: the whole kernel state as the last apply (or kernel read) left it.
    The ops applied since (runtime actions, health) follow as JournalEntry rows; cluster/writer.py
    is the only writer of both.

    JSON with a schema version (dataplane/journal.py), never pickle: the web process can write this
    table, and decoding it must not run code in the privileged writer."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    journal = models.JSONField(null=True, help_text="dataplane.journal document; another schema version "
                                                    "is not trusted (the writer re-reads the kernel).")
    verified = models.BooleanField(default=True, help_text="False once drift was seen: the next writer "
                                                           "reads the kernel before it plans.")
    run = models.ForeignKey(ApplyRun, null=True, on_delete=models.SET_NULL)
    updated_at = models.DateTimeField(auto_now=True)


class JournalEntry(models.Model):
    """Ops the kernel took after the base in AppliedState (small: one runtime action, one health batch).
    Folded into a new base by the next apply."""

    ops = models.JSONField(help_text="dataplane.journal encode_ops() document.")
    time = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "journal entries"


class DriftCheck(models.Model):
    """A comparison of the kernel with the last applied state."""

    time = models.DateTimeField(auto_now_add=True, db_index=True)
    drift = models.BooleanField()
    differences = models.JSONField(default=list, help_text="Operations that would bring the kernel back.")
    repaired = models.BooleanField(default=False)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]
