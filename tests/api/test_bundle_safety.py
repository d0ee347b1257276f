"""Bundle safety: replace or merge, no emptying by accident, per-kind counts, per-object change
records, and a preview covering every kind of object."""

from __future__ import annotations

import copy

import pytest

from audit.models import ChangeRecord
from cluster.bundle import export_bundle
from realservers.models import RealServer
from tests.conftest import error_fields
from virtualservices.models import VirtualService

pytestmark = pytest.mark.django_db
URL = "/api/v1/config/"


@pytest.fixture
def two_services(make_service):
    make_service(label="web", servers=[{"label": "w1", "address": "198.51.100.11"}])
    make_service(label="dns", ports="53", protocol="udp", servers=[{"label": "d1", "address": "198.51.100.21"}])
    return export_bundle()


def test_an_empty_bundle_does_not_delete_everything_unless_asked_in_so_many_words(api, two_services):
    empty = {**two_services, "virtual_services": []}
    refused = api.post(URL, empty, format="json")
    assert refused.status_code == 400 and "delete all 2" in error_fields(refused)["virtual_services"][0]
    assert VirtualService.objects.count() == 2
    assert api.post(f"{URL}?confirm=yes", empty, format="json").status_code == 400
    done = api.post(f"{URL}?confirm=delete-all", empty, format="json")
    assert done.status_code == 200 and done.json()["counts"]["virtual_services"]["deleted"] == 2
    assert not VirtualService.objects.exists()


def test_merge_adds_and_updates_but_deletes_nothing(api, two_services):
    bundle = copy.deepcopy(two_services)
    web = next(s for s in bundle["virtual_services"] if s["label"] == "web")
    web["description"] = "front door"
    web["real_servers"] = [{**web["real_servers"][0], "label": "w2", "address": "198.51.100.12"}]
    bundle["virtual_services"] = [web]
    preview = api.post(f"{URL}?dry_run=1&mode=merge", bundle, format="json").json()
    assert preview["removed"] == [] and preview["changed"] == [
        {"label": "web", "fields": ["description"], "changes": ['description "" → front door']}]
    assert preview["real_servers"]["added"] == ["web/w2"] and preview["real_servers"]["removed"] == []
    result = api.post(f"{URL}?mode=merge", bundle, format="json").json()
    assert result["mode"] == "merge" and result["changed"]
    assert result["counts"]["virtual_services"] == {"created": 0, "updated": 1, "deleted": 0}
    assert result["counts"]["real_servers"] == {"created": 1, "updated": 0, "deleted": 0}
    assert sorted(VirtualService.objects.values_list("label", flat=True)) == ["dns", "web"]
    assert sorted(RealServer.objects.values_list("label", flat=True)) == ["d1", "w1", "w2"]
    assert "mode" in error_fields(api.post(f"{URL}?mode=sideways", bundle, format="json"))


def test_a_second_identical_import_reports_no_change(api, two_services):
    result = api.post(URL, two_services, format="json").json()
    assert result["changed"] is False
    assert all(not any(c.values()) for c in result["counts"].values())


def test_imports_write_one_change_record_per_object_changed(api, two_services):
    bundle = copy.deepcopy(two_services)
    bundle["virtual_services"] = [s for s in bundle["virtual_services"] if s["label"] == "web"]
    bundle["virtual_services"][0]["scheduler"] = "rr"
    bundle["floating_ips"] = [{"address": "192.0.2.254", "prefixlen": 24, "interface": "eth1", "description": ""}]
    before = ChangeRecord.objects.count()
    api.post(URL, bundle, format="json")
    new = ChangeRecord.objects.order_by("id")[before:]
    entries = {(r.action, r.object_type, r.object_repr) for r in new}
    assert ("update", "virtualservice", "web") in entries
    assert ("delete", "virtualservice", "dns") in entries
    assert ("create", "floatingip", "192.0.2.254/24 on eth1") in entries or any(
        r.action == "create" and r.object_type == "floatingip" for r in new)
    updated = next(r for r in new if r.action == "update" and r.object_type == "virtualservice")
    assert (updated.before["scheduler"], updated.after["scheduler"]) == ("wlc", "rr")
    assert "scheduler" in updated.summary and updated.username == "alice"
    assert VirtualService.objects.get(label="web").version == 2  # an import is a change like any other


def test_the_preview_covers_cluster_settings_floating_ips_and_real_servers(api, two_services):
    bundle = copy.deepcopy(two_services)
    bundle["cluster"]["udp_timeout"] = 60
    bundle["floating_ips"] = [{"address": "192.0.2.254", "prefixlen": 24, "interface": "eth1", "description": ""}]
    bundle["virtual_services"][0]["real_servers"][0]["weight"] = 5
    preview = api.post(f"{URL}?dry_run=1", bundle, format="json").json()
    assert preview["cluster"] == ["udp_timeout"]
    assert preview["floating_ips"]["added"] == ["192.0.2.254"]
    label = bundle["virtual_services"][0]["label"]
    rs_label = bundle["virtual_services"][0]["real_servers"][0]["label"]
    assert preview["real_servers"]["changed"] == [{"label": f"{label}/{rs_label}", "fields": ["weight"],
                                                   "changes": ["weight 100 → 5"]}]
    assert preview["added"] == preview["removed"] == preview["changed"] == []
