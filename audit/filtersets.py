import django_filters

from .models import ChangeRecord


class ChangeRecordFilterSet(django_filters.FilterSet):
    since = django_filters.IsoDateTimeFilter(field_name="time", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="time", lookup_expr="lt")

    class Meta:
        model = ChangeRecord
        fields = ["username", "action", "object_type", "object_id", "since", "until"]
