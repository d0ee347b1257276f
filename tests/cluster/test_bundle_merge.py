"""Importing a bundle changes only what differs: kept objects keep their identity and history."""

import copy

import pytest
from django.utils import timezone

from audit.models import ChangeRecord
from cluster.bundle import export_bundle, import_bundle
from healthchecks.models import HealthEvent
from realservers.models import RealServer
from virtualservices.models import VirtualService

pytestmark = pytest.mark.django_db


def test_reimport_keeps_ids_and_health_history_and_writes_nothing(make_service):
    svc = make_service(servers=[{}, {}])
    rs = svc.real_servers.first()
    HealthEvent.objects.create(real_server=rs, at=timezone.now(), old_state="up", new_state="down",
                               check_type="tcp", reason="connection refused")
    bundle = export_bundle()
    import_bundle(bundle)
    assert VirtualService.objects.get(label=svc.label).pk == svc.pk
    assert RealServer.objects.get(pk=rs.pk).health_events.count() == 1
    assert "no change" in ChangeRecord.objects.filter(object_type="config").first().summary


def test_changes_deletions_and_swapped_marks(make_service):
    a = make_service(ports="500,4500", protocol="udp", method="dr", servers=[{}])
    b = make_service(ports="1812,1813", protocol="udp", method="snat", servers=[{}, {}])
    gone = make_service(servers=[{}])
    HealthEvent.objects.create(real_server=gone.real_servers.first(), at=timezone.now(), old_state="up",
                               new_state="down", check_type="tcp", reason="x")
    bundle = copy.deepcopy(export_bundle())
    by_label = {s["label"]: s for s in bundle["virtual_services"]}
    by_label[a.label]["fwmark"], by_label[b.label]["fwmark"] = b.fwmark, a.fwmark
    by_label[b.label]["real_servers"][0]["weight"] = 7
    bundle["virtual_services"].remove(by_label[gone.label])
    import_bundle(bundle)
    a2, b2 = VirtualService.objects.get(pk=a.pk), VirtualService.objects.get(pk=b.pk)
    assert (a2.fwmark, b2.fwmark) == (b.fwmark, a.fwmark)
    assert sorted(b2.real_servers.values_list("weight", flat=True)) == [7, 100]
    assert not VirtualService.objects.filter(pk=gone.pk).exists()
    assert HealthEvent.objects.count() == 0  # went with its real server, as on_delete says
    summary = ChangeRecord.objects.filter(object_type="config").first().summary
    assert "virtual services: 2 updated, 1 deleted; real servers: 1 updated" in summary  # its server went with it
    exported = export_bundle()
    exported.pop("exported_at"), bundle.pop("exported_at")
    assert exported == bundle
