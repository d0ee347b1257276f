"""Local Configuration › Network in a real browser: the rollback countdown runs, and Confirm keeps the change."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.network.fakehost import fake_host

pytestmark = [pytest.mark.ui, pytest.mark.django_db(transaction=True)]


def test_countdown_and_confirm(ui, people, ui_settings):
    from netconfig.models import Interface, NetworkChange

    with fake_host(ui_settings):
        Interface.objects.create(name="eth1", addresses=["198.51.100.1/24"])
        ui.login("alice")
        ui.goto("/local/network/")
        expect(ui.page.locator("h1")).to_contain_text("Network")
        expect(ui.page.locator("#network-apply")).to_be_visible()
        ui.axe("network")
        ui.shot("network")
        ui.goto("/local/network/interfaces/add/")
        expect(ui.page.locator("#id_parent")).to_contain_text("eth0 — 192.0.2.10/24")
        ui.axe("interface-form")

        # The change as the kernel worker leaves it once applied: waiting, 30 s on its timer.
        change = NetworkChange.objects.create(username="alice", status=NetworkChange.AWAITING, timeout=30,
                                              deadline=timezone.now() + timedelta(seconds=30), desired={})
        ui.goto("/local/network/")
        counter = ui.page.locator("#network-countdown")
        first = int(counter.inner_text())
        assert 25 <= first <= 30
        ui.page.wait_for_function(f"() => +document.getElementById('network-countdown').textContent < {first}",
                                  timeout=5000)  # it counts down without a reload
        ui.axe("countdown")
        ui.shot("countdown")
        ui.page.click("#network-confirm")
        ui.page.wait_for_load_state("load")
        expect(ui.page.locator("#network-change")).to_have_count(0)
        expect(ui.page.locator("body")).to_contain_text(f"Network change #{change.pk} confirmed: it stays.")
        ui.shot("confirmed")
        change.refresh_from_db()
        assert change.status == NetworkChange.CONFIRMED


def test_system_settings_page_is_accessible(ui, people, ui_settings):
    with fake_host(ui_settings):
        ui.login("alice")
        ui.goto("/local/network/system/")
        expect(ui.page.locator("h1")).to_have_text("System settings")
        ui.page.fill("#id_hostname", "bad_name")
        ui.page.click("text=Save settings")
        ui.page.wait_for_load_state("load")
        expect(ui.page.locator(".field.has-error")).to_contain_text("A host name")
        ui.axe("system-settings")
        ui.shot("system-settings")


def test_system_control_asks_before_restarting(ui, people, ui_settings, monkeypatch, tmp_path):
    from netconfig import control

    marker = tmp_path / "systemd"
    marker.mkdir()
    monkeypatch.setattr(control, "SYSTEMD_DIR", str(marker))  # a host that runs systemd
    ui_settings.DATA_DIR = tmp_path
    ui.login("alice")
    ui.goto("/maintenance/control/")
    expect(ui.page.locator("table.grid")).to_contain_text("fulcrum-worker.service")
    ui.axe("control")
    ui.page.click("a[href='/maintenance/control/restart/worker/']")
    expect(ui.page.locator("h1")).to_have_text("Restart worker?")
    assert not (tmp_path / control.REQUEST_FILE).exists()  # asking does nothing yet
    ui.axe("control-confirm")
    ui.shot("control-confirm")
    ui.page.click("#control-go")
    ui.page.wait_for_load_state("load")
    expect(ui.page.locator("body")).to_contain_text("Requested: systemctl restart fulcrum-worker.service.")
    assert (tmp_path / control.REQUEST_FILE).exists()
