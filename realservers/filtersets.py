import django_filters
from django import forms

from .models import RealServer


class IPAddressFilter(django_filters.Filter):
    field_class = forms.GenericIPAddressField


class RealServerFilterSet(django_filters.FilterSet):
    label = django_filters.CharFilter(lookup_expr="icontains")
    # Validated as an address first: PostgreSQL's inet column would fail on "x" with a 500, not a 400.
    address = IPAddressFilter()

    class Meta:
        model = RealServer
        fields = ["service", "label", "address", "port", "admin_state", "health"]
