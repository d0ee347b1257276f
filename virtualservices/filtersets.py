import django_filters

from .models import VirtualService


class VirtualServiceFilterSet(django_filters.FilterSet):
    label = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = VirtualService
        fields = ["label", "vip", "protocol", "method", "scheduler", "enabled", "check_type", "fwmark"]
