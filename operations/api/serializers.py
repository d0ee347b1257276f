from rest_framework import serializers

from appliance.gate import GatedSerializerMixin
from appliance.serializers import versioned_update

from ..lockdown import lockout_error_after
from ..models import ManagementNetwork, canonical_network


class ManagementNetworkSerializer(GatedSerializerMixin, serializers.ModelSerializer):
    # A plain field: uniqueness is checked on the canonical form by canonical_network.
    network = serializers.CharField(max_length=49,
                                    help_text=ManagementNetwork._meta.get_field("network").help_text)

    class Meta:
        model = ManagementNetwork
        fields = ["id", "version", "network", "description", "created_at"]
        read_only_fields = ["created_at"]

    def validate_network(self, value):
        return canonical_network(value, self.instance.pk if self.instance else None)

    def validate(self, attrs):
        pk = self.instance.pk if self.instance is not None else None
        network = attrs.get("network", self.instance.network if self.instance else None)
        error = lockout_error_after(self.context["request"].META.get("REMOTE_ADDR"), pk, network)
        if error:
            raise serializers.ValidationError({"network": [error]})
        return attrs

    def update(self, instance, validated_data):
        """Only what changes is written, to the row as saved now; If-Match names the version it must be."""
        return versioned_update(self, instance, validated_data)
