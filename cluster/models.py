"""Appliance-wide settings (a singleton) and floating IPs."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from audit.recording import Audited

interface_name = RegexValidator(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,14}$",
                                "A Linux interface name: up to 15 letters, digits, _ . @ -.")


class ClusterSettings(Audited):
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
            obj.save()
        return obj


class FloatingIP(Audited):
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
        from virtualservices.validation import family

        if family(self.address) == 4 and self.prefixlen and self.prefixlen > 32:
            raise ValidationError({"prefixlen": "An IPv4 prefix length is 1-32."})
