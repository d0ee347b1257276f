from rest_framework import serializers

from ..models import ChangeRecord


class ChangeRecordSerializer(serializers.ModelSerializer):
    class Meta:
        model = ChangeRecord
        fields = ["id", "time", "username", "action", "object_type", "object_id", "object_repr", "summary",
                  "before", "after"]
