"""Auto apply compiles only the services the change log names since the last apply, and the kernel
state it builds is the full compile's; anything else takes the full compile."""

from __future__ import annotations

import random
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from cluster import apply as apply_mod
from cluster import incremental
from cluster.compile import cluster_spec
from cluster.incremental import advance
from cluster.models import ApplyRun, ClusterSettings
from cluster.writer import forget_view, journal
from dataplane.compiler import compile_state
from realservers.models import RealServer
from tests.cluster.test_auto_apply import auto_apply, worker  # noqa: F401 (the fixture)
from virtualservices.models import VirtualService

# on_commit runs on real commits only; ids from 1 (a flush keeps the sequences: thousands of ids used by
# earlier tests, none older than GAP_GRACE, read as missed records and made every apply a full compile)
pytestmark = pytest.mark.django_db(transaction=True, reset_sequences=True)


@pytest.fixture(autouse=True)
def nothing_remembered():
    incremental.forget()
    yield
    incremental.forget()


def run_queued(queued: list[int], full: bool) -> ApplyRun:
    """Run the waiting apply; ``full``: whether it must read every service."""
    real = apply_mod.service_specs
    with mock.patch("cluster.apply.service_specs", wraps=real) as read_all:
        run = apply_mod.execute(ApplyRun.objects.get(pk=queued[-1]))
    run.refresh_from_db()
    assert run.status == "success", run.error
    assert read_all.called == full
    forget_view()  # the journal as another process reads it back, not this one's view
    assert journal()[1] == compile_state(cluster_spec())
    return run


def test_an_edit_of_one_server_compiles_its_service_alone(worker, make_service):  # noqa: F811
    services = [make_service(servers=[{}, {}]) for _ in range(3)]
    auto_apply(True)
    run_queued(worker, full=True)  # nothing remembered yet

    rs = services[1].real_servers.first()
    rs.weight = 7
    rs.save()
    run = run_queued(worker, full=False)
    assert run.operation_count == 1 and "-w 7" in run.operations[0]

    services[2].scheduler = "rr"
    services[2].save()
    assert run_queued(worker, full=False).operation_count == 1


def test_edits_beyond_a_service_own_entries_compile_everything(worker, make_service):  # noqa: F811
    svc = make_service(servers=[{}])
    other = make_service(servers=[{}], vip="192.0.2.1", ports="443")  # shares svc's VIP
    auto_apply(True)
    run_queued(worker, full=True)

    svc.vip = "192.0.2.50"  # a new key and address
    svc.save()
    run_queued(worker, full=True)
    other.delete()  # the last service on its VIP: the address goes
    run_queued(worker, full=True)
    settings = ClusterSettings.load()
    settings.tcp_timeout = 600
    settings.save()
    run_queued(worker, full=True)


def test_a_manual_apply_compiles_everything(worker, make_service):  # noqa: F811
    make_service(servers=[{}])
    apply_mod.apply_now()
    with mock.patch("cluster.apply.service_specs", wraps=apply_mod.service_specs) as read_all:
        apply_mod.apply_now()
    assert read_all.called


def test_random_edits_auto_applied_match_a_full_compile(worker, make_service):  # noqa: F811
    rnd = random.Random(12)
    for _ in range(4):
        make_service(servers=[{}, {}], method=rnd.choice(["nat", "dr"]))
    auto_apply(True)
    run_queued(worker, full=True)
    for step in range(25):
        servers = list(RealServer.objects.order_by("pk"))
        services = list(VirtualService.objects.order_by("pk"))
        kind = rnd.choice(["weight", "weight", "state", "move", "add", "delete", "scheduler", "vip"])
        rs, svc = rnd.choice(servers), rnd.choice(services)
        if kind == "weight":
            rs.weight = rnd.randint(0, 9)
        elif kind == "state":
            rs.health = rnd.choice(["up", "down"])
        elif kind == "move":
            rs.service = svc  # the old service loses it, the new one gains it
            rs.label, rs.address = f"moved{step}", f"10.0.2.{step + 1}"
        elif kind == "add":
            svc.real_servers.create(label=f"new{step}", address=f"10.0.1.{step + 1}")
        elif kind == "delete" and len(servers) > 2:
            rs.delete()
        elif kind == "scheduler":
            svc.scheduler = rnd.choice(["rr", "wlc", "mh"])
            svc.save()
        elif kind == "vip":
            svc.vip = f"192.0.2.{100 + step}"
            svc.save()
        if kind in ("weight", "state", "move"):
            rs.save()
        queued = ApplyRun.objects.get(pk=worker[-1])
        if queued.status == ApplyRun.QUEUED:
            run_queued(worker, full=kind == "vip")


def test_missed_ids_are_read_again_until_they_are_long_missed():
    now = timezone.now()
    mark = advance((4, {}), [5, 6, 8, 9], now)
    assert mark == (9, {7: now})  # 7 may still commit
    assert advance(mark, [], now + timedelta(minutes=1)) == (9, {7: now})
    assert advance(mark, [7, 10], now) == (10, {})  # it did
    assert advance(mark, [], now + timedelta(hours=1)) == (9, {})  # rolled back long ago


def test_a_big_import_before_the_apply_does_not_stop_the_next_from_being_incremental(worker, make_service):  # noqa: F811
    from audit.models import ChangeRecord

    svc = make_service(servers=[{}])
    ChangeRecord.objects.bulk_create(ChangeRecord(action="create", object_type="realserver", object_id=str(n))
                                     for n in range(incremental.MAX_RECORDS + 100))
    auto_apply(True)
    run_queued(worker, full=True)
    rs = svc.real_servers.get()
    rs.weight = 3
    rs.save()
    run_queued(worker, full=False)
