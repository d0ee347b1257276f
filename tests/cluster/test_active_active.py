"""Active-active mode: the rules (one place, every client), the API, the AOVPN template, the FRR
configuration a render-only host would load."""

from __future__ import annotations

import pytest

from cluster.models import ACTIVE_ACTIVE, BgpNeighbour, ClusterSettings
from realservers.models import RealServer
from tests.conftest import error_fields
from virtualservices.models import VirtualService

pytestmark = pytest.mark.django_db


def _service(label="web", vip="192.0.2.10", scheduler="mh", **kw):
    return VirtualService.objects.create(label=label, vip=vip, ports="80", scheduler=scheduler, **kw)


def _go_active_active(client):
    return client.patch("/api/v1/cluster/", {"mode": ACTIVE_ACTIVE}, format="json")


def test_mode_refused_while_services_use_per_node_schedulers(client_for):
    _service("web", scheduler="wlc")
    _service("vpn", vip="192.0.2.11", scheduler="mh", persistent=True)
    _service("ok", vip="192.0.2.12", scheduler="mh")
    r = _go_active_active(client_for("admin"))
    assert r.status_code == 400, r.content
    text = str(r.json())
    assert "mode" in text and "web (scheduler)" in text and "vpn (persistent)" in text and "ok (" not in text
    assert ClusterSettings.load().mode != ACTIVE_ACTIVE


def test_in_active_active_a_service_must_use_mh(client_for):
    client = client_for("admin")
    assert _go_active_active(client).status_code == 200
    r = client.post("/api/v1/virtual-services/", {"label": "web", "vip": "192.0.2.10", "ports": "80",
                                                   "scheduler": "wlc"}, format="json")
    assert r.status_code == 400
    assert "Maglev" in str(r.json()) and "scheduler" in str(r.json())
    r = client.post("/api/v1/virtual-services/", {"label": "web", "vip": "192.0.2.10", "ports": "80",
                                                   "scheduler": "mh"}, format="json")
    assert r.status_code == 201, r.content


def test_no_floating_ips_in_active_active(client_for):
    client = client_for("admin")
    assert _go_active_active(client).status_code == 200
    r = client.post("/api/v1/floating-ips/", {"address": "192.0.2.50", "interface": "eth0"}, format="json")
    assert r.status_code == 400 and "Active-active" in str(r.json())


@pytest.mark.parametrize("body, field", [
    ({"asn": 0}, "asn"), ({"asn": 23456}, "asn"), ({"asn": 4294967295}, "asn"),
    ({"router_id": "0.0.0.0"}, "router_id"), ({"router_id": "2001:db8::1"}, "router_id"),
    ({"bfd_interval_ms": 5}, "bfd_interval_ms"), ({"bfd_multiplier": 1}, "bfd_multiplier"),
])
def test_bgp_settings_refusals_name_the_field(client_for, body, field):
    r = client_for("admin").patch("/api/v1/cluster/bgp/", body, format="json")
    assert r.status_code == 400, r.content
    assert field in error_fields(r)


@pytest.mark.parametrize("body, field", [
    ({"address": "127.0.0.1", "asn": 65000}, "address"),
    ({"address": "224.0.0.5", "asn": 65000}, "address"),
    ({"address": "198.51.100.1", "asn": 0}, "asn"),
    ({"address": "198.51.100.1", "asn": 65000, "password": "two words"}, "password"),
    ({"address": "198.51.100.1", "asn": 65000, "description": "core a"}, "description"),
])
def test_neighbour_refusals_name_the_field(client_for, body, field):
    r = client_for("admin").post("/api/v1/bgp-neighbours/", body, format="json")
    assert r.status_code == 400, r.content
    assert field in error_fields(r)


def test_readonly_cannot_edit_bgp(client_for):
    assert client_for("readonly").patch("/api/v1/cluster/bgp/", {"asn": 65001}, format="json").status_code == 403
    assert client_for("readonly").get("/api/v1/cluster/bgp/status/").status_code == 200


def test_status_shows_the_config_a_render_only_host_would_load_passwords_masked(client_for):
    client = client_for("admin")
    assert _go_active_active(client).status_code == 200
    assert client.patch("/api/v1/cluster/bgp/", {"asn": 65010, "router_id": "198.51.100.11"},
                        format="json").status_code == 200
    r = client.post("/api/v1/bgp-neighbours/", {"address": "198.51.100.1", "asn": 65000, "password": "s3cret"},
                    format="json")
    assert r.status_code == 201 and "password" not in r.json()
    svc = _service("web")
    RealServer.objects.create(service=svc, label="a", address="10.0.0.11")
    _service("idle", vip="192.0.2.20")  # no real server: not fit, not announced
    status = client.get("/api/v1/cluster/bgp/status/").json()
    assert status["announced"] == ["192.0.2.10"]
    assert status["bfd_detection_ms"] == 900
    assert status["sessions"] == []  # a render-only host runs no bgpd
    assert "router bgp 65010" in status["config"] and "network 192.0.2.20/32" in status["config"]
    assert "s3cret" not in status["config"] and "password ********" in status["config"]
    assert BgpNeighbour.objects.get().password == "s3cret"


def test_apply_writes_the_frr_configuration_on_a_render_only_host(client_for, settings, tmp_path):
    from cluster import bgp
    from cluster.apply import apply_now

    settings.DATA_DIR = tmp_path
    client = client_for("admin")
    assert _go_active_active(client).status_code == 200
    BgpNeighbour.objects.create(address="198.51.100.1", asn=65000, password="s3cret")
    svc = _service("web")
    RealServer.objects.create(service=svc, label="a", address="10.0.0.11")
    run = apply_now(actor="test")
    assert run.status == "success", run.error
    text = bgp.conf_path().read_text()
    assert "neighbor 198.51.100.1 password s3cret" in text and "network 192.0.2.10/32" in text
    assert bgp.after_apply() == "unchanged"
    assert "  network" not in (bgp.withdraw(), bgp.conf_path().read_text())[1]


def test_aovpn_template_in_active_active_uses_maglev_without_persistence(client_for):
    client = client_for("admin")
    assert _go_active_active(client).status_code == 200
    r = client.post("/api/v1/templates/aovpn/", {"vip": "192.0.2.30", "vpn_servers": ["10.0.1.11", "10.0.1.12"]},
                    format="json")
    assert r.status_code in (200, 201), r.content
    for svc in VirtualService.objects.all():
        assert (svc.scheduler, svc.persistent) == ("mh", False), svc.label


def test_pairing_refused_in_active_active(client_for):
    from ha.pairing import PairingRefused, pair, unconfigured_reason

    assert _go_active_active(client_for("admin")).status_code == 200
    assert "active-active" in unconfigured_reason()
    with pytest.raises(PairingRefused, match="active-active"):
        pair(peer_address="198.51.100.2", token="x")


def test_bgp_page_edits_neighbours_and_shows_the_config(client, admin, readonly):
    client.force_login(admin)
    r = client.post("/cluster/bgp/neighbours/add/", {"address": "198.51.100.1", "asn": "65000",
                                                     "password": "s3cret", "description": "core-a"})
    assert r.status_code == 302
    n = BgpNeighbour.objects.get()
    r = client.post(f"/cluster/bgp/neighbours/{n.pk}/edit/", {"address": "198.51.100.1", "asn": "65001",
                                                              "password": "", "description": "core-a"})
    assert r.status_code == 302
    n.refresh_from_db()
    assert (n.asn, n.password) == (65001, "s3cret")  # a blank password field keeps the stored one
    r = client.post("/cluster/bgp/", {"asn": "23456", "router_id": "", "bfd_interval_ms": "300",
                                      "bfd_multiplier": "3"})
    assert r.status_code == 200 and "AS_TRANS" in r.content.decode()
    client.force_login(readonly)
    body = client.get("/cluster/bgp/").content.decode()
    assert "neighbor 198.51.100.1 remote-as 65001" in body and "s3cret" not in body
    assert client.post("/cluster/bgp/neighbours/add/", {}).status_code == 403


def test_advanced_page_sets_the_mode(client, admin):
    client.force_login(admin)
    form = client.get("/cluster/advanced/").context["form"]
    data = {k: v for k, v in form.initial.items() if v is not None and k not in ("id", "version")}
    data.update(mode=ACTIVE_ACTIVE, lock="", auto_apply="")
    r = client.post("/cluster/advanced/", {k: v for k, v in data.items() if v != ""})
    assert r.status_code == 302, r.content.decode()[:2000]
    assert ClusterSettings.load().mode == ACTIVE_ACTIVE
