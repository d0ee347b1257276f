import django_filters
from django import forms

from .models import VirtualService


class IPAddressFilter(django_filters.Filter):
    field_class = forms.GenericIPAddressField


class VirtualServiceFilterSet(django_filters.FilterSet):
    label = django_filters.CharFilter(lookup_expr="icontains")
    # Validated as an address first: PostgreSQL's inet column would fail on "x" with a 500, not a 400.
    vip = IPAddressFilter()

    class Meta:
        model = VirtualService
        fields = ["label", "vip", "protocol", "method", "scheduler", "enabled", "check_type", "fwmark"]
