from rest_framework import serializers

from appliance.serializers import CleanModelSerializer, RefuseUnknownFields
from dataplane import config as dp
from virtualservices.api.serializers import VirtualServiceSerializer

from .. import aovpn
from ..models import BgpNeighbour, BgpSettings, ClusterSettings, FloatingIP


class ClusterSettingsSerializer(CleanModelSerializer):
    class Meta:
        model = ClusterSettings
        exclude = ["id"]
        read_only_fields = ["version", "updated_at"]


class BgpSettingsSerializer(CleanModelSerializer):
    class Meta:
        model = BgpSettings
        exclude = ["id"]
        read_only_fields = ["version"]


class BgpNeighbourSerializer(CleanModelSerializer):
    class Meta:
        model = BgpNeighbour
        fields = ["id", "address", "asn", "password", "description", "version"]
        read_only_fields = ["version"]
        extra_kwargs = {"password": {"write_only": True}}


class BgpSessionSerializer(serializers.Serializer):
    neighbour = serializers.CharField(help_text="The neighbour's address.")
    remote_asn = serializers.IntegerField(help_text="Its AS number as bgpd knows it.")
    state = serializers.CharField(help_text="bgpd's session state: Established, Idle, Active, Connect, ...")
    established = serializers.BooleanField(help_text="Whether the session is up.")
    prefixes_sent = serializers.IntegerField(help_text="Prefixes announced to it (this node's VIPs).")
    prefixes_received = serializers.IntegerField(help_text="Prefixes it sent (all refused inbound).")
    uptime_s = serializers.FloatField(help_text="Seconds since the session came up (0 when down).")


class BgpStatusSerializer(serializers.Serializer):
    active_active = serializers.BooleanField(help_text="Whether the cluster mode is active-active.")
    announced = serializers.ListField(child=serializers.CharField(),
                                      help_text="VIPs this node is fit to serve: held on lo, so announced.")
    sessions = BgpSessionSerializer(many=True, help_text="Each neighbour's session, read from bgpd now (none on "
                                    "a render-only host or outside active-active).")
    bfd_detection_ms = serializers.IntegerField(help_text="BFD interval x multiplier.")
    dataplane = serializers.CharField(help_text="kernel, or render-only (the configuration is not loaded).")
    config = serializers.CharField(help_text="The frr.conf this node loads (passwords masked).")


class FloatingIPSerializer(CleanModelSerializer):
    class Meta:
        model = FloatingIP
        fields = ["id", "address", "prefixlen", "interface", "description", "version"]
        read_only_fields = ["version"]


class AovpnSerializer(RefuseUnknownFields, serializers.Serializer):
    """The shape of the request; its rules and limits are cluster.aovpn's (request_errors), shared with the
    wizard and the CLI; the limits are repeated here only so the schema shows them."""

    vip = serializers.IPAddressField(help_text="The VIP clients use for SSTP and IKEv2.")
    vpn_servers = serializers.ListField(child=serializers.CharField(max_length=45), max_length=aovpn.MAX_SERVERS,
                                        help_text="Addresses of the RRAS VPN servers (at least one).")
    ikev2_method = serializers.ChoiceField(choices=aovpn.IKEV2_METHODS, default=dp.DR,
                                           help_text="IKEv2 needs a transparent method.")
    sstp_method = serializers.ChoiceField(choices=aovpn.SSTP_METHODS, default=dp.SNAT)
    nps_vip = serializers.IPAddressField(
        required=False, allow_blank=True, default="",
        help_text="VIP for RADIUS. Required with NPS servers when IKEv2 uses DR (the VPN servers hold the VPN VIP "
                  "on their loopback); with NAT, blank: the same VIP.")
    nps_servers = serializers.ListField(child=serializers.CharField(max_length=45), required=False, default=list,
                                        max_length=aovpn.MAX_SERVERS, help_text="NPS servers; none: no NPS service.")
    radius_secret = serializers.CharField(required=False, allow_blank=True, default="", max_length=aovpn.SECRET_MAX,
                                          write_only=True)
    label_prefix = serializers.RegexField(aovpn.LABEL_PREFIX_RE, default="AOVPN")

    def validate(self, attrs):
        errors = aovpn.request_errors(aovpn.AovpnRequest(**attrs))
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


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
