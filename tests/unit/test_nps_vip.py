"""AOVPN: NPS must not share the VPN VIP when IKEv2 uses Direct Routing; any service on the VIP of a DR
service whose real servers would need to reach it gets a warning."""

import pytest
from django.core.exceptions import ValidationError

from cluster.aovpn import AovpnRequest, create_aovpn, request_errors, server_label
from virtualservices.validation import shared_dr_vip_warning

VPN = ["198.51.100.11", "198.51.100.12"]


def test_nps_on_the_vpn_vip_is_refused_with_ikev2_on_dr():
    req = AovpnRequest(vip="192.0.2.10", vpn_servers=VPN, nps_servers=["198.51.100.21"], radius_secret="s")
    assert "loopback" in request_errors(req)["nps_vip"][0]
    assert "nps_vip" in request_errors(AovpnRequest(**{**req.__dict__, "nps_vip": "192.0.2.10"}))
    assert request_errors(AovpnRequest(**{**req.__dict__, "nps_vip": "192.0.2.11"})) == {}
    assert request_errors(AovpnRequest(**{**req.__dict__, "ikev2_method": "nat"})) == {}
    assert request_errors(AovpnRequest(vip="192.0.2.10", vpn_servers=VPN)) == {}  # no NPS, no question


def test_the_rule_names_the_dr_service_and_the_stranded_servers():
    text = shared_dr_vip_warning("192.0.2.10", ["198.51.100.21"], [("AOVPN-IKEv2", VPN)])
    assert "AOVPN-IKEv2 (198.51.100.11, 198.51.100.12)" in text and "own VIP" in text
    # The DR service's own real servers are also this service's: they serve themselves locally.
    assert shared_dr_vip_warning("192.0.2.10", VPN, [("AOVPN-IKEv2", VPN)]) == ""
    assert shared_dr_vip_warning("192.0.2.10", [], []) == ""


def test_generated_labels_do_not_read_like_versions():
    assert server_label("AOVPN-IKEv2", 1) == "IKEv2-1"
    assert server_label("AOVPN-SSTP", 12) == "SSTP-12"


@pytest.mark.django_db
def test_services_on_a_dr_vip_warn_unless_they_share_its_servers():
    from realservers.models import RealServer
    from virtualservices.models import VirtualService

    created = create_aovpn(AovpnRequest(vip="192.0.2.10", vpn_servers=VPN, ikev2_method="nat",
                                        nps_servers=["198.51.100.21"], radius_secret="s"))
    by_label = {s.label: s for s in created}
    assert [rs.label for rs in by_label["AOVPN-IKEv2"].real_servers.order_by("label")] == ["IKEv2-1", "IKEv2-2"]
    assert "vip" not in by_label["AOVPN-NPS"].warnings()  # IKEv2 on NAT: nothing holds the VIP
    ike = by_label["AOVPN-IKEv2"]
    ike.method = "dr"
    ike.save()
    nps = VirtualService.objects.get(label="AOVPN-NPS")
    assert "AOVPN-IKEv2" in nps.warnings()["vip"][0]
    assert "vip" not in VirtualService.objects.get(label="AOVPN-SSTP").warnings()  # same servers: fine
    with pytest.raises(ValidationError) as exc:
        create_aovpn(AovpnRequest(vip="192.0.2.20", vpn_servers=VPN, nps_servers=["198.51.100.22"],
                                  radius_secret="s", label_prefix="B"))
    assert "nps_vip" in exc.value.message_dict
    assert not RealServer.objects.filter(service__label__startswith="B-").exists()


@pytest.mark.django_db
def test_the_cli_refuses_nps_on_the_vpn_vip_with_dr_and_says_why():
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="nps_vip: With IKEv2 on Direct Routing"):
        call_command("aovpn", "--vip", "192.0.2.10", "--vpn-server", "198.51.100.11",
                     "--nps-server", "198.51.100.21", "--radius-secret", "s")


@pytest.mark.django_db
@pytest.mark.parametrize("change,field", [
    ({"vpn_servers": [f"198.51.100.{i}" for i in range(1, 66)]}, "vpn_servers"),
    ({"vpn_servers": ["198.51.100.11", "rras1"]}, "vpn_servers"),
    ({"radius_secret": "x" * 129, "nps_vip": "192.0.2.11"}, "radius_secret"),
    ({"radius_secret": ""}, "radius_secret"),
    ({"label_prefix": "-bad"}, "label_prefix"),
    ({"label_prefix": "A" * 42}, "label_prefix"),
])
def test_the_wizard_and_the_api_refuse_the_same_input_naming_the_same_field(api, change, field):
    """One definition of the AOVPN input: the wizard's form and the API's serializer share its limits."""
    from frontend.forms import AovpnForm

    body = {"vip": "192.0.2.10", "vpn_servers": VPN, "ikev2_method": "nat", "sstp_method": "snat",
            "nps_servers": ["198.51.100.21"], "radius_secret": "s", "label_prefix": "AOVPN", **change}
    r = api.post("/api/v1/templates/aovpn/", body, format="json")
    assert r.status_code == 400 and field in str(r.json()), r.content
    form = AovpnForm({**body, "vpn_servers": "\n".join(body["vpn_servers"]),
                      "nps_servers": "\n".join(body["nps_servers"])})
    assert not form.is_valid() and field in form.errors, form.errors
    ok = {**body, **{k: v for k, v in {"vpn_servers": VPN, "radius_secret": "s", "label_prefix": "AOVPN"}.items()
                     if k in change}}
    assert api.post("/api/v1/templates/aovpn/", ok, format="json").status_code == 201
