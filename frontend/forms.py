"""WebUI forms. Validation is the models' own (model.clean → virtualservices.validation), shared with the API."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model, password_validation

from accounts.roles import ADMIN, ROLE_CHOICES, SCOPE_LABELS, SCOPES, role_of, scopes_of
from appliance.datetimes import UtcDateTimeField
from appliance.gate import GatedFormMixin
from cluster import aovpn
from cluster.models import BgpNeighbour, BgpSettings, ClusterSettings, FloatingIP
from dataplane import config as dp
from netconfig.forms import interface_select
from operations.lockdown import lockout_error_after
from operations.models import ManagementNetwork, canonical_network
from realservers.models import RealServer
from virtualservices.choices import CHECK_FIELD_TYPES
from virtualservices.models import VirtualService

METHOD_CHOICE_HELP = {
    dp.DR: "Fastest and transparent. Each real server must hold the VIP on a loopback adapter and never "
           "answer ARP for it (Linux: arp_ignore=1, arp_announce=2; Windows: loopback adapter, weak host "
           "send/receive). Ports cannot be translated. The appliance needs an interface in the real servers' "
           "subnet.",
    dp.NAT: "Transparent. Each real server's default gateway must be the load balancer (ideally a floating "
            "IP). Real servers that reach the Internet need Autonat. Ports can be translated.",
    dp.SNAT: "Real servers see the load balancer's address; nothing to change on them. Not transparent: "
             "not for IKEv2, since Windows limits IPsec security associations per source address.",
    dp.TUN: "IP-in-IP to real servers that decapsulate (they hold the VIP on a tunnel interface). "
            "Ports cannot be translated.",
}

SERVICE_SECTIONS = [
    ("Service", "What clients connect to.",
     ["label", "description", "enabled", "vip", "ports", "protocol", "fwmark"]),
    ("Forwarding", "How the load balancer passes connections to the real servers.",
     ["method", "scheduler", "snat_source"]),
    ("Persistence", "Keep a client on one real server. IKEv2 needs it: IKE (500) and NAT-T (4500) must reach "
                    "the same server.",
     ["persistent", "persistence_timeout", "persistence_netmask"]),
    ("Fallback server", "Answers while no real server is available (a 'sorry' page or a maintenance server).",
     ["fallback_address", "fallback_port"]),
    ("Health check", "How the appliance decides a real server is up. SSTP checks the SSTP URL over HTTPS "
                     "and expects 401 Unauthorized (RRAS's answer to a request that is not an SSTP handshake), "
                     "IKEv2 sends IKE_SA_INIT, RADIUS sends an Access-Request and needs the shared secret.",
     ["check_type", "check_port", "check_interval", "check_timeout", "check_rise", "check_fall", "on_down",
      "check_method", "check_request", "check_response", "check_status", "check_vhost", "check_verify_tls",
      "check_secret", "check_script"]),
    ("Alerts", "", ["alert_email"]),
]


class SectionsMixin:
    sections: list = []

    def fieldsets(self):
        for title, intro, names in self.sections:
            yield {"title": title, "intro": intro, "fields": [self[n] for n in names if n in self.fields]}


class VirtualServiceForm(SectionsMixin, GatedFormMixin, forms.ModelForm):
    sections = SERVICE_SECTIONS

    class Meta:
        model = VirtualService
        exclude = ["created_at", "updated_at"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2}),
                   # write-only: the stored secret never goes back to the browser; blank keeps it
                   "check_secret": forms.PasswordInput(render_value=False),
                   "method": forms.RadioSelect}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["method"].help_text = ""
        self.fields["fwmark"].help_text = ("Required when Protocol is “Firewall mark” (your own rules mark the "
                                           "packets); assigned automatically for multi-port and TCP + UDP services.")
        self.fields["ports"].widget.attrs["placeholder"] = "443 or 500,4500 or 8000-8010"
        self.fields["vip"].widget.attrs["placeholder"] = "192.0.2.10"
        for name in ("check_interval", "check_timeout"):
            self.fields[name].widget.attrs["step"] = "0.1"
        for name, types in CHECK_FIELD_TYPES.items():  # fulcrum.js hides what the chosen check ignores
            self.fields[name].widget.attrs["data-shown-for"] = "check_type " + " ".join(types)
        if self.instance.check_secret:
            self.fields["check_secret"].help_text = "A secret is stored. Leave blank to keep it."

    def clean_check_secret(self):
        return self.cleaned_data["check_secret"] or self.instance.check_secret

    def method_choices(self):
        return [(value, label, METHOD_CHOICE_HELP.get(value, ""))
                for value, label in self.fields["method"].choices if value]


class RealServerForm(GatedFormMixin, forms.ModelForm):
    class Meta:
        model = RealServer
        fields = ["label", "address", "port", "weight", "min_conns", "max_conns", "admin_state"]


class ClusterSettingsForm(GatedFormMixin, forms.ModelForm):
    class Meta:
        model = ClusterSettings
        exclude = ["updated_at"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        interface_select(self, "vip_interface", "autonat_interface", blank="— off —")


class BgpSettingsForm(GatedFormMixin, forms.ModelForm):
    class Meta:
        model = BgpSettings
        fields = ["asn", "router_id", "bfd_interval_ms", "bfd_multiplier"]


class BgpNeighbourForm(GatedFormMixin, forms.ModelForm):
    class Meta:
        model = BgpNeighbour
        fields = ["address", "asn", "password", "description"]
        widgets = {"password": forms.PasswordInput(render_value=False)}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.stored_password = self.instance.password if self.instance.pk else ""
        if self.stored_password:
            self.fields["password"].help_text = "Set; leave blank to keep it. " + self.fields["password"].help_text

    def clean_password(self):
        # The page never shows the password, so a blank field on a modify keeps the stored one.
        return self.cleaned_data.get("password") or self.stored_password


class FloatingIPForm(GatedFormMixin, forms.ModelForm):
    class Meta:
        model = FloatingIP
        fields = ["address", "prefixlen", "interface", "description"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        interface_select(self, "interface")


class ManagementNetworkForm(GatedFormMixin, forms.ModelForm):
    """Checked like the API (operations.models / operations.lockdown): canonical, not listed twice, and
    never a set of networks that would lock out the admin saving it (``remote``: their address)."""

    network = forms.CharField(max_length=49, help_text=ManagementNetwork._meta.get_field("network").help_text)

    class Meta:
        model = ManagementNetwork
        fields = ["network", "description"]

    def __init__(self, *args, remote: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.remote = remote

    def clean_network(self):
        return canonical_network(self.cleaned_data["network"], self.instance.pk)

    def clean(self):
        data = super().clean()
        if "network" in data:
            error = lockout_error_after(self.remote, self.instance.pk, data["network"])
            if error:
                self.add_error("network", error)
        return data


def _addresses(text: str) -> list[str]:
    return [a for a in text.replace(",", " ").split() if a]


class AovpnForm(GatedFormMixin, forms.Form):
    """The wizard's fields; the rules and limits are cluster.aovpn's (request_errors), as for the API and CLI."""

    label_prefix = forms.RegexField(regex=aovpn.LABEL_PREFIX_RE, initial="AOVPN", max_length=41,
                                    help_text="Services are named PREFIX-SSTP, PREFIX-IKEv2 and PREFIX-NPS.")
    vip = forms.GenericIPAddressField(label="VPN VIP", help_text="The address VPN clients connect to "
                                                                 "(public DNS name of the VPN).")
    vpn_servers = forms.CharField(label="VPN servers (RRAS)", widget=forms.Textarea(attrs={"rows": 3}),
                                  help_text="Addresses of the Windows RRAS servers, one per line or comma "
                                            "separated.")
    sstp_method = forms.ChoiceField(label="SSTP method", choices=[(dp.SNAT, "SNAT (no change on the servers)"),
                                                                 (dp.DR, "Direct Routing"), (dp.NAT, "NAT")],
                                    initial=dp.SNAT, widget=forms.RadioSelect,
                                    help_text="SSTP is TLS on 443/TCP: any method works; SNAT needs no change on "
                                              "the RRAS servers.")
    ikev2_method = forms.ChoiceField(label="IKEv2 method", choices=[(dp.DR, "Direct Routing"), (dp.NAT, "NAT")],
                                     initial=dp.DR, widget=forms.RadioSelect,
                                     help_text="IKEv2 needs a transparent method: Windows limits IPsec security "
                                               "associations per source address, so SNAT (all clients from one "
                                               "address) breaks it. DR needs the VIP on a loopback adapter of "
                                               "each RRAS server; NAT needs the load balancer as their gateway.")
    nps_vip = forms.GenericIPAddressField(
        label="NPS VIP", required=False,
        help_text="A separate internal VIP for RADIUS. Required with NPS servers when IKEv2 uses Direct Routing "
                  "(the VPN servers hold the VPN VIP on their loopback and could not reach NPS at it). With NAT, "
                  "blank means the VPN VIP.")
    nps_servers = forms.CharField(label="NPS servers", required=False, widget=forms.Textarea(attrs={"rows": 2}),
                                  help_text="Optional: Network Policy Servers for RADIUS (1812/1813 UDP, SNAT).")
    radius_secret = forms.CharField(label="RADIUS shared secret", required=False, max_length=aovpn.SECRET_MAX,
                                    widget=forms.PasswordInput(render_value=True),
                                    help_text="The health check's secret; add the load balancer as a RADIUS "
                                              "client on each NPS with this secret.")

    def clean_vpn_servers(self):
        return _addresses(self.cleaned_data["vpn_servers"])

    def clean_nps_servers(self):
        return _addresses(self.cleaned_data.get("nps_servers", ""))

    def request(self) -> aovpn.AovpnRequest:
        d = self.cleaned_data
        return aovpn.AovpnRequest(vip=d["vip"], vpn_servers=d["vpn_servers"], ikev2_method=d["ikev2_method"],
                                  sstp_method=d["sstp_method"], nps_vip=d.get("nps_vip") or "",
                                  nps_servers=d.get("nps_servers") or [], radius_secret=d.get("radius_secret", ""),
                                  label_prefix=d["label_prefix"])

    def clean(self):
        data = super().clean()
        if not self.errors:
            for field, texts in aovpn.request_errors(self.request()).items():
                for text in texts:
                    self.add_error(field if field in self.fields else None, text)
        return data


class UserForm(GatedFormMixin, forms.Form):
    username = forms.RegexField(regex=r"^[\w.@+-]+$", max_length=150,
                                help_text="Letters, digits and @ . + - _ only.")
    email = forms.EmailField(required=False)
    role = forms.ChoiceField(choices=ROLE_CHOICES, widget=forms.RadioSelect,
                             help_text="Admin: everything. Operator: online/drain/halt and apply. "
                                       "Read-only: sees everything, changes nothing.")
    password = forms.CharField(widget=forms.PasswordInput, required=False,
                               help_text="At least 10 characters. Leave blank to keep the current password.")
    is_active = forms.BooleanField(label="Active", required=False, initial=True,
                                   help_text="An inactive user cannot log in or use API tokens.")

    def __init__(self, *args, instance=None, **kwargs):
        self.instance = instance
        super().__init__(*args, **kwargs)
        if instance is None:
            self.fields["password"].help_text = "At least 10 characters (none for a service account)."
            self.fields["service_account"] = forms.BooleanField(
                label="Service account", required=False,
                help_text="For API tokens only (monitoring, automation): no password, cannot log in.")
        else:
            self.fields["username"].disabled = True

    def clean(self):
        data = super().clean()
        if self.instance is None:
            if data.get("service_account") and data.get("password"):
                self.add_error("password", "A service account has no password.")
            elif not data.get("service_account") and not data.get("password") and "password" not in self.errors:
                self.add_error("password", "A new user needs a password.")
        return data

    def clean_username(self):
        name = self.cleaned_data["username"]
        others = get_user_model().objects.filter(username=name)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        if others.exists():
            raise forms.ValidationError("A user with this name already exists.")
        return name

    def clean_password(self):
        password = self.cleaned_data.get("password")
        if password:
            password_validation.validate_password(password, self.instance)
        return password


class TokenForm(GatedFormMixin, forms.Form):
    name = forms.CharField(max_length=100, help_text="What this token is for, e.g. 'ansible' or 'monitoring'.")
    scopes = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple, required=False,
        help_text="What the token may do; never more than its owner's role. None ticked: all the role allows.")
    expires_at = UtcDateTimeField(label="Expires", required=False,
                                     widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
                                     help_text="Optional, in the future. Blank: never expires (revoke it when no "
                                               "longer needed).")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        allowed = scopes_of(user)
        self.fields["scopes"].choices = [(s, SCOPE_LABELS[s]) for s in SCOPES if s in allowed]
        if role_of(user) == ADMIN:
            self.fields["owner"] = forms.ModelChoiceField(
                queryset=get_user_model().objects.filter(is_active=True).order_by("username"), required=False,
                label="For user", help_text="Blank: for you. A service account (a user without a password) "
                                            "is meant for tokens only.")


class RestoreForm(GatedFormMixin, forms.Form):
    bundle = forms.FileField(label="Backup file", help_text="A Fulcrum configuration bundle (.json) downloaded "
                                                            "from this page.")


class OfferForm(GatedFormMixin, forms.Form):
    """What pairing with another appliance needs from the admin (HA pair, active-active member)."""

    scheme = forms.ChoiceField(choices=[("https", "https"), ("http", "http (unencrypted: test setups only)")],
                               initial="https")
    fingerprint = forms.CharField(
        label="Certificate fingerprint", required=False, max_length=120,
        help_text="HTTPS: leave blank at first; the other appliance's SHA-256 fingerprint is then shown here. "
                  "Compare it with the one on that appliance before going on (retype the password).")
    my_port = forms.IntegerField(label="This appliance's port", initial=443, min_value=1, max_value=65535,
                                 required=False, help_text="Where the other appliance reaches this one's API "
                                                           "(blank: 443).")
    username = forms.CharField(required=False, help_text="An admin on the other appliance (or use a pairing "
                                                         "token).")
    password = forms.CharField(required=False, widget=forms.PasswordInput)
    token = forms.CharField(label="Pairing token", required=False,
                            help_text="Made on the other appliance under its HA page / "
                                      "POST /api/v1/ha/pairing-token/.")

    def clean(self):
        data = super().clean()
        if not data.get("token") and not (data.get("username") and data.get("password")):
            raise forms.ValidationError("Give the other appliance's admin username and password, or a pairing "
                                        "token.")
        if not data.get("my_port"):
            data["my_port"] = 443
        return data


class PairForm(OfferForm):
    """Pair with a second, unconfigured appliance, as the vendor appliances do it."""

    field_order = ["peer_address", "peer_port", "scheme", "fingerprint", "my_port", "role"]
    peer_address = forms.GenericIPAddressField(label="Peer address",
                                               help_text="The other appliance's management address.")
    peer_port = forms.IntegerField(label="Peer port", initial=443, min_value=1, max_value=65535)
    role = forms.ChoiceField(choices=[("master", "This node is the master"), ("backup", "This node is the backup")],
                             initial="master")


class MemberJoinForm(OfferForm):
    """Join an unconfigured appliance to the active-active cluster edited here."""

    field_order = ["address", "port"]
    address = forms.GenericIPAddressField(help_text="The new member's management address (its API).")
    port = forms.IntegerField(initial=443, min_value=1, max_value=65535)
