from appliance.filtering import IPAddressFilter, NameLookupFilterSet, search_filter

from .models import RealServer


class RealServerFilterSet(NameLookupFilterSet):
    # Validated as an address first: PostgreSQL's inet column would fail on "x" with a 500, not a 400.
    address = IPAddressFilter()
    search = search_filter("label", "address", "service__label")

    class Meta:
        model = RealServer
        fields = ["service", "address", "port", "admin_state", "health"]
        name_fields = {"label": "label", "service_label": "service__label"}
