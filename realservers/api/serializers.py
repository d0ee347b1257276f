from rest_framework import serializers

from virtualservices.api.serializers import CleanModelSerializer

from ..models import RealServer


class RealServerSerializer(CleanModelSerializer):
    service_label = serializers.CharField(source="service.label", read_only=True)

    class Meta:
        model = RealServer
        fields = ["id", "service", "service_label", "label", "address", "port", "weight", "min_conns",
                  "max_conns", "admin_state", "health", "health_since", "created_at", "updated_at"]
        read_only_fields = ["health", "health_since", "created_at", "updated_at"]


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


class KernelAnswerSerializer(serializers.Serializer):
    status = serializers.ChoiceField(["done", "failed", "unreachable"],
                                     help_text="done: the kernel holds the new state. failed: the kernel "
                                               "refused (error says why). unreachable: the kernel worker did "
                                               "not answer; the state is saved and the next apply brings it.")
    operations = serializers.ListField(child=serializers.CharField(), help_text="What changed in the kernel.")
    error = serializers.CharField(allow_blank=True)


class StateChangeResultSerializer(serializers.Serializer):
    state = serializers.CharField()
    changed = RealServerSerializer(many=True)
    matched = serializers.IntegerField()
    kernel = KernelAnswerSerializer(help_text="The kernel's answer: runtime state acts at once, no Apply.")


class StateNotFoundSerializer(serializers.Serializer):
    address = serializers.ListField(child=serializers.CharField())
