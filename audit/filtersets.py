import django_filters

from appliance.datetimes import UtcIsoDateTimeFilter
from appliance.filtering import search_filter

from .models import ChangeRecord


class ChangeRecordFilterSet(django_filters.FilterSet):
    since = UtcIsoDateTimeFilter(field_name="time", lookup_expr="gte")
    until = UtcIsoDateTimeFilter(field_name="time", lookup_expr="lt")
    search = search_filter("object_repr", "username", "summary")

    class Meta:
        model = ChangeRecord
        fields = ["username", "action", "object_type", "object_id", "since", "until"]
