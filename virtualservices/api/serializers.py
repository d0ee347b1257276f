from __future__ import annotations

from rest_framework import serializers

from appliance.serializers import CleanModelSerializer

from ..models import VirtualService, dr_vip_counts


class RealServerSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    label = serializers.CharField(read_only=True)
    address = serializers.IPAddressField(read_only=True)
    port = serializers.IntegerField(read_only=True, allow_null=True)
    weight = serializers.IntegerField(read_only=True)
    admin_state = serializers.CharField(read_only=True)
    health = serializers.CharField(read_only=True)


class VirtualServiceSerializer(CleanModelSerializer):
    real_servers = RealServerSummarySerializer(many=True, read_only=True)
    warnings = serializers.SerializerMethodField(
        help_text="Advice that does not block saving, by field (e.g. IKEv2 on a non-transparent method).")
    check_secret_set = serializers.SerializerMethodField(help_text="Whether a RADIUS secret is stored.")

    class Meta:
        model = VirtualService
        exclude = []
        read_only_fields = ["version", "created_at", "updated_at"]
        extra_kwargs = {"check_secret": {"write_only": True}}

    def get_warnings(self, obj) -> dict[str, list[str]]:
        if "dr_vips" not in self.context:  # one query for a whole list
            self.context["dr_vips"] = dr_vip_counts()
        return obj.warnings(dr_vips=self.context["dr_vips"])

    def get_check_secret_set(self, obj) -> bool:
        return bool(obj.check_secret)
