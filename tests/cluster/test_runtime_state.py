"""Runtime state acts at once through the one kernel writer; the journal is versioned JSON.

The kernel here is one RenderOnlyDriver shared by every writer (apply, runtime actions, drift), so
what it holds after each step is what a real kernel would hold. tests/netlab proves the driver.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from django.core.management import call_command

from audit.models import ChangeRecord
from cluster import apply as apply_mod
from cluster import runtime_state, writer
from cluster.apply import apply_now, pending_changes
from cluster.drift import check_drift
from cluster.models import AppliedState, JournalEntry
from dataplane.diff import EditDest
from dataplane.journal import encode
from dataplane.kernel import RenderOnlyDriver

pytestmark = pytest.mark.django_db


@pytest.fixture
def kernel(settings, tmp_path, monkeypatch):
    settings.FULCRUM_DATAPLANE = "render-only"
    settings.DATA_DIR = tmp_path
    driver = RenderOnlyDriver()
    for module in (apply_mod, writer, __import__("cluster.drift").drift):
        monkeypatch.setattr(module, "make_driver", lambda stored=None: driver)
    writer.forget_view()
    yield driver
    writer.forget_view()


def weights(driver, address_prefix="10.0.0.") -> dict[str, int]:
    return {d.address: d.weight for d in driver.state.destinations if d.address.startswith(address_prefix)}


def test_drain_halt_online_reach_the_kernel_at_once_and_nothing_is_pending(kernel, client_for, make_service):
    svc = make_service(servers=[{}, {}])
    assert apply_now().status == "success"
    assert weights(kernel) == {"10.0.0.1": 100, "10.0.0.2": 100}
    api = client_for("operator")
    rs1 = svc.real_servers.get(label="rs1")

    answer = api.post(f"/api/v1/real-servers/{rs1.pk}/drain/")
    assert answer.status_code == 200, answer.content
    assert answer.json()["kernel"]["status"] == "done"
    assert answer.json()["kernel"]["operations"] and "-w 0" in answer.json()["kernel"]["operations"][0]
    assert weights(kernel) == {"10.0.0.1": 0, "10.0.0.2": 100}
    assert not pending_changes() and api.get("/api/v1/apply/").json()["pending_changes"] is False

    assert api.post(f"/api/v1/real-servers/{rs1.pk}/halt/").json()["kernel"]["status"] == "done"
    assert weights(kernel) == {"10.0.0.2": 100}
    assert api.post("/api/v1/real-servers/by-address/online/", {"address": "10.0.0.1"},
                    format="json").json()["kernel"]["status"] == "done"
    assert weights(kernel) == {"10.0.0.1": 100, "10.0.0.2": 100}
    assert not pending_changes()

    logged = ChangeRecord.objects.filter(object_type="realserver-state").order_by("id")
    assert [r.after["admin_state"] for r in logged] == ["drain", "halt", "online"]
    assert {r.username for r in logged} == {"oscar"}

    # The saved state is what the next apply compiles: a drain survives an Apply, and Apply has nothing to do.
    api.post(f"/api/v1/real-servers/{rs1.pk}/drain/")
    run = apply_now()
    assert run.status == "success" and run.operation_count == 0
    assert weights(kernel)["10.0.0.1"] == 0


def test_a_runtime_action_leaves_a_pending_configuration_change_waiting(kernel, client_for, make_service):
    svc = make_service(servers=[{}, {}])
    apply_now()
    rs2 = svc.real_servers.get(label="rs2")
    rs2.weight = 7
    rs2.save()
    assert pending_changes()
    api = client_for("operator")
    assert api.post(f"/api/v1/real-servers/{svc.real_servers.get(label='rs1').pk}/drain/").status_code == 200
    assert weights(kernel) == {"10.0.0.1": 0, "10.0.0.2": 100}  # rs2's new weight waits for Apply
    assert pending_changes()
    apply_now()
    assert weights(kernel) == {"10.0.0.1": 0, "10.0.0.2": 7}


def test_fallback_server_follows_a_runtime_action(kernel, client_for, make_service):
    svc = make_service(servers=[{}], fallback_address="10.0.9.9", fallback_port=80)
    apply_now()
    assert "10.0.9.9" not in weights(kernel, "10.0.9.")
    rs = svc.real_servers.get()
    client_for("operator").post(f"/api/v1/real-servers/{rs.pk}/halt/")
    assert set(weights(kernel, "10.0.")) == {"10.0.9.9"}  # the fallback in, the halted server out
    client_for("operator").post(f"/api/v1/real-servers/{rs.pk}/online/")
    assert set(weights(kernel, "10.0.")) == {"10.0.0.1"}
    assert apply_now().operation_count == 0


def test_the_kernels_refusal_and_an_absent_worker_are_the_answer(kernel, client_for, make_service, monkeypatch):
    svc = make_service(servers=[{}])
    apply_now()
    rs = svc.real_servers.get()
    api = client_for("operator")
    kernel.fail_on = lambda op: isinstance(op, EditDest)
    refused = api.post(f"/api/v1/real-servers/{rs.pk}/drain/")
    assert refused.status_code == 502
    assert refused.json()["kernel"]["status"] == "failed" and "refused" in refused.json()["kernel"]["error"]
    rs.refresh_from_db()
    assert rs.admin_state == "drain" and weights(kernel) == {"10.0.0.1": 100}
    kernel.fail_on = None

    def no_worker(ids):
        raise TimeoutError("no answer")

    monkeypatch.setattr(runtime_state, "ask_kernel_worker", no_worker)
    away = api.post(f"/api/v1/real-servers/{rs.pk}/halt/")
    assert away.status_code == 503 and away.json()["kernel"]["status"] == "unreachable"
    assert "next apply" in away.json()["kernel"]["error"]
    monkeypatch.undo()  # the worker is back (the kernel fixture's patches are re-applied below)
    for module in (apply_mod, writer, __import__("cluster.drift").drift):
        monkeypatch.setattr(module, "make_driver", lambda stored=None: kernel)
    monkeypatch.setattr(runtime_state, "ask_kernel_worker", runtime_state.push_runtime_state)
    assert api.post(f"/api/v1/real-servers/{rs.pk}/halt/").json()["kernel"]["status"] == "done"
    assert weights(kernel) == {}


def test_a_service_not_applied_yet_is_left_to_apply(kernel, client_for, make_service):
    svc = make_service(servers=[{}])
    answer = client_for("operator").post(f"/api/v1/real-servers/{svc.real_servers.get().pk}/drain/")
    assert answer.status_code == 200 and answer.json()["kernel"] == {"status": "done", "operations": [],
                                                                      "error": ""}
    assert kernel.state.destinations == frozenset()


def test_the_cli_acts_at_once(kernel, make_service, capsys):
    make_service(servers=[{}])
    make_service(servers=[{}])
    apply_now()
    call_command("serverstate", "drain", "--address", "10.0.0.1")
    assert "2 real servers is now drained in the kernel" in capsys.readouterr().out
    assert [d.weight for d in kernel.state.destinations] == [0, 0]
    assert ChangeRecord.objects.filter(object_type="realserver-state", username="cli:serverstate").count() == 2
    with pytest.raises(Exception, match="address"):
        call_command("serverstate", "drain", "--address", "not-an-address")


def test_runtime_changes_are_small_journal_entries_that_every_process_reads(kernel, client_for, make_service,
                                                                            monkeypatch):
    svc = make_service(servers=[{}, {}])
    apply_now()
    base = AppliedState.objects.get().journal
    operator = client_for("operator")
    operator.post(f"/api/v1/real-servers/{svc.real_servers.get(label='rs1').pk}/drain/")
    assert AppliedState.objects.get().journal == base  # the base is not rewritten...
    assert JournalEntry.objects.count() == 1  # ...one small entry is added
    rs2 = svc.real_servers.get(label="rs2")
    rs2.weight = 3
    rs2.save()
    assert apply_now().operation_count == 1
    assert JournalEntry.objects.count() == 2  # a small apply is an entry too
    writer._view.update(base=None, last=0, entries=0, state=None)  # another process: no view in memory
    assert writer.journal()[1] == kernel.state
    assert not check_drift(repair=False).drift

    monkeypatch.setattr(writer, "COMPACT_AFTER", 2)
    operator.post(f"/api/v1/real-servers/{svc.real_servers.get(label='rs1').pk}/online/")
    assert JournalEntry.objects.count() == 0 and AppliedState.objects.get().journal == encode(kernel.state)


@pytest.mark.parametrize("row", [None, {"schema": 0, "state": "gAR..."}, {"schema": 99}, {"schema": 1}])
def test_an_untrusted_journal_makes_the_writer_read_the_kernel(kernel, make_service, row):
    """None: what the migration leaves of an old pickled row. Other versions or damage: not trusted."""
    make_service(servers=[{}])
    apply_now()
    truth = kernel.state
    AppliedState.objects.filter(pk=1).update(journal=row)
    writer._view.update(base=None, last=0, entries=0, state=None)
    assert writer.journal()[1] is None
    run = apply_now()  # plans from the kernel, so it has nothing to do (planning from nothing would re-add)
    assert run.status == "success" and run.operation_count == 0, run.operations
    assert AppliedState.objects.get().journal == encode(truth)


def test_a_runtime_action_rewrites_an_untrusted_journal_from_the_kernel(kernel, client_for, make_service):
    svc = make_service(servers=[{}])
    apply_now()
    AppliedState.objects.filter(pk=1).update(journal={"schema": 99})
    writer._view.update(base=None, last=0, entries=0, state=None)
    client_for("operator").post(f"/api/v1/real-servers/{svc.real_servers.get().pk}/drain/")
    assert writer.journal()[1] == kernel.state
    assert [d.weight for d in kernel.state.destinations] == [0]


def test_drift_seen_makes_the_next_apply_read_the_kernel(kernel, make_service):
    make_service(servers=[{}])
    apply_now()
    dest = next(iter(kernel.state.destinations))
    kernel.state = replace(kernel.state, destinations=frozenset({replace(dest, weight=3)}))  # by hand
    assert check_drift(repair=False).drift
    assert writer.journal()[1] is None  # not trusted until a writer has read the kernel
    run = apply_now()
    assert run.operation_count == 1 and weights(kernel) == {"10.0.0.1": 100}
    assert not check_drift(repair=False).drift


def test_the_state_field_of_the_real_server_page_acts_at_once(kernel, client, admin, make_service):
    svc = make_service(servers=[{}, {}])
    apply_now()
    rs = svc.real_servers.get(label="rs1")
    client.force_login(admin)
    form = {"label": "rs1", "address": "10.0.0.1", "port": "", "weight": 100, "min_conns": 0, "max_conns": 0,
            "admin_state": "drain"}
    response = client.post(f"/servers/{rs.pk}/edit/", form, follow=True)
    assert "is now drained in the kernel" in response.content.decode()
    assert weights(kernel) == {"10.0.0.1": 0, "10.0.0.2": 100} and not pending_changes()
    form.update(admin_state="online", weight=7)  # the weight is configuration: it waits for Apply
    client.post(f"/servers/{rs.pk}/edit/", form)
    assert weights(kernel) == {"10.0.0.1": 100, "10.0.0.2": 100} and pending_changes()
    apply_now()
    assert weights(kernel) == {"10.0.0.1": 7, "10.0.0.2": 100}


def test_active_active_draining_the_last_server_withdraws_the_vip_and_online_announces_it(
        kernel, client_for, make_service):
    from cluster.models import ACTIVE_ACTIVE, ClusterSettings

    s = ClusterSettings.load()
    s.mode = ACTIVE_ACTIVE
    s.save()
    web = make_service(servers=[{}], method="dr", scheduler="mh", vip="192.0.2.70")
    make_service(servers=[{"address": "10.0.0.9"}], method="dr", scheduler="mh", vip="192.0.2.70", ports="443")
    assert apply_now().status == "success"

    def held():
        return {a.address for a in kernel.state.addresses if a.interface == "lo"}

    assert held() == {"192.0.2.70"}
    api = client_for("operator")
    rs1 = web.real_servers.get()
    assert api.post(f"/api/v1/real-servers/{rs1.pk}/halt/").json()["kernel"]["status"] == "done"
    assert held() == {"192.0.2.70"}  # the 443 service on the same VIP still serves
    answer = api.post("/api/v1/real-servers/by-address/drain/", {"address": "10.0.0.9"}, format="json").json()
    assert answer["kernel"]["status"] == "done" and held() == set()
    assert any("192.0.2.70" in op for op in answer["kernel"]["operations"])
    assert api.post(f"/api/v1/real-servers/{rs1.pk}/online/").json()["kernel"]["status"] == "done"
    assert held() == {"192.0.2.70"}
    assert apply_now().operation_count == 0  # the runtime path and the compiler agree
