"""At boot the kernel gets back the last applied state (cluster/boot.py), whatever the drift lock says:
what served before the reboot, not the edits made since and never applied. The render-only driver
plays the emptied kernel here; the kernel lab proves it with IPVS and packets
(tests/netlab/inside/test_kernel_boot.py)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from cluster import apply as apply_mod
from cluster import boot, writer
from cluster.apply import apply_now, pending_changes
from cluster.models import AppliedState, ApplyRun, ClusterSettings
from dataplane.desired import DesiredState
from dataplane.kernel import RenderOnlyDriver

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def render_only(settings, tmp_path, monkeypatch):
    settings.FULCRUM_DATAPLANE = "render-only"
    settings.DATA_DIR = tmp_path
    monkeypatch.setattr(apply_mod, "dataplane_mode", lambda: "render-only")
    writer.forget_view()
    yield
    writer.forget_view()


@pytest.fixture
def rebooted(monkeypatch):
    """The kernel after a reboot: empty. restore_kernel() writes to it through the one writer."""
    kernel = RenderOnlyDriver(state=DesiredState.empty())
    monkeypatch.setattr(boot, "dataplane_mode", lambda: "kernel")
    monkeypatch.setattr(writer, "make_driver", lambda stored=None: kernel)
    return kernel


def test_the_last_applied_state_comes_back_not_the_pending_edits(make_service, rebooted):
    assert not ClusterSettings.load().lock  # the default: no drift repair, and still restored
    svc = make_service(servers=[{}, {}])
    assert apply_now().status == ApplyRun.SUCCESS
    _, applied = writer.journal()
    rs = svc.real_servers.get(label="rs2")
    rs.weight = 9  # saved, never applied
    rs.save()
    make_service(servers=[{}])
    assert pending_changes()

    said = boot.restore_kernel()
    assert said.startswith("restored the kernel state from the journal:")
    assert rebooted.state == applied
    assert all(d.weight != 9 for d in rebooted.state.destinations) and len(rebooted.state.services) == 1
    assert writer.journal()[1] == applied  # verified again: the next apply plans from it
    assert pending_changes()  # the edits still wait for Apply
    assert boot.restore_kernel().endswith(": 0 ops")  # run twice: nothing left to do


def test_a_distrusted_journal_still_says_what_was_applied(make_service, rebooted):
    make_service(servers=[{}])
    apply_now()
    _, applied = writer.journal()
    writer.distrust()  # drift seen before the reboot, lock off: not repaired, not forgotten
    assert "from the journal" in boot.restore_kernel()
    assert rebooted.state == applied


def test_an_unreadable_journal_falls_back_to_the_configuration_only_when_nothing_is_pending(make_service,
                                                                                            rebooted):
    svc = make_service(servers=[{}])
    apply_now()
    _, applied = writer.journal()
    AppliedState.objects.filter(pk=1).update(journal={"schema": 999})
    writer.forget_view()
    assert "from the configuration (unchanged since its last apply)" in boot.restore_kernel()
    assert rebooted.state == applied

    AppliedState.objects.filter(pk=1).update(journal={"schema": 999})
    writer.forget_view()
    svc.description = "edited, not applied"
    svc.save()
    rebooted.state = DesiredState.empty()
    said = boot.restore_kernel()
    assert "changes never applied" in said and rebooted.state == DesiredState.empty()


def test_nothing_applied_yet_leaves_the_kernel_alone(make_service, rebooted):
    make_service(servers=[{}])
    assert boot.restore_kernel() == "kernel state not restored: nothing applied yet"
    assert rebooted.state == DesiredState.empty()


def test_network_boot_restores_the_kernel_even_where_the_network_is_not_ours(settings, make_service, rebooted):
    make_service(servers=[{}])
    apply_now()
    _, applied = writer.journal()
    settings.FULCRUM_MANAGE_NETWORK = "no"
    out = StringIO()
    call_command("network_boot", stdout=out)
    assert "network not managed here" in out.getvalue()
    assert "restored the kernel state from the journal" in out.getvalue()
    assert rebooted.state == applied


def test_a_refused_restore_fails_the_boot_command(settings, make_service, rebooted):
    make_service(servers=[{}])
    apply_now()
    rebooted.fail_on = lambda op: True
    settings.FULCRUM_MANAGE_NETWORK = "no"
    with pytest.raises(Exception, match="only partly restored"):
        call_command("network_boot", stdout=StringIO())
