"""/api/v1/management-networks/: the lockdown of the WebUI/API.

Every role reads it, only admins (CONFIGURE) change it; a change that would lock out the admin
making it is refused."""

from django.db import transaction
from rest_framework import viewsets
from rest_framework.exceptions import ValidationError

from appliance.concurrency import VersionedViewMixin, destroy_versioned, if_match_versions

from ..lockdown import lockout_error_after
from ..models import ManagementNetwork
from .serializers import ManagementNetworkSerializer


class ManagementNetworkViewSet(VersionedViewMixin, viewsets.ModelViewSet):
    queryset = ManagementNetwork.objects.all()
    serializer_class = ManagementNetworkSerializer
    filterset_fields = ["network"]
    search_fields = ["network", "description"]

    def perform_destroy(self, instance):
        with transaction.atomic():
            error = lockout_error_after(self.request.META.get("REMOTE_ADDR"), instance.pk, delete=True)
            if error:
                raise ValidationError({"network": [error]})
            destroy_versioned(instance, if_match_versions(self.request))
