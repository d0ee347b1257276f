from rest_framework import serializers

from ..lockdown import lockout_error
from ..models import ManagementNetwork, validate_network


class ManagementNetworkSerializer(serializers.ModelSerializer):
    network = serializers.CharField(max_length=49, validators=[validate_network],
                                    help_text=ManagementNetwork._meta.get_field("network").help_text)

    class Meta:
        model = ManagementNetwork
        fields = ["id", "network", "description", "created_at"]
        read_only_fields = ["created_at"]

    def validate_network(self, value):
        import ipaddress

        value = str(ipaddress.ip_network(value, strict=False))
        others = ManagementNetwork.objects.filter(network=value)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        if others.exists():
            raise serializers.ValidationError(f"{value} is already a management network.")
        return value

    def validate(self, attrs):
        current = {n.pk: n.network for n in ManagementNetwork.objects.all()}
        key = self.instance.pk if self.instance is not None else None
        current[key] = attrs.get("network", self.instance.network if self.instance else None)
        error = lockout_error(current.values(), self.context["request"].META.get("REMOTE_ADDR"))
        if error:
            raise serializers.ValidationError({"network": [error]})
        return attrs
