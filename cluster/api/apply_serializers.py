from rest_framework import serializers

from ..models import ApplyRun, DriftCheck


class ApplyRunSerializer(serializers.ModelSerializer):
    commands = serializers.CharField(read_only=True, help_text=(
        "What changed as ipvsadm / iptables / ip addr / sysctl command lines, grouped by tool with counts "
        "(the same text as the WebUI and `manage.py apply`)."))

    class Meta:
        model = ApplyRun
        fields = ["id", "username", "status", "dataplane", "reason", "queued_at", "started_at", "finished_at",
                  "duration_ms", "change_id", "progress_done", "progress_total", "progress_text",
                  "operation_count", "operations", "commands", "error"]


class ApplyStatusSerializer(serializers.Serializer):
    dataplane = serializers.ChoiceField(choices=["kernel", "render-only"])
    celery = serializers.ChoiceField(choices=["worker", "in-process"])
    pending_changes = serializers.BooleanField()
    running = ApplyRunSerializer(allow_null=True)
    last = ApplyRunSerializer(allow_null=True)


class DriftCheckSerializer(serializers.ModelSerializer):
    class Meta:
        model = DriftCheck
        fields = ["id", "time", "drift", "differences", "repaired", "error"]


class RenderedSerializer(serializers.Serializer):
    text = serializers.CharField()


class CountersSerializer(serializers.Serializer):
    conns = serializers.IntegerField()
    inpkts = serializers.IntegerField()
    outpkts = serializers.IntegerField()
    inbytes = serializers.IntegerField()
    outbytes = serializers.IntegerField()
    cps = serializers.IntegerField()
    inpps = serializers.IntegerField()
    outpps = serializers.IntegerField()
    inbps = serializers.IntegerField()
    outbps = serializers.IntegerField()


class RealServerStatusSerializer(CountersSerializer):
    id = serializers.IntegerField()
    label = serializers.CharField()
    address = serializers.CharField()
    port = serializers.IntegerField()
    in_kernel = serializers.BooleanField()
    weight = serializers.IntegerField(allow_null=True)
    active_conns = serializers.IntegerField()
    inactive_conns = serializers.IntegerField()
    persistent_conns = serializers.IntegerField()


class FallbackStatusSerializer(serializers.Serializer):
    address = serializers.CharField()
    port = serializers.IntegerField()
    active_conns = serializers.IntegerField()
    inactive_conns = serializers.IntegerField()


class ServiceStatusSerializer(CountersSerializer):
    id = serializers.IntegerField()
    label = serializers.CharField()
    in_kernel = serializers.BooleanField()
    active_conns = serializers.IntegerField()
    inactive_conns = serializers.IntegerField()
    real_servers = RealServerStatusSerializer(many=True)
    fallback = FallbackStatusSerializer(many=True)


class KernelStatusSerializer(serializers.Serializer):
    dataplane = serializers.CharField()
    source = serializers.ChoiceField(choices=["worker", "direct"],
                                     help_text="worker: the worker's snapshot (≤ 2 s old); direct: read now.")
    services = ServiceStatusSerializer(many=True)
