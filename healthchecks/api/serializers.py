from rest_framework import serializers

from ..models import HealthEvent


class HealthEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = HealthEvent
        fields = ["at", "old_state", "new_state", "check_type", "reason", "action"]


class LastResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField(allow_null=True)
    reason = serializers.CharField()
    checked_at = serializers.DateTimeField(allow_null=True)
    latency_ms = serializers.FloatField(allow_null=True)


class RealServerHealthSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    label = serializers.CharField()
    service = serializers.IntegerField()
    address = serializers.CharField()
    state = serializers.ChoiceField(choices=["unknown", "up", "down"])
    since = serializers.DateTimeField(allow_null=True)
    reason = serializers.CharField(help_text="Why the server is in this state, e.g. 'connect timeout after 1.0 s'.")
    admin_state = serializers.CharField()
    check_type = serializers.CharField()
    last_result = LastResultSerializer(allow_null=True)
    live = serializers.BooleanField(help_text="True when the status comes from a running healthcheckd.")
    events = HealthEventSerializer(many=True)
