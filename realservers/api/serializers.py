from rest_framework import serializers

from appliance.serializers import CleanModelSerializer, RefuseUnknownFields
from virtualservices.models import VirtualService

from ..models import RealServer

SERVICE_REQUIRED = "Name the service: its id (service) or its label (service_label)."


class RealServerSerializer(CleanModelSerializer):
    service = serializers.PrimaryKeyRelatedField(queryset=VirtualService.objects.all(), required=False,
                                                 help_text="The service's id; or give service_label.")
    service_label = serializers.SlugRelatedField(
        source="service", slug_field="label", queryset=VirtualService.objects.all(), required=False,
        help_text="The service's label, in place of its id.")

    class Meta:
        model = RealServer
        fields = ["id", "service", "service_label", "label", "address", "port", "weight", "min_conns",
                  "max_conns", "admin_state", "health", "health_since", "version", "created_at", "updated_at"]
        read_only_fields = ["health", "health_since", "version", "created_at", "updated_at"]
        extra_kwargs = {"admin_state": {"help_text": "Set when creating; afterwards only by POST …/online/, "
                                                     "…/drain/ or …/halt/, which act at once."}}

    def validate(self, attrs):
        given = {name for name in ("service", "service_label") if name in self.initial_data}
        if self.instance is None and not given and "service" not in self.context:
            raise serializers.ValidationError({"service": [SERVICE_REQUIRED]})
        if given == {"service", "service_label"}:
            by_label = VirtualService.objects.filter(label=self.initial_data["service_label"]).first()
            if by_label is None or str(by_label.pk) != str(self.initial_data["service"]):
                raise serializers.ValidationError({"service_label": ["Names another service than service."]})
        return super().validate(attrs)

    def validate_admin_state(self, value):
        # Runtime state: an edit that read it before an operator's drain must not undo the drain.
        if self.instance is not None and value != self.instance.admin_state:
            raise serializers.ValidationError(
                "Runtime state is not edited with the configuration: use POST …/online/, …/drain/ or …/halt/.")
        return value


class NestedRealServerSerializer(RealServerSerializer):
    """Under /virtual-services/{id}/real-servers/: the service comes from the URL."""

    service = serializers.PrimaryKeyRelatedField(read_only=True)
    service_label = serializers.CharField(source="service.label", read_only=True)

    class Meta(RealServerSerializer.Meta):
        read_only_fields = [*RealServerSerializer.Meta.read_only_fields, "service"]

    def prepare_instance(self, instance):
        instance.service = self.context["service"]


class StateByAddressSerializer(RefuseUnknownFields, serializers.Serializer):
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
