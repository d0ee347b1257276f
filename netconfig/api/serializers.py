from rest_framework import serializers

from appliance.serializers import CleanModelSerializer

from ..apply import DEFAULT_TIMEOUT, MAX_TIMEOUT
from ..control import SERVICES
from ..models import Interface, NetworkChange, Route, SystemSettings


class InterfaceSerializer(CleanModelSerializer):
    members = serializers.ListField(child=serializers.CharField(max_length=15), required=False, max_length=16)
    addresses = serializers.ListField(child=serializers.CharField(max_length=43), required=False, max_length=64)

    class Meta:
        model = Interface
        fields = ["id", "version", "name", "kind", "parent", "vlan_id", "bond_mode", "members", "mtu", "up",
                  "addresses", "description"]


class RouteSerializer(CleanModelSerializer):
    class Meta:
        model = Route
        fields = ["id", "version", "destination", "gateway", "interface", "description"]


class NetworkChangeSerializer(serializers.ModelSerializer):
    seconds_left = serializers.SerializerMethodField()

    class Meta:
        model = NetworkChange
        fields = ["id", "created_at", "username", "status", "timeout", "deadline", "seconds_left", "ops", "error",
                  "finished_at"]

    def get_seconds_left(self, obj) -> int | None:
        from django.utils import timezone

        if obj.status != NetworkChange.AWAITING or obj.deadline is None:
            return None
        return max(0, int((obj.deadline - timezone.now()).total_seconds()))


class NetworkApplySerializer(serializers.Serializer):
    timeout = serializers.IntegerField(min_value=0, max_value=MAX_TIMEOUT, default=DEFAULT_TIMEOUT,
                                       help_text="Seconds to confirm in before the change is rolled back; "
                                                 "0 applies it at once without a timer.")


class SystemSettingsSerializer(CleanModelSerializer):
    dns_servers = serializers.ListField(child=serializers.CharField(max_length=45), required=False, max_length=3)
    search_domains = serializers.ListField(child=serializers.CharField(max_length=253), required=False, max_length=6)
    ntp_servers = serializers.ListField(child=serializers.CharField(max_length=253), required=False, max_length=16)
    alert_emails = serializers.ListField(child=serializers.CharField(max_length=254), required=False, max_length=32)
    syslog_targets = serializers.ListField(child=serializers.CharField(max_length=261), required=False, max_length=4)
    smtp_password = serializers.CharField(max_length=254, required=False, allow_blank=True, write_only=True,
                                          help_text="Write-only; leave out to keep the stored one.")
    smtp_password_set = serializers.SerializerMethodField()

    class Meta:
        model = SystemSettings
        exclude = ["id"]
        read_only_fields = ["updated_at"]

    def get_smtp_password_set(self, obj) -> bool:
        return bool(obj.smtp_password)


class TestMailSerializer(serializers.Serializer):
    to = serializers.EmailField(required=False, help_text="Blank: the alert recipients.")


class ControlSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=["restart", "reboot", "halt"])
    service = serializers.ChoiceField(choices=sorted(SERVICES), required=False, allow_blank=True, default="")
    confirm = serializers.BooleanField(help_text="Must be true: reboot, halt and restarts interrupt service.")

    def validate(self, attrs):
        if not attrs["confirm"]:
            raise serializers.ValidationError({"confirm": ["Set confirm to true to go ahead."]})
        if attrs["action"] == "restart" and not attrs["service"]:
            raise serializers.ValidationError({"service": ["Choose the service to restart."]})
        return attrs
