from rest_framework import serializers

from appliance.serializers import CleanModelSerializer

from ..models import ROLES, Event, Link, Peer


class PeerSettingsSerializer(CleanModelSerializer):  # model rules: the sync interface exists
    class Meta:
        model = Peer
        fields = ["advert_int", "preempt", "virtual_router_id", "sync_interface"]


class PeerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Peer
        fields = ["address", "port", "scheme", "cert_fingerprint", "peer_name", "node_name", "role", "paired_at",
                  "advert_int",
                  "preempt", "virtual_router_id", "sync_interface", "local_version", "peer_version", "sync_state",
                  "last_sync_at", "last_sync_error", "reachable", "last_contact_at", "vrrp_state",
                  "vrrp_changed_at"]
        read_only_fields = fields


class StatusSerializer(serializers.Serializer):
    paired = serializers.BooleanField()
    in_sync = serializers.BooleanField(allow_null=True)
    peer = PeerSerializer(allow_null=True)
    keepalived = serializers.DictField()
    vip_holder = serializers.CharField(help_text="keepalived (HA pair) or apply (single appliance)")


class OfferSerializer(serializers.Serializer):
    """What pairing with another appliance needs from the admin (HA pair, active-active member)."""

    scheme = serializers.ChoiceField(choices=["http", "https"], default="https")
    fingerprint = serializers.CharField(
        required=False, allow_blank=True, max_length=120, default="",
        help_text="The other appliance's certificate SHA-256 fingerprint, as you confirmed it (HTTPS). Leave blank "
                  "at first: the answer (409) carries the fingerprint it presents, to compare and send back.")
    username = serializers.CharField(required=False, allow_blank=True, max_length=150, default="")
    password = serializers.CharField(required=False, allow_blank=True, max_length=256, default="",
                                     style={"input_type": "password"}, write_only=True)
    token = serializers.CharField(required=False, allow_blank=True, max_length=100, default="", write_only=True)
    my_port = serializers.IntegerField(min_value=1, max_value=65535, default=443,
                                       help_text="The port of this appliance's API, as the other will reach it.")

    def validate(self, attrs):
        if not attrs.get("token") and not (attrs.get("username") and attrs.get("password")):
            raise serializers.ValidationError({"password": "Give the other appliance's admin username and "
                                                           "password, or a pairing token made on it."})
        return attrs


class PairSerializer(OfferSerializer):
    peer_address = serializers.IPAddressField()
    peer_port = serializers.IntegerField(min_value=1, max_value=65535, default=443)
    role = serializers.ChoiceField(choices=ROLES, default="master", help_text="This appliance's role.")
    # Blank (the default) means this host's name; the pattern says so too, or the schema contradicts itself.
    node_name = serializers.RegexField(r"^([A-Za-z0-9][A-Za-z0-9_.-]{0,62})?$", required=False, default="",
                                       allow_blank=True)
    advert_int = serializers.FloatField(min_value=0.01, max_value=40.95, required=False)
    preempt = serializers.BooleanField(required=False)
    virtual_router_id = serializers.IntegerField(min_value=1, max_value=240, required=False)


class MessageSerializer(serializers.Serializer):
    detail = serializers.CharField()


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Shown once; give it to the first appliance within 30 minutes.")
    expires_in_minutes = serializers.IntegerField()


class LinkSerializer(CleanModelSerializer):  # model rules: the interface exists
    class Meta:
        model = Link
        fields = ["id", "interface", "peer_address", "local_address"]


class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = ["id", "time", "kind", "message", "remote"]
