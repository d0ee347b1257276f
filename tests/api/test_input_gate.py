"""The one input gate: the same value is refused the same way on every path (API, WebUI form, bundle
import and preview, HA sync, CLI), with the field named, never a 500."""

from __future__ import annotations

import io
import json

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from appliance.inputgate import GateError, clean_text, json_depth_error, parse_decimal, parse_integer
from cluster.bundle import export_bundle, import_bundle, preview
from realservers.models import RealServer
from tests.conftest import error_fields
from virtualservices.models import VirtualService

# (field on a real server, raw value, words the message must contain)
BAD_SERVER_VALUES = [
    ("label", "web\nBcc: x@example.com", "line break"),
    ("label", "web\x00", "NUL"),
    ("label", "web\u2028", "U+2028"),
    ("port", "４４３", "digits 0-9"),
    ("weight", "1_000", "digits 0-9"),
    ("weight", "²", "digits 0-9"),
]


# --------------------------------------------------------------------------- the pure rules


def test_text_is_normalised_and_stripped():
    assert clean_text("  web  ") == "web"
    assert clean_text("Cafe\u0301") == "Caf\u00e9"  # NFC: one spelling per name
    assert clean_text("a\r\nb", multiline=True) == "a\nb"
    for bad in ("a\rb", "a\nb", "a\x00", "a\x1b[31m", "a\x7f", "a\x85", "a\ud800"):
        with pytest.raises(GateError):
            clean_text(bad)


def test_numbers_are_ascii_decimal_only():
    assert parse_integer("443") == 443 and parse_integer(" 443 ") == 443 and parse_integer(-3) == -3
    assert parse_decimal("0.5") == 0.5 and parse_decimal("1e1") == 10.0
    for bad in ("４４３", "1_000", "²", "0x10", "", "1.5", True, None, [1]):
        with pytest.raises(GateError):
            parse_integer(bad)
    for bad in ("nan", "inf", float("nan"), "１.5", "1_0.0", 10**400, "1e400"):
        with pytest.raises(GateError):
            parse_decimal(bad)


def test_depth_is_measured_without_recursion():
    deep = []
    for _ in range(100_000):
        deep = [deep]
    assert "deeper than" in json_depth_error(deep)
    assert json_depth_error({"a": [{"b": 1}]}) is None


# --------------------------------------------------------------------------- every path, same answer


@pytest.fixture
def service(make_service):
    return make_service(label="web", vip="192.0.2.10", ports="443", method="nat")


@pytest.mark.parametrize(("field", "value", "words"), BAD_SERVER_VALUES)
def test_api_refuses_with_the_field_named(api, service, field, value, words):
    body = {"label": "rs", "address": "10.0.0.1", field: value}
    r = api.post(f"/api/v1/virtual-services/{service.pk}/real-servers/", body, format="json")
    assert r.status_code == 400, r.content
    assert words in " ".join(error_fields(r)[field])
    assert not RealServer.objects.exists()


@pytest.mark.parametrize(("field", "value", "words"), BAD_SERVER_VALUES)
def test_webui_form_refuses_with_the_field_named(admin_session, service, field, value, words):
    data = {"label": "rs", "address": "10.0.0.1", "weight": "100", "min_conns": "0", "max_conns": "0",
            "admin_state": "online", field: value}
    r = admin_session.post(f"/services/{service.pk}/servers/add/", data, format="multipart")  # a browser's form
    assert r.status_code == 200  # the form again, with the error
    assert words in " ".join(r.context["form"].errors[field])
    assert not RealServer.objects.exists()


def _bundle_with_server(**server):
    bundle = export_bundle()
    bundle["virtual_services"][0]["real_servers"] = [{"label": "rs", "address": "10.0.0.1", **server}]
    return bundle


@pytest.mark.parametrize(("field", "value", "words"), BAD_SERVER_VALUES)
def test_bundle_import_preview_and_cli_refuse_with_the_field_named(service, tmp_path, field, value, words):
    bundle = _bundle_with_server(**{field: value})
    before = export_bundle()
    for load in (preview, import_bundle):
        with pytest.raises(ValidationError) as exc:
            load(bundle)
        messages = " ".join(m for path, ms in exc.value.message_dict.items() if path.endswith(field) for m in ms)
        assert words in messages, exc.value.message_dict
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    with pytest.raises(CommandError, match=field):
        call_command("loadconfig", str(path), stdout=io.StringIO())
    assert {k: v for k, v in export_bundle().items() if k != "exported_at"} == \
        {k: v for k, v in before.items() if k != "exported_at"}


def test_ha_sync_refuses_the_same_values(service):
    from cluster.bundle import BundleError
    from ha.models import Peer
    from ha.sync import receive_config

    peer = Peer.objects.create(address="192.0.2.200", secret="s" * 32, node_name="a", peer_name="b")
    with pytest.raises(BundleError) as exc:
        receive_config(peer, {"version": 1, "bundle": _bundle_with_server(port="４４３")})
    assert any(path.endswith("port") for path in exc.value.message_dict)


def test_http_check_request_and_virtual_host_refuse_cr_lf(api):
    body = {"label": "web", "vip": "192.0.2.10", "ports": "80", "method": "nat", "check_type": "http",
            "check_request": "/health HTTP/1.1\r\nX-Injected: 1", "check_vhost": "a.example\r\nX: 1"}
    r = api.post("/api/v1/virtual-services/", body, format="json")
    assert r.status_code == 400
    assert set(error_fields(r)) >= {"check_request", "check_vhost"}
    assert not VirtualService.objects.exists()


def test_service_ports_refuse_non_ascii_digits(api):
    r = api.post("/api/v1/virtual-services/", {"label": "web", "vip": "192.0.2.10", "ports": "４４３"},
                 format="json")
    assert r.status_code == 400 and "ports" in error_fields(r)


def test_multiline_description_keeps_its_lines(api):
    r = api.post("/api/v1/virtual-services/", {"label": "web", "vip": "192.0.2.10", "ports": "80",
                                                "description": "front door\nsecond line"}, format="json")
    assert r.status_code == 201, r.content
    assert VirtualService.objects.get().description == "front door\nsecond line"


# --------------------------------------------------------------------------- bodies


def test_deep_json_body_is_a_400_not_a_500(api):
    body = "[" * 5000 + "]" * 5000
    r = api.post("/api/v1/virtual-services/", body, content_type="application/json")
    assert r.status_code == 400 and "deeper" in r.json()["detail"]
    body = "[" * 200_000 + "]" * 200_000  # past Python's recursion limit
    r = api.post("/api/v1/virtual-services/", body, content_type="application/json")
    assert r.status_code == 400


def test_huge_json_body_is_a_413(api):
    from appliance.inputgate import MAX_JSON_BYTES

    body = json.dumps({"label": "x" * MAX_JSON_BYTES})
    r = api.post("/api/v1/virtual-services/", body, content_type="application/json")
    assert r.status_code == 413


def test_non_object_body_names_the_problem(api):
    r = api.post("/api/v1/virtual-services/", [1, 2], format="json")
    assert r.status_code == 400 and "JSON object" in json.dumps(r.json())


def test_checklists_page_ignores_odd_digits(admin_session, service):
    r = admin_session.get(f"/services/checklists/?ids=²,{service.pk}")
    assert r.status_code == 200


def test_http_check_patterns_are_validated_with_re2_at_save_time(api):
    body = {"label": "web", "vip": "192.0.2.10", "ports": "80", "method": "nat", "check_type": "http",
            "check_response": "(?=ok)ready"}
    r = api.post("/api/v1/virtual-services/", body, format="json")
    assert r.status_code == 400 and "RE2" in error_fields(r)["check_response"][0]
    body["check_response"] = "(x+x+)+y"  # valid in RE2: matched in linear time
    assert api.post("/api/v1/virtual-services/", body, format="json").status_code == 201


def test_cli_aovpn_refuses_a_control_character_with_the_field_named(db):
    with pytest.raises(CommandError, match="radius secret|check_secret|Must not contain"):
        call_command("aovpn", "--vip", "192.0.2.30", "--nps-vip", "192.0.2.31", "--vpn-server", "10.0.0.1",
                     "--nps-server", "10.0.0.9",
                     "--radius-secret", "s3cret\x1b[2J", stdout=io.StringIO())
    assert not VirtualService.objects.exists()
