"""Management networks: who may reach the WebUI and API (an empty list: everyone, no lockdown)."""

from __future__ import annotations

import ipaddress

from django.core.exceptions import ValidationError
from django.db import models

from appliance.versioning import Versioned
from audit.recording import Audited


def validate_network(value: str) -> None:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError as e:
        raise ValidationError(f"'{value}' is not an IPv4/IPv6 address or network (e.g. 10.0.0.0/24).") from e


class ManagementNetwork(Versioned, Audited):
    network = models.CharField(max_length=49, unique=True, validators=[validate_network],
                               help_text="An address or CIDR network allowed to reach the WebUI/API, e.g. 10.0.0.0/24.")
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["network"]

    def __str__(self):
        return self.network

    def save(self, *args, **kwargs):
        self.network = str(ipaddress.ip_network(self.network, strict=False))  # canonical: 10.0.0.0/24
        super().save(*args, **kwargs)


def canonical_network(value: str, exclude_pk: int | None = None) -> str:
    """The network in canonical form (10.0.0.7/24 -> 10.0.0.0/24), or ValidationError: not a network,
    or already listed (another row than ``exclude_pk``). Shared by the API serializer and the WebUI form."""
    validate_network(value)
    value = str(ipaddress.ip_network(value, strict=False))
    if ManagementNetwork.objects.filter(network=value).exclude(pk=exclude_pk).exists():
        raise ValidationError(f"{value} is already a management network.")
    return value
