"""The configuration bundle: exact round trip, all or nothing, format/version checks, and the commands
`manage.py exportconfig`, `manage.py loadconfig FILE` and `manage.py aovpn`."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from audit.models import ChangeRecord
from cluster.aovpn import AovpnRequest, create_aovpn
from cluster.bundle import BundleError, export_bundle, import_bundle
from cluster.models import ClusterSettings, FloatingIP
from realservers.models import RealServer
from virtualservices.models import VirtualService

pytestmark = pytest.mark.django_db


def without_time(bundle: dict) -> dict:
    return {k: v for k, v in bundle.items() if k != "exported_at"}


def totals(result: dict) -> dict:
    return {k: result[k] for k in ("virtual_services", "real_servers", "floating_ips")}


@pytest.fixture
def rich_config(make_service):
    """A configuration using every kind of field: both families, marks, persistence, checks, fallback."""
    settings = ClusterSettings.load()
    settings.autonat_interface, settings.tcp_timeout, settings.lock = "eth1", 1800, True
    settings.save()
    FloatingIP.objects.create(address="10.0.0.254", prefixlen=24, interface="eth1", description="NAT gateway")
    FloatingIP.objects.create(address="2001:db8:1::fe", prefixlen=64, interface="eth1")
    make_service(label="web", vip="192.0.2.10", ports="80,443", method="nat", scheduler="wrr", persistent=True,
                 persistence_timeout=600, persistence_netmask="255.255.255.0", fallback_address="10.0.9.9",
                 fallback_port=8080, check_type="http", check_request="/health", check_response="ok",
                 check_status=200, check_vhost="www.example.com", alert_email="noc@example.com",
                 description="front door\nsecond line", servers=[
                     {"label": "w1", "address": "10.0.0.1", "port": 8080, "weight": 50, "max_conns": 1000,
                      "min_conns": 900},
                     {"label": "w2", "address": "10.0.0.2", "admin_state": "drain"}])
    make_service(label="v6", vip="2001:db8::10", ports="53", protocol="tcpudp", method="dr",
                 persistence_netmask="64", check_type="dns", check_request="example.com",
                 servers=[{"label": "d1", "address": "2001:db8::1"}])
    make_service(label="nps", vip="192.0.2.11", ports="1812,1813", protocol="udp", method="snat",
                 snat_source="192.0.2.200", check_type="radius", check_secret="s3cret", check_port=1812,
                 enabled=False, on_down="remove")
    make_service(label="mark", vip="192.0.2.12", ports="", protocol="fwm", fwmark=77, check_type="icmp",
                 scheduler="mh")
    make_service(label="ext", vip="192.0.2.13", ports="8000-8010", check_type="external", check_script="probe.sh",
                 check_interval=2.5, check_timeout=0.5, check_rise=3, check_fall=4)


def test_exact_round_trip(rich_config):
    first = export_bundle()
    assert json.loads(json.dumps(first)) == first  # plain JSON
    result = import_bundle(json.loads(json.dumps(first)))
    assert totals(result) == {"virtual_services": 5, "real_servers": 3, "floating_ips": 2}
    assert result["changed"] is False and result["mode"] == "replace"
    second = export_bundle()
    assert without_time(second) == without_time(first)
    assert any(s["real_servers"] for s in second["virtual_services"])  # not trivially empty


def test_round_trip_keeps_secrets_and_marks(rich_config):
    bundle = export_bundle()
    import_bundle(bundle)
    assert VirtualService.objects.get(label="nps").check_secret == "s3cret"
    assert VirtualService.objects.get(label="mark").fwmark == 77
    marks = list(VirtualService.objects.exclude(fwmark=None).values_list("fwmark", flat=True))
    assert len(marks) == len(set(marks)) == 5


def test_round_trip_through_the_api(api, rich_config):
    first = api.get("/api/v1/config/").json()
    r = api.post("/api/v1/config/", first, format="json")
    assert r.status_code == 200, r.content
    assert without_time(api.get("/api/v1/config/").json()) == without_time(first)


def test_import_into_an_empty_appliance(rich_config):
    bundle = export_bundle()
    import_bundle({"format": "fulcrum-config", "version": 1, "cluster": {}, "floating_ips": [],
                   "virtual_services": []}, confirm="delete-all")
    assert not VirtualService.objects.exists() and not FloatingIP.objects.exists()
    assert ClusterSettings.load().tcp_timeout == 900  # defaults
    import_bundle(bundle)
    assert without_time(export_bundle()) == without_time(bundle)


def test_missing_marks_are_assigned_without_collision(make_service):
    make_service(label="keep", ports="", protocol="fwm", fwmark=1, check_type="none")
    bundle = export_bundle()
    bundle["virtual_services"].append({"label": "ike", "vip": "192.0.2.50", "ports": "500,4500", "protocol": "udp"})
    bundle["virtual_services"].append({"label": "dns", "vip": "192.0.2.51", "ports": "53", "protocol": "tcpudp"})
    import_bundle(bundle)
    marks = dict(VirtualService.objects.values_list("label", "fwmark"))
    assert marks["keep"] == 1 and marks["ike"] and marks["dns"] and len(set(marks.values())) == 3


def test_all_or_nothing(rich_config):
    before = export_bundle()
    bad = json.loads(json.dumps(before))
    bad["virtual_services"][1]["ports"] = "80-70"
    bad["virtual_services"][2]["real_servers"].append({"label": "x", "address": "not-an-ip"})
    with pytest.raises(BundleError) as exc:
        import_bundle(bad)
    errors = exc.value.message_dict
    assert "virtual_services[1].ports" in errors
    assert "virtual_services[2].real_servers[0].address" in errors
    assert without_time(export_bundle()) == without_time(before)


def test_collisions_inside_the_bundle(make_service):
    bundle = export_bundle()
    svc = {"label": "a", "vip": "192.0.2.1", "ports": "80", "protocol": "tcp", "method": "nat"}
    bundle["virtual_services"] = [svc, {**svc, "label": "b"}, {**svc, "label": "a", "vip": "192.0.2.2"}]
    with pytest.raises(BundleError) as exc:
        import_bundle(bundle)
    errors = exc.value.message_dict
    assert "virtual_services[2].label" in errors
    assert any("overlap" in m for m in errors.get("virtual_services[1].ports", []) +
               errors.get("virtual_services[0].ports", []))


def test_duplicate_real_servers_and_floating_ips_inside_the_bundle():
    bundle = export_bundle()
    rs = {"label": "a", "address": "10.0.0.1"}
    bundle["virtual_services"] = [{"label": "s", "vip": "192.0.2.1", "ports": "80", "method": "nat",
                                   "real_servers": [rs, {**rs, "label": "b"}, {**rs, "address": "10.0.0.3"}]}]
    bundle["floating_ips"] = [{"address": "10.0.0.254"}, {"address": "10.0.0.254"}]
    with pytest.raises(BundleError) as exc:
        import_bundle(bundle)
    errors = exc.value.message_dict
    assert "virtual_services[0].real_servers[1].address" in errors
    assert "virtual_services[0].real_servers[2].label" in errors
    assert "floating_ips[1].address" in errors


@pytest.mark.parametrize("change, key", [
    ({"format": "something-else"}, "format"),
    ({"version": 2}, "version"),
    ({"version": "1"}, "version"),
    ({"version": None}, "version"),
])
def test_format_and_version_checks(change, key):
    bundle = {**export_bundle(), **change}
    with pytest.raises(BundleError) as exc:
        import_bundle(bundle)
    assert key in exc.value.message_dict


@pytest.mark.parametrize("bundle", [[], "text", None, 7])
def test_not_a_bundle_at_all(bundle):
    with pytest.raises(BundleError) as exc:
        import_bundle(bundle)
    assert "format" in exc.value.message_dict


def test_aovpn_bundle_round_trip():
    create_aovpn(AovpnRequest(vip="192.0.2.10", vpn_servers=["10.0.0.11", "10.0.0.12"], ikev2_method="nat",
                              nps_servers=["10.0.1.21"], radius_secret="s3cret"))
    first = export_bundle()
    assert [s["label"] for s in first["virtual_services"]] == ["AOVPN-IKEv2", "AOVPN-NPS", "AOVPN-SSTP"]
    import_bundle(first)
    assert without_time(export_bundle()) == without_time(first)


def test_import_replaces_and_reports_counts(rich_config):
    bundle = export_bundle()
    bundle["virtual_services"] = [s for s in bundle["virtual_services"] if s["label"] == "web"]
    result = import_bundle(bundle)
    assert totals(result) == {"virtual_services": 1, "real_servers": 2, "floating_ips": 2}
    assert result["counts"]["virtual_services"]["deleted"] == 4 and result["changed"]
    assert list(VirtualService.objects.values_list("label", flat=True)) == [bundle["virtual_services"][0]["label"]]


# ---------------------------------------------------------------- management commands
def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_exportconfig_to_stdout(rich_config):
    out, _ = run("exportconfig")
    assert without_time(json.loads(out)) == without_time(export_bundle())


def test_exportconfig_to_file_and_loadconfig_round_trip(rich_config, tmp_path):
    path = tmp_path / "bundle.json"
    run("exportconfig", "-o", str(path))
    first = json.loads(path.read_text())
    VirtualService.objects.all().delete()
    out, _ = run("loadconfig", str(path))
    assert totals(json.loads(out)) == {"virtual_services": 5, "real_servers": 3, "floating_ips": 2}
    assert without_time(export_bundle()) == without_time(first)
    rec = ChangeRecord.objects.filter(object_type="config").first()
    assert rec.username == "cli:loadconfig"


def test_loadconfig_error_names_paths_and_changes_nothing(rich_config, tmp_path):
    before = export_bundle()
    bad = json.loads(json.dumps(before))
    bad["virtual_services"][3]["real_servers"] = [{"label": "x", "address": "10.0.0.1", "weight": 70000}]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(CommandError) as exc:
        run("loadconfig", str(path))
    assert "virtual_services[3].real_servers[0].weight" in str(exc.value)
    assert without_time(export_bundle()) == without_time(before)


def test_loadconfig_unreadable_files(tmp_path):
    with pytest.raises(CommandError):
        run("loadconfig", str(tmp_path / "missing.json"))
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(CommandError):
        run("loadconfig", str(broken))


def test_loadconfig_exits_non_zero(tmp_path):
    """As a process: the exit status is what scripts look at (a throwaway database; the bundle is refused
    before any table is read)."""
    import os
    import subprocess
    import sys

    from django.conf import settings

    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"format": "fulcrum-config", "version": 9}))
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "FULCRUM_DATA_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "manage.py", "loadconfig", str(path)], capture_output=True, text=True,
                          timeout=120, cwd=str(settings.BASE_DIR), env=env)
    assert proc.returncode != 0
    assert "version" in proc.stderr


def test_loadconfig_dry_run(rich_config, tmp_path):
    bundle = export_bundle()
    bundle["virtual_services"] = bundle["virtual_services"][1:]
    path = tmp_path / "b.json"
    path.write_text(json.dumps(bundle))
    out, _ = run("loadconfig", "--dry-run", str(path))
    assert json.loads(out)["removed"] == ["ext"]
    assert VirtualService.objects.filter(label="ext").exists()


def test_aovpn_command():
    out, _ = run("aovpn", "--vip", "192.0.2.10", "--vpn-server", "10.0.0.11", "--vpn-server", "10.0.0.12",
                 "--nps-server", "10.0.1.21", "--radius-secret", "s3cret", "--ikev2-method", "nat")
    services = {s.label: s for s in VirtualService.objects.all()}
    assert set(services) == {"AOVPN-SSTP", "AOVPN-IKEv2", "AOVPN-NPS"}
    sstp, ike, nps = services["AOVPN-SSTP"], services["AOVPN-IKEv2"], services["AOVPN-NPS"]
    assert (sstp.ports, sstp.protocol, sstp.check_type) == ("443", "tcp", "sstp")
    assert (ike.ports, ike.protocol, ike.method, ike.persistent, ike.check_type) == ("500,4500", "udp", "nat", True,
                                                                                   "ikev2")
    assert ike.fwmark and nps.fwmark and ike.fwmark != nps.fwmark
    assert (nps.ports, nps.protocol, nps.method, nps.check_type, nps.check_secret) == (
        "1812,1813", "udp", "snat", "radius", "s3cret")
    assert RealServer.objects.filter(service=ike).count() == 2
    for label in services:
        assert label in out


def test_aovpn_command_refuses_ikev2_on_snat():
    with pytest.raises((CommandError, SystemExit)):
        run("aovpn", "--vip", "192.0.2.10", "--vpn-server", "10.0.0.11", "--ikev2-method", "snat")
    assert not VirtualService.objects.exists()


def test_aovpn_command_all_or_nothing(make_service):
    make_service(label="taken", vip="192.0.2.10", ports="500", protocol="udp")
    with pytest.raises(CommandError) as exc:
        run("aovpn", "--vip", "192.0.2.10", "--vpn-server", "10.0.0.11")
    assert "ports" in str(exc.value)
    assert list(VirtualService.objects.values_list("label", flat=True)) == ["taken"]
