"""cluster_spec keeps the spec of an unchanged service (so the compiler's per-service cache finds it
at once) and builds it again on any change to its rows, however the row was written."""

from __future__ import annotations

import pytest

from cluster.compile import cluster_spec
from dataplane.compiler import compile_state
from realservers.models import RealServer

pytestmark = pytest.mark.django_db


def by_label(spec):
    return {s.label: s for s in spec.services}


def test_unchanged_services_keep_their_spec_and_any_row_change_is_seen(make_service):
    make_service(servers=[{}, {}])
    edited = make_service(servers=[{}])
    before = by_label(cluster_spec())
    again = by_label(cluster_spec())
    assert again["svc1"] is before["svc1"] and again["svc2"] is before["svc2"]

    RealServer.objects.filter(service=edited).update(health="down")  # a bulk write, no save(), no signal
    after = by_label(cluster_spec())
    assert after["svc1"] is before["svc1"]
    assert after["svc2"] is not before["svc2"] and after["svc2"].real_servers[0].health == "down"

    edited.real_servers.create(label="rs9", address="10.0.0.9")
    edited.scheduler = "rr"
    edited.save()
    latest = by_label(cluster_spec())
    assert latest["svc2"].scheduler == "rr" and [r.label for r in latest["svc2"].real_servers] == ["rs1", "rs9"]
    edited.delete()
    assert set(by_label(cluster_spec())) == {"svc1"}


def test_the_compiled_state_is_the_same_as_from_a_fresh_process(make_service, monkeypatch):
    from cluster import compile as compile_mod

    for n in range(5):
        make_service(servers=[{}] * (n % 3 + 1), method=["dr", "nat", "snat"][n % 3])
    cluster_spec()
    RealServer.objects.filter(pk=RealServer.objects.order_by("pk").first().pk).update(weight=3, admin_state="drain")
    cached = compile_state(cluster_spec())
    monkeypatch.setattr(compile_mod, "_specs", {})
    assert compile_state(cluster_spec()) == cached
