"""Field-level before → after values for the change log and the restore preview, secrets hidden."""

import pytest

from audit.diff import field_changes, labelled_diff, record_changes, service_changes
from audit.models import ChangeRecord
from cluster.bundle import export_bundle, preview


def test_an_update_lists_each_changed_field_with_its_values():
    before = {"id": 3, "label": "SSTP2", "weight": 100, "admin_state": "online", "updated_at": "t1"}
    after = {"id": 3, "label": "SSTP2", "weight": 75, "admin_state": "drain", "updated_at": "t2"}
    assert field_changes(before, after) == ["weight 100 → 75", "admin_state online → drain"]


def test_values_read_as_an_admin_reads_them():
    assert field_changes({"persistent": False, "description": "", "ports": [80]},
                         {"persistent": True, "description": "VPN", "ports": [80, 443]}) == [
        'persistent no → yes', 'description "" → VPN', "ports 80 → 80, 443"]


def test_secrets_say_only_that_they_changed():
    # Stored masked (both "********"): the record's summary names the field, the values never show.
    changes = record_changes("update", {"check_secret": "********", "weight": 1},
                             {"check_secret": "********", "weight": 2}, "changed check_secret, weight")
    assert changes == ["check_secret changed (hidden)", "weight 1 → 2"]
    assert field_changes({"radius_password": "old"}, {"radius_password": "new"}) == [
        "radius_password changed (hidden)"]


def test_create_and_delete_say_so_once():
    assert record_changes("create", None, {"weight": 1}) == ["added"]
    assert record_changes("delete", {"weight": 1}, None) == ["removed"]
    assert record_changes("action", None, None, "password changed") == []


def test_children_by_label_added_removed_and_changed():
    now = [{"label": "SSTP1", "weight": 100}, {"label": "SSTP2", "weight": 100}]
    new = [{"label": "SSTP2", "weight": 75}, {"label": "SSTP3", "weight": 100}]
    assert labelled_diff(now, new) == ["SSTP1 removed", "SSTP2 weight 100 → 75", "SSTP3 added"]


def test_a_service_diff_puts_its_own_fields_before_its_real_servers():
    cur = {"label": "AOVPN-SSTP", "scheduler": "wlc", "check_secret": "a", "real_servers": [{"label": "SSTP1"}]}
    inc = {"label": "AOVPN-SSTP", "scheduler": "rr", "check_secret": "b",
           "real_servers": [{"label": "SSTP1"}, {"label": "SSTP2"}]}
    assert service_changes(cur, inc) == ["scheduler wlc → rr", "check_secret changed (hidden)", "SSTP2 added"]


@pytest.mark.django_db
def test_the_restore_preview_shows_values(make_service):
    make_service(label="AOVPN-SSTP", servers=[{"label": "SSTP1"}, {"label": "SSTP2"}])
    bundle = export_bundle()
    servers = bundle["virtual_services"][0]["real_servers"]
    servers[1]["weight"] = 75
    servers.append({**servers[0], "label": "SSTP3", "address": "10.0.0.3"})
    diff = preview(bundle)
    assert diff["changed"] == []  # the service's own fields are the same; its real servers are listed apart
    assert diff["real_servers"]["changed"] == [{"label": "AOVPN-SSTP/SSTP2", "fields": ["weight"],
                                                "changes": ["weight 100 → 75"]}]
    assert diff["real_servers"]["added"] == ["AOVPN-SSTP/SSTP3"]


@pytest.mark.django_db
def test_the_change_log_entry_of_a_weight_change(make_service):
    rs = make_service(servers=[{"label": "SSTP2"}]).real_servers.get()
    rs.weight = 75
    rs.save()
    entry = ChangeRecord.objects.filter(object_type="realserver").first()
    assert entry.changes == ["weight 100 → 75"]
