"""Local Configuration of the host's network: interfaces (physical, VLAN, bond), routes, and the
commit-confirmed changes that carry them to the kernel."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from appliance.versioning import Versioned
from audit.recording import Audited
from cluster.models import interface_name
from dataplane import netstate as ns

from . import validation


class Interface(Versioned, Audited):
    KINDS = [(ns.PHYSICAL, "Physical"), (ns.VLAN, "802.1Q VLAN"), (ns.BOND, "Bond")]
    BOND_MODES = [(ns.ACTIVE_BACKUP, "active-backup"), (ns.LACP, "802.3ad (LACP)")]

    name = models.CharField(max_length=15, unique=True, validators=[interface_name])
    kind = models.CharField(max_length=10, choices=KINDS, default=ns.PHYSICAL)
    parent = models.CharField(max_length=15, blank=True, validators=[interface_name],
                              help_text="VLAN: the interface it is tagged on.")
    vlan_id = models.PositiveIntegerField("VLAN id", null=True, blank=True)
    bond_mode = models.CharField(max_length=16, choices=BOND_MODES, blank=True)
    members = models.JSONField(default=list, blank=True, help_text="Bond: the interfaces it bonds.")
    mtu = models.PositiveIntegerField("MTU", null=True, blank=True,
                                      validators=[MinValueValidator(68), MaxValueValidator(65535)],
                                      help_text="Blank: leave the MTU as the kernel has it.")
    up = models.BooleanField(default=True)
    addresses = models.JSONField(default=list, blank=True,
                                 help_text="IPv4/IPv6 addresses with prefix length, e.g. 192.0.2.10/24.")
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def clean(self):
        # A bundle import sets _peers: the bundle's other interfaces, checked in memory.
        others = getattr(self, "_peers", None)
        validation.raise_errors(validation.interface_errors(
            self, Interface.objects.exclude(pk=self.pk) if others is None else others))


class Route(Versioned, Audited):
    destination = models.CharField(max_length=43, unique=True,
                                   help_text="A network (198.51.100.0/24), or 0.0.0.0/0 / ::/0 for a default gateway.")
    gateway = models.GenericIPAddressField(null=True, blank=True)
    interface = models.CharField(max_length=15, blank=True, validators=[interface_name])
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["destination"]

    def __str__(self):
        return self.destination + (f" via {self.gateway}" if self.gateway else "")

    def clean(self):
        interfaces = getattr(self, "_interfaces", None)
        validation.raise_errors(validation.route_errors(
            self, Interface.objects.all() if interfaces is None else interfaces))


class NetworkChange(models.Model):
    """One apply of the network configuration; with a timeout, it is rolled back unless confirmed."""

    QUEUED, AWAITING, CONFIRMED, ROLLED_BACK, FAILED = "queued", "awaiting", "confirmed", "rolled-back", "failed"
    OPEN = (QUEUED, AWAITING)
    STATUSES = [(QUEUED, "queued"), (AWAITING, "awaiting confirmation"), (CONFIRMED, "confirmed"),
                (ROLLED_BACK, "rolled back"), (FAILED, "failed")]

    created_at = models.DateTimeField(auto_now_add=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    username = models.CharField(max_length=150)
    status = models.CharField(max_length=12, choices=STATUSES, default=QUEUED)
    timeout = models.PositiveIntegerField(help_text="Seconds to confirm in; 0: applied without a rollback timer.")
    deadline = models.DateTimeField(null=True, blank=True)
    desired = models.JSONField(help_text="The network state applied (dataplane.netstate JSON).")
    before = models.JSONField(null=True, blank=True, help_text="The kernel's state before, to roll back to.")
    ops = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"network change #{self.pk} ({self.status})"


class SystemSettings(Versioned, Audited):
    """Hostname, DNS, time, SMTP relay, alert recipients and remote syslog: one row (pk=1).

    Blank SMTP/alert/syslog fields fall back to the environment (FULCRUM_SMTP_*, FULCRUM_ALERT_EMAILS,
    FULCRUM_SYSLOG), so an appliance configured that way keeps working until the admin sets them here."""

    CHRONY, TIMESYNCD = "chrony", "timesyncd"
    TIME_DAEMONS = [(CHRONY, "chrony"), (TIMESYNCD, "systemd-timesyncd")]
    audit_secret_fields = ("smtp_password",)

    hostname = models.CharField(max_length=253, blank=True, help_text="Blank: leave the host's name as it is.")
    dns_servers = models.JSONField("DNS resolvers", default=list, blank=True)
    search_domains = models.JSONField(default=list, blank=True)
    timezone = models.CharField("time zone", max_length=64, default="UTC")
    ntp_servers = models.JSONField("NTP servers", default=list, blank=True)
    time_daemon = models.CharField(max_length=10, choices=TIME_DAEMONS, default=CHRONY)
    smtp_host = models.CharField("SMTP relay", max_length=253, blank=True,
                                 help_text="Blank: the FULCRUM_SMTP_HOST environment setting, if any.")
    smtp_port = models.PositiveIntegerField("SMTP port", default=25,
                                            validators=[MinValueValidator(1), MaxValueValidator(65535)])
    smtp_user = models.CharField("SMTP user", max_length=254, blank=True)
    smtp_password = models.CharField("SMTP password", max_length=254, blank=True)
    smtp_starttls = models.BooleanField("STARTTLS", default=False)
    smtp_ssl = models.BooleanField("SMTP over TLS", default=False)
    smtp_from = models.EmailField("sender address", blank=True)
    alert_emails = models.JSONField("alert recipients", default=list, blank=True,
                                    help_text="Blank: FULCRUM_ALERT_EMAILS.")
    syslog_targets = models.JSONField("remote syslog targets", default=list, blank=True,
                                      help_text="host:port (UDP), e.g. 192.0.2.50:514. Blank: FULCRUM_SYSLOG.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "system settings"
        verbose_name_plural = "system settings"

    def __str__(self):
        return "System settings"

    def clean(self):
        validation.raise_errors(validation.system_errors(self))

    def save(self, *args, **kwargs):
        self.pk = 1  # a singleton
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> "SystemSettings":
        return cls.objects.get_or_create(pk=1)[0]
