"""Names as keys: exact label filters with lookups, unknown parameters and fields refused, services
named by label, and an upsert by label."""

from __future__ import annotations

import pytest

from tests.conftest import error_fields

V1 = "/api/v1"
SERVICE = {"vip": "192.0.2.10", "ports": "443", "protocol": "tcp", "method": "snat"}


@pytest.mark.django_db
def test_label_is_exact_and_lookups_are_explicit(api, make_service):
    make_service(label="AOVPN-SSTP")
    make_service(label="AOVPN-SSTP-old")
    make_service(label="web")

    def labels(query):
        response = api.get(f"{V1}/virtual-services/?{query}")
        assert response.status_code == 200, response.content
        return sorted(s["label"] for s in response.json()["results"])

    assert labels("label=AOVPN-SSTP") == ["AOVPN-SSTP"]
    assert labels("label=aovpn-sstp") == []
    assert labels("label__ie=aovpn-sstp") == ["AOVPN-SSTP"]
    assert labels("label__ic=sstp") == ["AOVPN-SSTP", "AOVPN-SSTP-old"]
    assert labels("label__n=web") == ["AOVPN-SSTP", "AOVPN-SSTP-old"]
    assert labels("label__nic=sstp") == ["web"]
    assert labels("label__isw=aovpn&label__iew=old") == ["AOVPN-SSTP-old"]


@pytest.mark.django_db
def test_real_servers_filter_by_their_service_label(api, make_service):
    make_service(label="AOVPN-SSTP", servers=[{"label": "vpn1", "address": "198.51.100.11"}])
    make_service(label="other", servers=[{"label": "vpn1", "address": "198.51.100.11"}])
    found = api.get(f"{V1}/real-servers/?service_label=AOVPN-SSTP").json()["results"]
    assert [(s["service_label"], s["label"]) for s in found] == [("AOVPN-SSTP", "vpn1")]


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["virtual-services/?lable=web", "real-servers/?page=1&colour=red",
                                 "floating-ips/?addres=192.0.2.1", "changes/?whatever=1"])
def test_unknown_query_parameters_are_400_naming_them(api, make_service, url):
    make_service()
    response = api.get(f"{V1}/{url}")
    assert response.status_code == 400
    unknown = url.split("?")[1].split("&")[-1].split("=")[0]
    assert "Unknown query parameter" in error_fields(response)[unknown][0]


@pytest.mark.django_db
def test_known_query_parameters_still_work(api, make_service):
    make_service(label="web")
    assert api.get(f"{V1}/virtual-services/?search=web&ordering=label&page=1&page_size=5&format=json"
                   ).status_code == 200


@pytest.mark.django_db
def test_unknown_body_fields_are_400_naming_them(api, make_service):
    svc = make_service(servers=[{}])
    rs = svc.real_servers.get()
    assert "wieght" in error_fields(api.patch(f"{V1}/real-servers/{rs.pk}/", {"wieght": 5}, format="json"))
    created = api.post(f"{V1}/virtual-services/", {"label": "x", **SERVICE, "colour": "red"}, format="json")
    assert created.status_code == 400 and "colour" in error_fields(created)
    assert "bogus" in error_fields(api.post(f"{V1}/templates/aovpn/", {
        "vip": "203.0.113.10", "vpn_servers": ["198.51.100.11"], "bogus": 1}, format="json"))
    # A GET body sent back with PUT is accepted: read-only fields are known fields.
    body = api.get(f"{V1}/virtual-services/{svc.pk}/").json()
    assert api.put(f"{V1}/virtual-services/{svc.pk}/", body, format="json").status_code == 200


@pytest.mark.django_db
def test_a_real_server_names_its_service_by_label(api, make_service):
    svc = make_service(label="AOVPN-SSTP")
    created = api.post(f"{V1}/real-servers/", {"service_label": "AOVPN-SSTP", "label": "vpn1",
                                               "address": "198.51.100.11"}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["service"] == svc.pk
    assert "service_label" in error_fields(api.post(f"{V1}/real-servers/", {
        "service_label": "no-such-service", "label": "vpn2", "address": "198.51.100.12"}, format="json"))
    other = make_service(label="other")
    assert "service_label" in error_fields(api.post(f"{V1}/real-servers/", {
        "service": other.pk, "service_label": "AOVPN-SSTP", "label": "vpn3", "address": "198.51.100.13"},
        format="json"))
    assert "service" in error_fields(api.post(f"{V1}/real-servers/", {"label": "vpn4", "address": "198.51.100.14"},
                                              format="json"))


@pytest.mark.django_db
def test_upsert_by_label_creates_then_replaces(api, readonly):
    from virtualservices.models import VirtualService

    url = f"{V1}/virtual-services/by-label/AOVPN-SSTP/"
    first = api.put(url, SERVICE, format="json")
    assert first.status_code == 201 and first.json()["label"] == "AOVPN-SSTP" and first["ETag"] == '"1"'
    again = api.put(url, SERVICE, format="json")
    assert again.status_code == 200 and again["ETag"] == '"1"'  # nothing changed: same version
    changed = api.put(url, {**SERVICE, "description": "SSTP"}, format="json", HTTP_IF_MATCH='"1"')
    assert changed.status_code == 200 and changed.json()["description"] == "SSTP" and changed["ETag"] == '"2"'
    assert api.put(url, SERVICE, format="json", HTTP_IF_MATCH='"1"').status_code == 412
    assert VirtualService.objects.filter(label="AOVPN-SSTP").count() == 1
    assert "label" in error_fields(api.put(url, {**SERVICE, "label": "other"}, format="json"))


@pytest.mark.django_db
def test_the_api_root_lists_every_resource(api):
    root = api.get(f"{V1}/")
    assert root.status_code == 200
    for name in ("virtual-services", "real-servers", "floating-ips", "changes", "cluster", "config",
                 "templates/aovpn", "apply", "status", "drift", "ha"):
        assert root.json()[name].startswith("http://testserver/api/v1/"), name


@pytest.mark.django_db
def test_brief_and_limit_offset_and_the_stated_page_size(api, make_service):
    for n in range(5):
        make_service(label=f"svc{n}")
    brief = api.get(f"{V1}/virtual-services/?brief=1&ordering=label").json()
    assert brief["results"][0] == {"id": brief["results"][0]["id"], "label": "svc0", "version": 1}
    page = api.get(f"{V1}/virtual-services/?limit=2&offset=3&ordering=label").json()
    assert [s["label"] for s in page["results"]] == ["svc3", "svc4"] and page["count"] == 5
    assert page["page_size"] == 2 and "offset=1" in page["previous"]
    capped = api.get(f"{V1}/virtual-services/?page_size=100000").json()
    assert capped["page_size"] == 1000  # capped, and it says so
    assert api.get(f"{V1}/virtual-services/?limit=100000").json()["page_size"] == 1000
