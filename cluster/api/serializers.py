from rest_framework import serializers

from appliance.serializers import CleanModelSerializer, RefuseUnknownFields
from dataplane import config as dp
from virtualservices.api.serializers import VirtualServiceSerializer

from ..models import ClusterSettings, FloatingIP


class ClusterSettingsSerializer(CleanModelSerializer):
    class Meta:
        model = ClusterSettings
        exclude = ["id"]
        read_only_fields = ["version", "updated_at"]


class FloatingIPSerializer(CleanModelSerializer):
    class Meta:
        model = FloatingIP
        fields = ["id", "address", "prefixlen", "interface", "description", "version"]
        read_only_fields = ["version"]


class AovpnSerializer(RefuseUnknownFields, serializers.Serializer):
    vip = serializers.IPAddressField(help_text="The VIP clients use for SSTP and IKEv2.")
    vpn_servers = serializers.ListField(child=serializers.IPAddressField(), min_length=1, max_length=64,
                                        help_text="Addresses of the RRAS VPN servers.")
    ikev2_method = serializers.ChoiceField(choices=[dp.DR, dp.NAT], default=dp.DR,
                                           help_text="IKEv2 needs a transparent method.")
    sstp_method = serializers.ChoiceField(choices=[dp.SNAT, dp.DR, dp.NAT], default=dp.SNAT)
    nps_vip = serializers.IPAddressField(
        required=False, allow_blank=True, default="",
        help_text="VIP for RADIUS. Required with NPS servers when IKEv2 uses DR (the VPN servers hold the VPN VIP "
                  "on their loopback); with NAT, blank: the same VIP.")
    nps_servers = serializers.ListField(child=serializers.IPAddressField(), required=False, default=list,
                                        max_length=64, help_text="NPS servers; none: no NPS service.")
    radius_secret = serializers.CharField(required=False, allow_blank=True, default="", max_length=128,
                                          write_only=True)
    label_prefix = serializers.RegexField(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$", default="AOVPN")


class AovpnResultSerializer(serializers.Serializer):
    services = VirtualServiceSerializer(many=True)


class BundleSerializer(serializers.Serializer):
    """A configuration bundle: see cluster/bundle.py for the format."""

    format = serializers.CharField()
    version = serializers.IntegerField()
    exported_at = serializers.CharField(required=False)
    cluster = serializers.DictField()
    floating_ips = serializers.ListField(child=serializers.DictField())
    virtual_services = serializers.ListField(child=serializers.DictField())
    network = serializers.DictField(required=False, help_text="This host's interfaces and routes (netconfig).")


class ChangeCountsSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    deleted = serializers.IntegerField()


class ImportCountsSerializer(serializers.Serializer):
    virtual_services = ChangeCountsSerializer()
    real_servers = ChangeCountsSerializer()
    floating_ips = ChangeCountsSerializer()
    cluster = ChangeCountsSerializer()


class ImportResultSerializer(serializers.Serializer):
    virtual_services = serializers.IntegerField(help_text="How many the configuration now has from the bundle.")
    real_servers = serializers.IntegerField()
    floating_ips = serializers.IntegerField()
    mode = serializers.ChoiceField(choices=["replace", "merge"])
    changed = serializers.BooleanField(help_text="Whether anything was created, updated or deleted.")
    counts = ImportCountsSerializer(help_text="Created / updated / deleted, per kind of object.")


class ChangedObjectSerializer(serializers.Serializer):
    label = serializers.CharField(help_text="The object's key: service label, service/label, or address.")
    fields = serializers.ListField(child=serializers.CharField())
    changes = serializers.ListField(child=serializers.CharField(),
                                    help_text='Before → after per field, e.g. "weight 100 → 75"; secrets hidden.')


class DiffSerializer(serializers.Serializer):
    added = serializers.ListField(child=serializers.CharField())
    removed = serializers.ListField(child=serializers.CharField())
    changed = ChangedObjectSerializer(many=True)


class PreviewSerializer(DiffSerializer):
    """Virtual services at the top level (by label); the other kinds under their own keys."""

    real_servers = DiffSerializer()
    floating_ips = DiffSerializer()
    cluster = serializers.ListField(child=serializers.CharField(), help_text="Cluster settings that change.")
