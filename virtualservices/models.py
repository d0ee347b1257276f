"""Virtual services (VIPs): address, ports, protocol, method, scheduler, persistence, health check."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import IntegrityError, models, transaction

from appliance.versioning import Versioned
from audit.recording import Audited
from dataplane import config as dp
from dataplane.ports import PortSyntaxError, is_single_port, parse_ports

from . import choices, locking
from .validation import service_conflict, service_errors, service_warnings

MAX_FWMARK = 2**32 - 1
KEY_FIELDS = {"label", "vip", "ports", "protocol", "fwmark"}


class VirtualService(Versioned, Audited):
    natural_key_fields = ("label",)  # the name clients use as its key (409 names the holder)
    label = models.CharField(max_length=64, unique=True,
                             validators=[RegexValidator(r"^[A-Za-z0-9][A-Za-z0-9 _.:-]*$",
                                                        "Use letters, digits, space, _ . : -.")])
    description = models.TextField(blank=True)
    enabled = models.BooleanField(default=True, help_text="Disabled services stay saved but are not applied.")
    vip = models.GenericIPAddressField("VIP", db_index=True, help_text="The virtual IP clients connect to.")
    ports = models.CharField(max_length=200, blank=True,
                             help_text="One port, a list or ranges: 80, 500,4500 or 8000-8010. "
                                       "Several ports become one firewall-mark service.")
    protocol = models.CharField(max_length=8, choices=choices.PROTOCOLS, default=dp.TCP)
    fwmark = models.PositiveBigIntegerField(
        "firewall mark", null=True, blank=True, unique=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_FWMARK)],
        help_text="Required for protocol 'firewall mark'; assigned automatically for multi-port and "
                  "TCP+UDP services.")
    method = models.CharField("forwarding method", max_length=4, choices=choices.METHODS, default=dp.DR,
                              help_text=choices.METHOD_HELP)
    scheduler = models.CharField(max_length=5, choices=choices.SCHEDULERS, default="wlc")
    persistent = models.BooleanField(default=False,
                                     help_text="Send a client to the same real server for the timeout.")
    persistence_timeout = models.PositiveIntegerField(
        default=300, validators=[MinValueValidator(1), MaxValueValidator(31536000)], help_text="Seconds.")
    persistence_netmask = models.CharField(
        max_length=39, blank=True,
        help_text="Granularity: clients in one network share a real server, e.g. 255.255.255.0 or /24 "
                  "(IPv6: a prefix length such as 64). Blank: per client address.")
    fallback_address = models.GenericIPAddressField(
        null=True, blank=True, help_text="Sorry server used while no real server is available.")
    fallback_port = models.PositiveIntegerField(null=True, blank=True,
                                                validators=[MinValueValidator(1), MaxValueValidator(65535)])
    snat_source = models.GenericIPAddressField(
        "SNAT source address", null=True, blank=True,
        help_text="SNAT only: the address real servers see. Blank: the outgoing interface's address.")
    # Health check
    check_type = models.CharField(max_length=10, choices=choices.CHECK_TYPES, default=choices.CHECK_TCP)
    check_port = models.PositiveIntegerField(null=True, blank=True,
                                             validators=[MinValueValidator(1), MaxValueValidator(65535)],
                                             help_text="Blank: the real server's port.")
    check_interval = models.FloatField(default=1.0, validators=[MinValueValidator(0.1),
                                                                MaxValueValidator(3600)],
                                       help_text="Seconds between checks.")
    check_timeout = models.FloatField(default=1.0, validators=[MinValueValidator(0.1),
                                                               MaxValueValidator(300)],
                                      help_text="Seconds before a check counts as failed.")
    check_rise = models.PositiveSmallIntegerField(default=2, validators=[MinValueValidator(1),
                                                                         MaxValueValidator(100)],
                                                  help_text="Successes before a down server is up.")
    check_fall = models.PositiveSmallIntegerField(default=2, validators=[MinValueValidator(1),
                                                                         MaxValueValidator(100)],
                                                  help_text="Failures before an up server is down.")
    check_method = models.CharField(max_length=4, choices=choices.HTTP_METHODS, default="GET")
    check_request = models.CharField(max_length=500, blank=True,
                                     help_text="HTTP(S): path; UDP: payload; DNS: the name to query.")
    check_response = models.CharField(max_length=500, blank=True,
                                      help_text="HTTP(S)/SSTP: a pattern the body must contain; UDP: reply.")
    check_status = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(100), MaxValueValidator(599)],
        help_text="Expected HTTP status. Blank: any 2xx/3xx (SSTP: the documented default).")
    check_vhost = models.CharField("virtual host", max_length=255, blank=True)
    check_verify_tls = models.BooleanField(
        "verify the TLS certificate", default=False,
        help_text="HTTPS/SSTP: the certificate must chain to a CA this host trusts and name the virtual host "
                  "(or address). Off by default: real servers often present self-signed certificates.")
    check_secret = models.CharField("RADIUS secret", max_length=128, blank=True)
    check_script = models.CharField(
        "external script", max_length=100, blank=True,
        validators=[RegexValidator(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", "A file name in the scripts directory.")])
    on_down = models.CharField(
        "when a check fails", max_length=8, choices=choices.ON_DOWN, default=dp.ON_DOWN_QUIESCE,
        help_text="Remove for UDP services whose clients send from fixed ports (IKE 500/4500, RADIUS): their "
                  "flows would stay on a quiesced server until idle for the UDP timeout (5 min).")
    alert_email = models.EmailField(blank=True, help_text="Where health transitions are mailed.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["label"]

    def __str__(self):
        return self.label

    # Derived facts the rules, the compiler and the UI share.
    @property
    def port_ranges(self):
        try:
            return parse_ports(self.ports) if self.ports else ()
        except PortSyntaxError:
            return ()

    @property
    def single_port(self) -> int | None:
        ranges = self.port_ranges
        return ranges[0].first if is_single_port(ranges) else None

    @property
    def needs_fwmark(self) -> bool:
        return self.protocol in (dp.FWMARK, dp.TCP_UDP) or (bool(self.ports) and self.single_port is None)

    @property
    def l4_protocols(self) -> frozenset[str]:
        return {dp.TCP: frozenset({"tcp"}), dp.UDP: frozenset({"udp"}), dp.ONE_PACKET: frozenset({"udp"}),
                dp.TCP_UDP: frozenset({"tcp", "udp"})}.get(self.protocol, frozenset())

    def peers(self):
        """Other services that could collide with this one (same VIP or same mark)."""
        if getattr(self, "_peers", None) is not None:
            return self._peers
        query = models.Q(vip=self.vip)
        if self.fwmark:
            query |= models.Q(fwmark=self.fwmark)
        return VirtualService.objects.filter(query).exclude(pk=self.pk).only(
            "id", "label", "vip", "ports", "protocol", "fwmark")

    def clean(self):
        from django.core.exceptions import ValidationError

        if not self.needs_fwmark:
            self.fwmark = None  # a single-port service has no mark; a stale automatic one is dropped
        errors = service_errors(self)
        if errors:
            raise ValidationError(errors)
        conflict = self._conflict()
        self.duplicate_of = conflict.existing_id if conflict else None  # full_clean() drops the subclass
        if conflict:
            raise conflict

    def _conflict(self):
        """Uniqueness against saved services: label, VIP/protocol/ports, mark (a bundle checks its own)."""
        in_bundle = getattr(self, "_peers", None) is not None
        return (None if in_bundle else locking.label_conflict(VirtualService.objects, self)) \
            or service_conflict(self)

    def validate_unique(self, exclude=None):
        # clean() checks the label, naming the holder and its id; Django's check would say it again.
        super().validate_unique(exclude={*(exclude or ()), "label"})

    def warnings(self, dr_vips: dict[str, int] | None = None) -> dict[str, list[str]]:
        """`dr_vips` (from `dr_vip_counts()`, shared by a list of services) saves a query per service:
        only a service whose VIP a Direct Routing service also uses looks further."""
        if dr_vips is None:
            dr_vips = dr_vip_counts(vip=self.vip)
        others = dr_vips.get(str(self.vip), 0) - (1 if self.method == dp.DR and self.pk else 0)
        neighbours, own = [], []
        if others > 0:
            dr = (VirtualService.objects.filter(vip=self.vip, method=dp.DR).exclude(pk=self.pk)
                  .prefetch_related("real_servers").order_by("label"))
            neighbours = [(o.label, [str(rs.address) for rs in o.real_servers.all()]) for o in dr]
            own = [str(rs.address) for rs in self.real_servers.all()] if self.pk else []
        return service_warnings(self, own_servers=own, dr_neighbours=neighbours)

    def save(self, *args, **kwargs):
        # Checked again under the lock: a concurrent request may have saved the same key since clean().
        if not locking.touches(kwargs, KEY_FIELDS):
            return super().save(*args, **kwargs)
        with locking.held("virtual-service-keys"):
            conflict = self._conflict()
            if conflict:
                raise conflict
            if self.needs_fwmark and self.fwmark is None:
                return self._save_with_new_mark(*args, **kwargs)
            return super().save(*args, **kwargs)

    def _save_with_new_mark(self, *args, **kwargs):
        # Unique constraint + retry keeps concurrent creations collision-free.
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "fwmark"}  # a changed-fields save
        for _ in range(5):
            self.fwmark = next_free_fwmark()
            try:
                with transaction.atomic():
                    return super().save(*args, **kwargs)
            except IntegrityError:
                self.fwmark = None
        raise IntegrityError("could not allocate a free firewall mark")


def next_free_fwmark(taken: set[int] | None = None) -> int:
    if taken is not None:
        return max(taken, default=0) + 1
    top = VirtualService.objects.aggregate(m=models.Max("fwmark"))["m"] or 0
    return top + 1


def dr_vip_counts(vip=None) -> dict[str, int]:
    """How many Direct Routing services use each VIP (one query; all VIPs, or one)."""
    rows = VirtualService.objects.filter(method=dp.DR)
    if vip is not None:
        rows = rows.filter(vip=vip)
    return {str(v): n for v, n in rows.values("vip").annotate(n=models.Count("id")).values_list("vip", "n")}
