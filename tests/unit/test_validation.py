"""Every domain rule of virtualservices/validation.py, through the REST API (and a few through the UI form).

Each test asserts that the error is keyed by the field it is about and that its message says what to do.
"""

from __future__ import annotations

import pytest

from realservers.models import RealServer
from tests.conftest import error_fields
from virtualservices.models import VirtualService

VS_URL = "/api/v1/virtual-services/"
RS_URL = "/api/v1/real-servers/"


def nested_url(svc):
    return f"{VS_URL}{svc.pk}/real-servers/"


def vs_body(**fields):
    body = {"label": "web", "vip": "192.0.2.10", "ports": "80", "protocol": "tcp", "method": "nat"}
    body.update(fields)
    return body


def post_vs(api, **fields):
    return api.post(VS_URL, vs_body(**fields), format="json")


def assert_error(response, field, *fragments):
    assert response.status_code == 400, (response.status_code, response.content)
    data = error_fields(response)
    assert field in data, f"expected an error on {field!r}, got {data}"
    text = " ".join(str(m) for m in data[field])
    for fragment in fragments:
        assert fragment.lower() in text.lower(), f"{fragment!r} not in {text!r}"
    return text


def assert_conflict(response, field, *fragments):
    """A uniqueness rule: 409, the field's message and the id of the object already there."""
    assert response.status_code == 409, (response.status_code, response.content)
    assert isinstance(response.json()["existing_id"], int), response.json()
    response.status_code = 400  # the rest as for any refusal
    return assert_error(response, field, *fragments)


def assert_created(response):
    assert response.status_code == 201, (response.status_code, response.content)
    return response.json()


pytestmark = pytest.mark.django_db


# ---------------------------------------------------------------- ports
@pytest.mark.parametrize("ports", ["80", "500,4500", "8000-8010", "80,443,8000-8010", " 80 , 443 "])
def test_port_syntax_accepted(api, ports):
    assert_created(post_vs(api, ports=ports))


@pytest.mark.parametrize("ports, fragment", [
    ("http", "is not a port"),
    ("80,,81", "empty entry"),
    ("80-", "is not a port"),
    ("-80", "is not a port"),
    ("0", "1 to 65535"),
    ("65536", "1 to 65535"),
    ("1-65536", "1 to 65535"),
    ("8010-8000", "low to high"),
    ("80,80", "overlap"),
    ("8000-8010,8005", "overlap"),
    ("8000-8010,8010-8020", "overlap"),
])
def test_port_syntax_rejected(api, ports, fragment):
    assert_error(post_vs(api, ports=ports), "ports", fragment)
    assert not VirtualService.objects.exists()


@pytest.mark.parametrize("protocol", ["tcp", "udp", "tcpudp", "ops"])
def test_ports_required_unless_firewall_mark(api, protocol):
    assert_error(post_vs(api, ports="", protocol=protocol), "ports", "enter a port")


def test_ports_must_be_blank_for_firewall_mark(api):
    assert_error(post_vs(api, ports="80", protocol="fwm", fwmark=7, check_port=80), "ports", "leave ports blank")


def test_firewall_mark_required_for_protocol_fwm(api):
    assert_error(post_vs(api, ports="", protocol="fwm", check_port=80), "fwmark", "firewall mark", "needs")


def test_firewall_mark_service_accepted(api):
    data = assert_created(post_vs(api, ports="", protocol="fwm", fwmark=7, check_port=80))
    assert data["fwmark"] == 7


@pytest.mark.parametrize("fwmark", [0, -1, 2**32])
def test_firewall_mark_range(api, fwmark):
    assert_error(post_vs(api, ports="", protocol="fwm", fwmark=fwmark, check_port=80), "fwmark")


# ---------------------------------------------------------------- automatic firewall marks
def test_multi_port_and_tcp_udp_services_get_distinct_marks(api):
    a = assert_created(post_vs(api, label="ike", ports="500,4500", protocol="udp"))
    b = assert_created(post_vs(api, label="range", vip="192.0.2.11", ports="8000-8010"))
    c = assert_created(post_vs(api, label="dns", vip="192.0.2.12", ports="53", protocol="tcpudp"))
    d = assert_created(post_vs(api, label="single", vip="192.0.2.13", ports="443"))
    marks = [a["fwmark"], b["fwmark"], c["fwmark"]]
    assert all(isinstance(m, int) and m > 0 for m in marks)
    assert len(set(marks)) == 3
    assert d["fwmark"] is None


def test_automatic_mark_avoids_manual_marks(api):
    assert_created(post_vs(api, label="manual", ports="", protocol="fwm", fwmark=41, check_port=80))
    auto = assert_created(post_vs(api, label="auto", vip="192.0.2.11", ports="500,4500", protocol="udp"))
    assert auto["fwmark"] not in (None, 41)


def test_automatic_mark_cleared_when_service_becomes_single_port(api):
    svc = assert_created(post_vs(api, ports="500,4500", protocol="udp"))
    assert svc["fwmark"]
    r = api.patch(f"{VS_URL}{svc['id']}/", {"ports": "500"}, format="json")
    assert r.status_code == 200, r.content
    assert r.json()["fwmark"] is None
    assert VirtualService.objects.get(pk=svc["id"]).fwmark is None


def test_automatic_mark_kept_on_unrelated_edit(api):
    svc = assert_created(post_vs(api, ports="500,4500", protocol="udp"))
    r = api.patch(f"{VS_URL}{svc['id']}/", {"description": "IKE"}, format="json")
    assert r.status_code == 200 and r.json()["fwmark"] == svc["fwmark"]


def test_manual_fwmark_unique(api):
    assert_created(post_vs(api, label="a", ports="", protocol="fwm", fwmark=7, check_port=80))
    r = post_vs(api, label="b", vip="192.0.2.11", ports="", protocol="fwm", fwmark=7, check_port=80)
    assert_conflict(r, "fwmark", "7")


def test_manual_fwmark_cannot_take_an_automatic_one(api):
    auto = assert_created(post_vs(api, label="auto", ports="500,4500", protocol="udp"))
    r = post_vs(api, label="b", vip="192.0.2.11", ports="", protocol="fwm", fwmark=auto["fwmark"], check_port=80)
    assert_conflict(r, "fwmark")


# ---------------------------------------------------------------- port translation (DR / TUN)
@pytest.mark.parametrize("method", ["dr", "tun"])
def test_dr_and_tun_reject_port_translation(api, make_service, method):
    svc = make_service(method=method, ports="80")
    r = api.post(nested_url(svc), {"label": "rs1", "address": "10.0.0.1", "port": 8080}, format="json")
    text = assert_error(r, "port", "cannot translate ports", "80")
    assert "NAT or SNAT" in text
    assert not RealServer.objects.exists()


@pytest.mark.parametrize("method", ["dr", "tun"])
def test_dr_and_tun_accept_same_or_blank_port(api, make_service, method):
    svc = make_service(method=method, ports="80")
    assert_created(api.post(nested_url(svc), {"label": "a", "address": "10.0.0.1", "port": 80}, format="json"))
    assert_created(api.post(nested_url(svc), {"label": "b", "address": "10.0.0.2"}, format="json"))


def test_multi_port_dr_rejects_any_real_server_port(api, make_service):
    svc = make_service(method="dr", ports="500,4500", protocol="udp")
    r = api.post(nested_url(svc), {"label": "a", "address": "10.0.0.1", "port": 500}, format="json")
    assert_error(r, "port", "cannot translate ports", "blank")


@pytest.mark.parametrize("method", ["nat", "snat"])
def test_nat_and_snat_allow_port_translation(api, make_service, method):
    svc = make_service(method=method, ports="80")
    data = assert_created(api.post(nested_url(svc), {"label": "a", "address": "10.0.0.1", "port": 8080},
                                   format="json"))
    assert data["port"] == 8080


def test_switching_to_dr_with_translating_servers_refused_on_method(api, make_service):
    svc = make_service(method="nat", ports="80", servers=[{"port": 8080}])
    r = api.patch(f"{VS_URL}{svc.pk}/", {"method": "dr"}, format="json")
    assert_error(r, "method", "rs1", "cannot translate ports")
    assert VirtualService.objects.get(pk=svc.pk).method == "nat"


def test_flat_real_server_endpoint_applies_the_same_rule(api, make_service):
    svc = make_service(method="dr", ports="443")
    r = api.post(RS_URL, {"service": svc.pk, "label": "a", "address": "10.0.0.1", "port": 8443}, format="json")
    assert_error(r, "port", "cannot translate ports")


# ---------------------------------------------------------------- address families
def test_real_server_family_must_match_vip(api, make_service):
    svc = make_service(vip="192.0.2.10")
    r = api.post(nested_url(svc), {"label": "a", "address": "2001:db8::1"}, format="json")
    assert_error(r, "address", "IPv4", "VIP")


def test_ipv6_service_with_ipv6_servers(api):
    svc = assert_created(post_vs(api, vip="2001:db8::10"))
    r = api.post(f"{VS_URL}{svc['id']}/real-servers/", {"label": "a", "address": "2001:db8::1"}, format="json")
    assert_created(r)
    r = api.post(f"{VS_URL}{svc['id']}/real-servers/", {"label": "b", "address": "10.0.0.1"}, format="json")
    assert_error(r, "address", "IPv6")


def test_fallback_family_must_match_vip(api):
    assert_error(post_vs(api, fallback_address="2001:db8::1", fallback_port=80), "fallback_address", "IPv4")


def test_snat_source_family_must_match_vip(api):
    assert_error(post_vs(api, method="snat", snat_source="2001:db8::1"), "snat_source", "IPv4")


def test_snat_source_only_with_snat(api):
    assert_error(post_vs(api, method="nat", snat_source="192.0.2.99"), "snat_source", "SNAT")


def test_fallback_port_needs_address(api):
    assert_error(post_vs(api, fallback_port=80), "fallback_port", "fallback address")


def test_vip_change_with_real_servers_of_other_family_refused(api, make_service):
    svc = make_service(vip="192.0.2.10", servers=[{"address": "10.0.0.1"}])
    r = api.patch(f"{VS_URL}{svc.pk}/", {"vip": "2001:db8::10"}, format="json")
    assert_error(r, "vip", "rs1", "address family")


@pytest.mark.parametrize("vip", ["192.0.2.300", "not-an-address", ""])
def test_vip_must_be_an_address(api, vip):
    assert_error(post_vs(api, vip=vip), "vip")


# ---------------------------------------------------------------- overlap between services
def test_same_vip_port_protocol_refused(api):
    assert_created(post_vs(api, label="a"))
    assert_conflict(post_vs(api, label="b"), "ports", "overlap", "'a'")


def test_tcp_and_udp_on_same_port_fine(api):
    assert_created(post_vs(api, label="a", ports="53", protocol="tcp"))
    assert_created(post_vs(api, label="b", ports="53", protocol="udp"))


@pytest.mark.parametrize("protocol", ["tcp", "udp", "ops"])
def test_tcp_udp_overlaps_both(api, protocol):
    assert_created(post_vs(api, label="a", ports="53", protocol="tcpudp"))
    assert_conflict(post_vs(api, label="b", ports="53", protocol=protocol), "ports", "overlap")


def test_ranges_overlap(api):
    assert_created(post_vs(api, label="a", ports="8000-8010"))
    assert_conflict(post_vs(api, label="b", ports="443,8010"), "ports", "overlap", "'a'")
    assert_created(post_vs(api, label="c", ports="8011-8020"))


def test_other_vip_no_overlap(api):
    assert_created(post_vs(api, label="a"))
    assert_created(post_vs(api, label="b", vip="192.0.2.11"))


def test_editing_a_service_does_not_collide_with_itself(api):
    svc = assert_created(post_vs(api, label="a", ports="8000-8010"))
    r = api.patch(f"{VS_URL}{svc['id']}/", {"ports": "8000-8011"}, format="json")
    assert r.status_code == 200, r.content


def test_label_unique(api):
    assert_created(post_vs(api, label="a"))
    assert_conflict(post_vs(api, label="a", vip="192.0.2.11"), "label")


# ---------------------------------------------------------------- IKEv2 on SNAT: a warning
def test_ikev2_on_snat_is_a_warning_not_an_error(api):
    data = assert_created(post_vs(api, ports="500,4500", protocol="udp", method="snat"))
    assert "method" in data["warnings"]
    assert "IKEv2" in data["warnings"]["method"][0] and "DR or NAT" in data["warnings"]["method"][0]


@pytest.mark.parametrize("method", ["dr", "nat"])
def test_ikev2_on_transparent_method_no_warning(api, method):
    data = assert_created(post_vs(api, ports="500,4500", protocol="udp", method=method))
    assert "method" not in data["warnings"]


def test_tcp_443_on_snat_no_ike_warning(api):
    data = assert_created(post_vs(api, ports="443", protocol="tcp", method="snat"))
    assert "method" not in data["warnings"]


# ---------------------------------------------------------------- persistence
@pytest.mark.parametrize("vip, netmask", [
    ("192.0.2.10", "255.255.255.0"), ("192.0.2.10", "/24"), ("192.0.2.10", "24"), ("192.0.2.10", ""),
    ("2001:db8::10", "64"), ("2001:db8::10", "/48"),
])
def test_persistence_netmask_valid(api, vip, netmask):
    assert_created(post_vs(api, vip=vip, persistent=True, persistence_netmask=netmask))


@pytest.mark.parametrize("vip, netmask, hint", [
    ("192.0.2.10", "255.0.255.0", "IPv4"), ("192.0.2.10", "/33", "IPv4"), ("192.0.2.10", "abc", "IPv4"),
    ("2001:db8::10", "255.255.255.0", "prefix length"), ("2001:db8::10", "/129", "IPv6"),
])
def test_persistence_netmask_invalid(api, vip, netmask, hint):
    assert_error(post_vs(api, vip=vip, persistent=True, persistence_netmask=netmask), "persistence_netmask", hint)


@pytest.mark.parametrize("timeout", [0, 31536001])
def test_persistence_timeout_range(api, timeout):
    assert_error(post_vs(api, persistent=True, persistence_timeout=timeout), "persistence_timeout")


# ---------------------------------------------------------------- health checks
def test_radius_check_needs_secret(api):
    assert_error(post_vs(api, protocol="udp", ports="1812", check_type="radius"), "check_secret", "secret")


def test_radius_secret_is_write_only(api):
    data = assert_created(post_vs(api, protocol="udp", ports="1812", check_type="radius", check_secret="s3cret"))
    assert "check_secret" not in data and data["check_secret_set"] is True


def test_external_check_needs_script(api):
    assert_error(post_vs(api, check_type="external"), "check_script", "script")


def test_external_script_is_a_file_name(api):
    assert_error(post_vs(api, check_type="external", check_script="../etc/passwd"), "check_script", "file name")


def test_dns_check_needs_name(api):
    assert_error(post_vs(api, protocol="udp", ports="53", check_type="dns"), "check_request", "name")


@pytest.mark.parametrize("kind", ["http", "https"])
def test_http_path_starts_with_slash(api, kind):
    assert_error(post_vs(api, check_type=kind, check_request="index.html"), "check_request", "'/'")
    assert_created(post_vs(api, check_type=kind, check_request="/index.html"))


def test_fwm_service_check_needs_port(api):
    assert_error(post_vs(api, ports="", protocol="fwm", fwmark=9, check_type="tcp"), "check_port", "port")


@pytest.mark.parametrize("kind", ["none", "icmp"])
def test_fwm_service_portless_checks_fine(api, kind):
    assert_created(post_vs(api, ports="", protocol="fwm", fwmark=9, check_type=kind))


@pytest.mark.parametrize("field, value", [
    ("check_port", 0), ("check_port", 65536), ("check_interval", 0), ("check_timeout", 0),
    ("check_rise", 0), ("check_fall", 101), ("check_status", 99), ("check_status", 600),
])
def test_check_ranges(api, field, value):
    assert_error(post_vs(api, **{field: value}), field)


def test_slow_detection_is_a_warning(api):
    data = assert_created(post_vs(api, check_interval=1, check_fall=2, check_timeout=5))
    assert "check_timeout" in data["warnings"]


# ---------------------------------------------------------------- real servers
@pytest.mark.parametrize("weight", [0, 1, 100, 65535])
def test_weight_range_accepted(api, make_service, weight):
    svc = make_service()
    assert_created(api.post(nested_url(svc), {"label": "a", "address": "10.0.0.1", "weight": weight}, format="json"))


@pytest.mark.parametrize("weight", [-1, 65536, 10**12])
def test_weight_range_refused(api, make_service, weight):
    svc = make_service()
    r = api.post(nested_url(svc), {"label": "a", "address": "10.0.0.1", "weight": weight}, format="json")
    assert_error(r, "weight")


@pytest.mark.parametrize("port", [0, 65536])
def test_real_server_port_range(api, make_service, port):
    svc = make_service()
    assert_error(api.post(nested_url(svc), {"label": "a", "address": "10.0.0.1", "port": port}, format="json"),
                 "port")


def test_thresholds_min_below_max(api, make_service):
    svc = make_service()
    r = api.post(nested_url(svc), {"label": "a", "address": "10.0.0.1", "min_conns": 100, "max_conns": 100},
                 format="json")
    assert_error(r, "min_conns", "below")
    r = api.post(nested_url(svc), {"label": "a", "address": "10.0.0.1", "min_conns": 10}, format="json")
    assert_error(r, "min_conns", "upper threshold")
    assert_created(api.post(nested_url(svc), {"label": "a", "address": "10.0.0.1", "min_conns": 10,
                                              "max_conns": 100}, format="json"))


def test_duplicate_address_port_within_service(api, make_service):
    svc = make_service(servers=[{"label": "a", "address": "10.0.0.1", "port": 8080}])
    r = api.post(nested_url(svc), {"label": "b", "address": "10.0.0.1", "port": 8080}, format="json")
    assert_conflict(r, "address", "10.0.0.1:8080", "'a'")
    assert_created(api.post(nested_url(svc), {"label": "c", "address": "10.0.0.1", "port": 8081}, format="json"))


def test_blank_port_and_the_vip_port_are_the_same_destination(api, make_service):
    # One IPVS destination twice (blank = the VIP's port 80) would make every apply fail with EEXIST.
    svc = make_service(ports="80", servers=[{"label": "a", "address": "10.0.0.1"}])
    assert_conflict(api.post(nested_url(svc), {"label": "b", "address": "10.0.0.1", "port": 80}, format="json"),
                 "address", "'a'")
    svc = make_service(ports="80", servers=[{"label": "a", "address": "10.0.0.1", "port": 80}])
    assert_conflict(api.post(nested_url(svc), {"label": "b", "address": "10.0.0.1"}, format="json"), "address", "'a'")
    multi = make_service(ports="500,4500", protocol="udp", servers=[{"label": "a", "address": "10.0.0.1"}])
    assert_created(api.post(nested_url(multi), {"label": "b", "address": "10.0.0.1", "port": 500}, format="json"))


def test_same_address_in_another_service_fine(api, make_service):
    make_service(servers=[{"label": "a", "address": "10.0.0.1"}])
    other = make_service()
    assert_created(api.post(nested_url(other), {"label": "a", "address": "10.0.0.1"}, format="json"))


def test_duplicate_label_within_service(api, make_service):
    svc = make_service(servers=[{"label": "a", "address": "10.0.0.1"}])
    r = api.post(nested_url(svc), {"label": "a", "address": "10.0.0.2"}, format="json")
    assert_conflict(r, "label", "already used by 'a'")


def test_fallback_equal_to_a_real_server_refused(api, make_service):
    svc = make_service(ports="80", servers=[{"address": "10.0.0.1"}])
    r = api.patch(f"{VS_URL}{svc.pk}/", {"fallback_address": "10.0.0.1", "fallback_port": 80}, format="json")
    assert_error(r, "fallback_address", "must not be one of the real servers")
    r = api.patch(f"{VS_URL}{svc.pk}/", {"fallback_address": "10.0.0.1", "fallback_port": 8080}, format="json")
    assert r.status_code == 200, r.content


# ---------------------------------------------------------------- the UI gives the same messages
def ui_service_data(**overrides):
    data = {
        "label": "web", "description": "", "enabled": "on", "vip": "192.0.2.10", "ports": "80",
        "protocol": "tcp", "fwmark": "", "method": "nat", "scheduler": "wlc", "persistence_timeout": "300",
        "persistence_netmask": "", "fallback_address": "", "fallback_port": "", "snat_source": "",
        "check_type": "tcp", "check_port": "", "check_interval": "1", "check_timeout": "1", "check_rise": "2",
        "check_fall": "2", "check_method": "GET", "check_request": "", "check_response": "", "check_status": "",
        "check_vhost": "", "check_secret": "", "check_script": "", "on_down": "quiesce", "alert_email": "",
    }
    data.update({k: str(v) for k, v in overrides.items()})
    return data


@pytest.mark.parametrize("overrides, field", [
    ({"ports": "8010-8000"}, "ports"),
    ({"ports": "", "protocol": "fwm", "check_port": "80"}, "fwmark"),
    ({"check_type": "radius", "protocol": "udp", "ports": "1812"}, "check_secret"),
    ({"persistence_netmask": "/33"}, "persistence_netmask"),
    ({"fallback_address": "2001:db8::1"}, "fallback_address"),
])
def test_ui_form_and_api_give_the_same_message(api, admin, client, overrides, field):
    api_text = assert_error(post_vs(api, **{k: v for k, v in overrides.items()}), field)
    client.force_login(admin)
    response = client.post("/services/add/", ui_service_data(**overrides))
    assert response.status_code == 200  # the form again, with its errors
    form = response.context["form"]
    assert " ".join(form.errors[field]) == api_text
    assert api_text.split("'")[0] in response.content.decode().replace("&#x27;", "'")
    assert not VirtualService.objects.exists()


def test_ui_form_saves_a_valid_service(admin, client):
    client.force_login(admin)
    response = client.post("/services/add/", ui_service_data(ports="500,4500", protocol="udp", method="snat"))
    assert response.status_code == 302
    svc = VirtualService.objects.get()
    assert svc.fwmark  # assigned automatically, as through the API
    follow = client.get(response["Location"])
    assert "IKEv2" in follow.content.decode()  # the warning is shown


def test_ui_real_server_form_and_api_same_port_translation_message(api, admin, client, make_service):
    svc = make_service(method="dr", ports="80")
    api_text = assert_error(api.post(nested_url(svc), {"label": "a", "address": "10.0.0.1", "port": 8080},
                                     format="json"), "port")
    client.force_login(admin)
    response = client.post(f"/services/{svc.pk}/servers/add/", {
        "label": "a", "address": "10.0.0.1", "port": "8080", "weight": "100", "min_conns": "0", "max_conns": "0",
        "admin_state": "online"})
    assert response.status_code == 200
    assert " ".join(response.context["form"].errors["port"]) == api_text


def test_ui_switch_to_dr_refused_on_method(admin, client, make_service):
    svc = make_service(method="nat", ports="80", servers=[{"port": 8080}])
    client.force_login(admin)
    response = client.post(f"/services/{svc.pk}/edit/", ui_service_data(label=svc.label, vip=svc.vip, method="dr"))
    assert response.status_code == 200
    assert "cannot translate ports" in " ".join(response.context["form"].errors["method"])


def test_ui_radius_secret_is_write_only_and_blank_keeps_it(api, admin, client):
    secret = "Radius-Shared-S3cret"
    svc = assert_created(post_vs(api, protocol="udp", ports="1812", check_type="radius", check_secret=secret))
    client.force_login(admin)
    page = client.get(f"/services/{svc['id']}/edit/")
    assert page.status_code == 200 and secret not in page.content.decode()
    fields = {"protocol": "udp", "ports": "1812", "check_type": "radius", "check_secret": "", "label": "renamed"}
    assert client.post(f"/services/{svc['id']}/edit/", ui_service_data(**fields)).status_code == 302
    stored = VirtualService.objects.get()
    assert stored.label == "renamed" and stored.check_secret == secret
    fields["check_secret"] = "New-S3cret"
    assert client.post(f"/services/{svc['id']}/edit/", ui_service_data(**fields)).status_code == 302
    assert VirtualService.objects.get().check_secret == "New-S3cret"
