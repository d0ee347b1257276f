import django_filters

from .models import RealServer


class RealServerFilterSet(django_filters.FilterSet):
    label = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = RealServer
        fields = ["service", "label", "address", "port", "admin_state", "health"]
