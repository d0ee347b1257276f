from rest_framework import serializers

from ..models import ChangeRecord


class ChangeRecordSerializer(serializers.ModelSerializer):
    changes = serializers.ListField(child=serializers.CharField(), read_only=True, help_text=(
        'Field-level "field before → after" lines as the WebUI shows them (secrets: "changed (hidden)").'))

    class Meta:
        model = ChangeRecord
        fields = ["id", "time", "username", "action", "object_type", "object_id", "object_repr", "summary",
                  "changes", "before", "after"]
