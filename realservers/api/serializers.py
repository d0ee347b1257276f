from rest_framework import serializers

from virtualservices.api.serializers import CleanModelSerializer

from ..models import RealServer


class RealServerSerializer(CleanModelSerializer):
    service_label = serializers.CharField(source="service.label", read_only=True)

    class Meta:
        model = RealServer
        fields = ["id", "service", "service_label", "label", "address", "port", "weight", "min_conns",
                  "max_conns", "admin_state", "health", "health_since", "version", "created_at", "updated_at"]
        read_only_fields = ["health", "health_since", "version", "created_at", "updated_at"]
        extra_kwargs = {"admin_state": {"help_text": "Set when creating; afterwards only by POST …/online/, "
                                                     "…/drain/ or …/halt/, which act at once."}}

    def validate_admin_state(self, value):
        # Runtime state: an edit that read it before an operator's drain must not undo the drain.
        if self.instance is not None and value != self.instance.admin_state:
            raise serializers.ValidationError(
                "Runtime state is not edited with the configuration: use POST …/online/, …/drain/ or …/halt/.")
        return value


class NestedRealServerSerializer(RealServerSerializer):
    """Under /virtual-services/{id}/real-servers/: the service comes from the URL."""

    class Meta(RealServerSerializer.Meta):
        read_only_fields = [*RealServerSerializer.Meta.read_only_fields, "service"]

    def prepare_instance(self, instance):
        instance.service = self.context["service"]


class StateByAddressSerializer(serializers.Serializer):
    address = serializers.IPAddressField(help_text="Every real server with this address, in every service.")
    port = serializers.IntegerField(required=False, min_value=1, max_value=65535,
                                    help_text="Only those on this port.")


class StateChangeResultSerializer(serializers.Serializer):
    state = serializers.CharField()
    changed = RealServerSerializer(many=True)
    matched = serializers.IntegerField()


class StateNotFoundSerializer(serializers.Serializer):
    address = serializers.ListField(child=serializers.CharField())
