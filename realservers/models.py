"""Real servers (RIPs) behind a virtual service, with their administrative and health state."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from appliance.versioning import Versioned
from audit.recording import Audited
from dataplane import config as dp
from virtualservices import locking
from virtualservices.models import VirtualService
from virtualservices.validation import Duplicate, named, real_server_errors

ADMIN_STATES = [(dp.ONLINE, "Online"), (dp.DRAIN, "Drain"), (dp.HALT, "Halt")]
ADMIN_STATE_HELP = ("Online: takes traffic. Drain: weight 0, existing connections finish. "
                    "Halt: removed from the table, connections are cut.")
HEALTH_STATES = [(dp.HEALTH_UNKNOWN, "Unknown"), (dp.HEALTH_UP, "Up"), (dp.HEALTH_DOWN, "Down")]


class RealServer(Versioned, Audited):
    natural_key_fields = ("service", "label")  # the name clients use as its key (409 names the holder)
    service = models.ForeignKey(VirtualService, on_delete=models.CASCADE, related_name="real_servers")
    label = models.CharField(max_length=64)
    address = models.GenericIPAddressField(db_index=True)
    port = models.PositiveIntegerField(null=True, blank=True,
                                       validators=[MinValueValidator(1), MaxValueValidator(65535)],
                                       help_text="Blank: the VIP's port. DR and TUN cannot translate ports.")
    weight = models.PositiveIntegerField(default=100, validators=[MaxValueValidator(65535)],
                                         help_text="0-65535; 0 takes no new connections.")
    min_conns = models.PositiveIntegerField("minimum connections", default=0,
                                            help_text="IPVS lower threshold: after reaching the maximum, "
                                                      "new connections resume below this. 0: none.")
    max_conns = models.PositiveIntegerField("maximum connections", default=0,
                                            help_text="IPVS upper threshold. 0: unlimited.")
    admin_state = models.CharField("state", max_length=6, choices=ADMIN_STATES, default=dp.ONLINE,
                                   help_text=ADMIN_STATE_HELP)
    health = models.CharField(max_length=7, choices=HEALTH_STATES, default=dp.HEALTH_UNKNOWN, editable=False)
    health_since = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Runtime state: set by online/drain/halt and healthcheckd, never by a configuration edit.
    runtime_fields = ("admin_state", "health", "health_since")

    class Meta:
        ordering = ["service_id", "label"]
        constraints = [
            models.UniqueConstraint(fields=["service", "label"], name="realserver_unique_label",
                                    violation_error_message="A real server with this label already exists "
                                                            "in this service."),
        ]

    def __str__(self):
        return f"{self.service.label}/{self.label}" if self.service_id else self.label

    def clean(self):
        if self.service_id is None and not RealServer.service.is_cached(self):
            return  # the form/serializer reports the missing service
        errors = real_server_errors(self)
        if errors:
            raise ValidationError(errors)
        duplicate = self._conflict()
        self.duplicate_of = duplicate.existing_id if duplicate else None  # full_clean() drops the subclass
        if duplicate:
            raise duplicate

    def save(self, *args, **kwargs):
        # Checked again under the service's lock: a concurrent request may have added the same destination.
        if not locking.touches(kwargs, {"service", "label", "address", "port"}):
            return super().save(*args, **kwargs)
        with locking.held("real-server-destinations", self.service_id):
            duplicate = self._conflict()
            if duplicate:
                raise duplicate
            return super().save(*args, **kwargs)

    def _conflict(self) -> Duplicate | None:
        """The label or the destination already in this service (a bundle checks its own labels)."""
        in_bundle = getattr(self, "_peers", None) is not None
        siblings = RealServer.objects.filter(service_id=self.service_id)
        return (None if in_bundle else locking.label_conflict(siblings, self)) or self._duplicate()

    def validate_constraints(self, exclude=None):
        # clean() checks the label, naming the holder and its id; the constraint's check would say it again.
        super().validate_constraints(exclude={*(exclude or ()), "label"})

    def _duplicate(self) -> Duplicate | None:
        if getattr(self, "_peers", None) is not None:
            others = self._peers
        else:
            others = RealServer.objects.filter(service_id=self.service_id, address=self.address).exclude(pk=self.pk)
        # A blank port is the VIP's port: "blank" and that port are one IPVS destination, which the
        # kernel refuses to hold twice (every apply would fail).
        vip_port = self.service.single_port

        def port(rs):
            return rs.port or vip_port

        for other in others:
            if str(other.address) == str(self.address) and port(other) == port(self):
                return Duplicate({"address": [f"{self.address}:{self.port or 'VIP port'} is already real server "
                                              f"{named(other)} of this service."]}, other.pk)
        return None
