from appliance.filtering import IPAddressFilter, NameLookupFilterSet, search_filter

from .models import VirtualService


class VirtualServiceFilterSet(NameLookupFilterSet):
    # Validated as an address first: PostgreSQL's inet column would fail on "x" with a 500, not a 400.
    vip = IPAddressFilter()
    search = search_filter("label", "vip", "ports", "description")

    class Meta:
        model = VirtualService
        fields = ["vip", "protocol", "method", "scheduler", "enabled", "check_type", "fwmark"]
        name_fields = {"label": "label"}
