"""The WebUI in a real browser: the acceptance paths of the WebUI issue."""

from __future__ import annotations

import json
import re
import time

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.ui, pytest.mark.django_db(transaction=True)]


def test_login_and_overview(ui, people, demo):
    ui.goto("/")
    assert "/login/" in ui.page.url
    ui.axe("login")
    ui.shot("login")
    ui.login("alice", "wrong-password-123")
    expect(ui.page.locator(".errors")).to_be_visible()
    ui.login("alice")
    expect(ui.page.locator("h1")).to_have_text("System Overview")
    table = ui.page.locator("#overview-table")
    # Every state the legend lists is on the page, in words as well as colour.
    for state, text in [("up", "Up"), ("down", "Down"), ("drained", "Drained"), ("halted", "Halted"),
                        ("nocheck", "No check")]:
        expect(table.locator(f"tr.rs.st-{state} .pill.state").first).to_have_text(text)
    expect(ui.page.locator(".legend")).to_contain_text("Drained")
    expect(table.locator("tr.vs.st-degraded").first).to_be_visible()
    expect(table.locator("svg.spark polyline").first).to_have_attribute("points", re.compile(r"\d"))
    ui.axe("overview")
    ui.shot("overview")
    # Search narrows the table.
    ui.page.fill("#q", "smtp")
    ui.page.press("#q", "Enter")
    ui.page.wait_for_load_state("load")
    expect(ui.page.locator("tr.vs")).to_have_count(1)
    ui.shot("search")


def test_aovpn_wizard(ui, people):
    from virtualservices.models import VirtualService

    ui.login("alice")
    ui.goto("/wizards/aovpn/")
    ui.axe("wizard")
    ui.page.click("button[value=review]")  # empty: errors next to the fields
    expect(ui.page.locator("#id_vip_error")).to_be_visible()
    ui.page.fill("#id_vip", "203.0.113.50")
    ui.page.fill("#id_vpn_servers", "10.8.0.11\n10.8.0.12")
    ui.page.fill("#id_nps_servers", "10.8.0.21")
    ui.page.fill("#id_radius_secret", "radius-secret-1")
    ui.page.check("input[name=ikev2_method][value=nat]")
    ui.page.click("button[value=review]")
    review = ui.page.locator("table.grid")
    expect(review).to_contain_text("AOVPN-IKEv2")
    expect(review).to_contain_text("500,4500/udp")
    ui.axe("review")
    ui.shot("review")
    ui.page.click("button[value=create]")
    ui.page.wait_for_load_state("load")
    expect(ui.page.locator("h1")).to_have_text("Checklists for the new services")
    assert sorted(VirtualService.objects.values_list("label", flat=True)) == [
        "AOVPN-IKEv2", "AOVPN-NPS", "AOVPN-SSTP"]
    ike = VirtualService.objects.get(label="AOVPN-IKEv2")
    assert ike.method == "nat" and ike.persistent and ike.fwmark
    expect(ui.page.locator("section.card")).to_have_count(3)
    expect(ui.page.get_by_text("Make the load balancer each real server's default gateway").first).to_be_visible()
    expect(ui.page.get_by_text("as a RADIUS client on each NPS")).to_be_visible()
    expect(ui.page.get_by_text("as the RADIUS server on each VPN server")).to_be_visible()
    ui.axe("checklists")
    ui.shot("checklists")


def test_service_form_shows_the_settings_of_the_chosen_check(ui, people):
    """Only the health-check settings the chosen check reads are shown; an error is never hidden."""
    from virtualservices.models import VirtualService

    ui.login("alice")
    ui.goto("/services/add/")
    box = {name: ui.page.locator(f"#id_{name}").locator("xpath=ancestor::div[contains(@class,'field')][1]")
           for name in ("check_port", "check_interval", "check_method", "check_request", "check_secret",
                        "check_script")}

    def shown():
        return {name for name, loc in box.items() if loc.is_visible()}

    assert shown() == {"check_port", "check_interval"}  # TCP connect, the default
    ui.page.select_option("#id_check_type", "radius")
    assert shown() == {"check_port", "check_interval", "check_secret"}
    ui.page.select_option("#id_check_type", "sstp")
    assert shown() == {"check_port", "check_interval", "check_method", "check_request"}
    ui.page.select_option("#id_check_type", "none")
    assert shown() == set()
    ui.shot("check-none")
    # a RADIUS check without its secret: refused, and the secret's error is on screen
    for field, value in (("label", "nps"), ("vip", "203.0.113.60"), ("ports", "1812")):
        ui.page.fill(f"#id_{field}", value)
    for field, value in (("protocol", "udp"), ("check_type", "radius")):
        ui.page.select_option(f"#id_{field}", value)
    ui.page.click("button:has-text('Save virtual service')")
    ui.page.wait_for_load_state("load")
    expect(ui.page.locator("#id_check_secret_error")).to_be_visible()
    assert "check_secret" in shown()
    ui.axe("service-form-radius-error")
    assert not VirtualService.objects.filter(label="nps").exists()


def test_edit_weight_with_inline_errors(ui, people, demo):
    from realservers.models import RealServer

    rs = RealServer.objects.get(service__label="dns", label="ns1")  # a DR service: no port translation
    ui.login("alice")
    ui.goto("/")
    ui.page.click(f'tr[data-rs="{rs.pk}"] a')
    expect(ui.page.locator("h1")).to_contain_text("Modify real server")
    ui.page.fill("#id_weight", "70000")
    ui.page.fill("#id_port", "5353")
    ui.page.click("button[type=submit]")
    expect(ui.page.locator("#id_weight_error")).to_contain_text("65535")
    expect(ui.page.locator("#id_port_error")).to_contain_text("cannot translate ports")
    expect(ui.page.locator("#id_weight")).to_have_attribute("aria-invalid", "true")
    ui.axe("errors")
    ui.shot("inline-errors")
    ui.page.fill("#id_weight", "250")
    ui.page.fill("#id_port", "")
    ui.page.click("button[type=submit]")
    ui.page.wait_for_load_state("load")
    expect(ui.page.locator(".msg-success")).to_contain_text("saved")
    expect(ui.page.locator(f'tr[data-rs="{rs.pk}"] .c-weight')).to_have_text("250")
    rs.refresh_from_db()
    assert rs.weight == 250
    ui.shot("saved")


def test_drain_updates_overview_live_without_reload(ui, people, make_service):
    from realservers.actions import set_state
    from realservers.models import RealServer

    for i in range(30):  # enough rows to scroll
        make_service(label=f"svc-{i:02d}", vip=f"192.0.2.{i + 1}", ports="80", method="nat",
                     servers=[{"label": "a", "address": f"10.5.{i}.1"}, {"label": "b", "address": f"10.5.{i}.2"}])
    target = RealServer.objects.get(service__label="svc-20", label="a")
    other = RealServer.objects.get(service__label="svc-21", label="b")
    ui.login("oscar")  # an operator may drain
    ui.goto("/")
    row = ui.page.locator(f'tr[data-rs="{target.pk}"]')
    row.scroll_into_view_if_needed()
    ui.page.evaluate("() => { window.__noReload = true; }")
    scroll_before = ui.page.evaluate("() => window.scrollY")
    assert scroll_before > 0
    row.locator("button.b-drain").click()
    expect(row).to_have_class(re.compile(r"\bst-drained\b"), timeout=2500)
    expect(row.locator(".pill.state")).to_have_text("Drained")
    expect(row.locator("button.b-drain")).to_be_disabled()
    expect(ui.page.locator("#toast")).to_contain_text("drained")
    target.refresh_from_db()
    assert target.admin_state == "drain"
    # The Configuration card follows the pending count live, like the banner and the chip.
    from frontend.applyinfo import apply_summary

    expect(ui.page.locator("#config-state")).to_have_text(f"{apply_summary()['pending']} pending", timeout=3000)
    # A change made elsewhere (API, another admin) shows up within 2 s, in place.
    # The refresh morphs the table in place: the link that has the keyboard focus keeps it.
    other_row = ui.page.locator(f'tr[data-rs="{other.pk}"]')
    other_row.locator("a.to-health").focus()
    set_state([other], "halt")
    started = time.monotonic()
    expect(other_row).to_have_class(re.compile(r"\bst-halted\b"), timeout=3000)
    assert time.monotonic() - started <= 2.6
    assert ui.page.evaluate(f"() => document.activeElement.closest('tr[data-rs=\"{other.pk}\"]') !== null")
    assert ui.page.evaluate("() => window.__noReload") is True
    assert abs(ui.page.evaluate("() => window.scrollY") - scroll_before) < 2
    ui.axe("after drain")
    ui.shot("drained")


def test_health_page_and_live_kernel_table_update_in_place(ui, people, make_service):
    """A real server's health page shows a new transition within a refresh, without reloading; the
    kernel's live table (render-only here: what the last apply recorded) refreshes the same way."""
    from datetime import UTC, datetime

    from healthchecks.models import HealthEvent

    rs = make_service([{"label": "vpn1", "address": "10.6.0.11"}], check_type="tcp").real_servers.get()
    ui.login("rita")  # read-only may look
    ui.goto(f"/servers/{rs.pk}/health/")
    ui.page.evaluate("() => { window.__noReload = true; }")
    expect(ui.page.locator("#health-live")).to_contain_text("No health transitions recorded.")
    HealthEvent.objects.create(real_server=rs, at=datetime.now(UTC), old_state="up", new_state="down",
                               check_type="tcp", reason="connect timeout after 1.0 s", action="10.6.0.11:80 weight 0")
    type(rs).objects.filter(pk=rs.pk).update(health="down")
    expect(ui.page.locator("#health-live")).to_contain_text("connect timeout after 1.0 s", timeout=3000)
    expect(ui.page.locator("#health-live .pill").first).to_have_text("down")
    assert ui.page.evaluate("() => window.__noReload") is True
    ui.axe("health page after a transition")
    ui.shot("health-live")
    ui.goto("/config/?tab=live")
    ui.page.evaluate("() => { window.__noReload = true; }")
    region = ui.page.locator("#kernel-live")
    first = region.get_attribute("data-updated")
    ui.page.wait_for_function("(f) => document.getElementById('kernel-live').dataset.updated !== f", arg=first,
                              timeout=3000)
    assert ui.page.evaluate("() => window.__noReload") is True


def test_apply_progress_bar_finishes(ui, people, demo):
    ui.login("alice")
    ui.goto("/")
    expect(ui.page.locator("#pending-banner")).to_be_visible()
    ui.goto("/maintenance/apply/")
    ui.axe("apply")
    ui.page.click("#apply-start")
    result = ui.page.locator("#apply-box [data-result]")
    expect(result).to_be_visible(timeout=20_000)
    expect(result).to_contain_text("Rendered only (render-only dataplane)")
    expect(result).not_to_contain_text("to the kernel.")  # render-only never claims kernel changes
    commands = result.locator("pre.commands")  # what changed, as the admin's tools' lines
    expect(commands).to_contain_text("# ipvsadm: ")
    expect(commands).to_contain_text("ipvsadm -A -t 203.0.113.20:443 -s wlc")
    expect(commands).not_to_contain_text("IpvsService(")
    expect(ui.page.locator("#apply-box .progress")).to_have_attribute("aria-valuenow", "100")
    expect(ui.page.locator("#pending-chip")).to_have_text("Applied")
    ui.axe("applied")
    ui.shot("applied")
    from cluster.models import ApplyRun

    assert ApplyRun.objects.get().status == ApplyRun.SUCCESS
    # Now an edit marks its rows pending on the overview.
    from realservers.actions import set_state
    from realservers.models import RealServer

    set_state([RealServer.objects.get(service__label="web-https", label="web1")], "drain")
    ui.goto("/")
    expect(ui.page.locator("tr.rs.is-pending")).to_have_count(1)
    expect(ui.page.locator("tr.rs.is-pending .tag-pending")).to_be_visible()
    ui.shot("pending-row")


def test_readonly_sees_no_controls_and_is_refused(ui, people, demo):
    from realservers.models import RealServer

    rs = RealServer.objects.filter(service__label="web-https").first()
    ui.login("rita")
    ui.goto("/")
    expect(ui.page.locator("#overview-table tr.rs").first).to_be_visible()
    expect(ui.page.locator(".seg button")).to_have_count(0)
    expect(ui.page.get_by_role("link", name="Add virtual service")).to_have_count(0)
    expect(ui.page.locator("#overview-table a[href*='/edit/']")).to_have_count(0)
    ui.axe("readonly overview")
    ui.shot("readonly-overview")
    ui.goto("/maintenance/apply/")
    expect(ui.page.locator("#apply-start")).to_have_count(0)
    token = ui.csrf()
    # The server refuses what the page does not offer.
    for method, path in [("post", f"/servers/{rs.pk}/drain/"), ("get", "/services/add/"),
                         ("get", f"/servers/{rs.pk}/edit/"), ("post", f"/services/{rs.service_id}/delete/"),
                         ("get", "/maintenance/users/"), ("post", "/maintenance/backup/restore/"),
                         ("post", "/api/v1/apply/")]:
        response = getattr(ui.page.request, method)(ui.base + path, headers={"X-CSRFToken": token})
        assert response.status == 403, (method, path, response.status)
    rs.refresh_from_db()
    assert rs.admin_state == "online"
    response = ui.goto("/services/add/")
    assert response.status == 403
    expect(ui.page.locator("h1")).to_have_text("Not allowed")
    ui.axe("403")
    ui.shot("refused")
    ui.errors = [e for e in ui.errors if "status of 403" not in e]  # the refusal we asked for


def test_restore_backup_after_preview(ui, people, demo, tmp_path):
    from cluster.bundle import export_bundle
    from virtualservices.models import VirtualService

    bundle = export_bundle()
    bundle["virtual_services"] = [s for s in bundle["virtual_services"] if s["label"] != "smtp"]  # removed
    for s in bundle["virtual_services"]:
        if s["label"] == "dns":
            s["scheduler"] = "rr"  # changed
            s["real_servers"][0]["weight"] = 75  # a real server changed
            s["real_servers"].append({**s["real_servers"][0], "label": "ns3", "address": "10.4.0.13"})
    bundle["virtual_services"].append({**bundle["virtual_services"][-1], "label": "imap", "vip": "203.0.113.143",
                                       "ports": "993", "fwmark": None, "real_servers": []})  # added
    path = tmp_path / "backup.json"
    path.write_text(json.dumps(bundle))

    ui.login("alice")
    ui.goto("/maintenance/backup/")
    ui.axe("backup")
    with ui.page.expect_download() as download:
        ui.page.click("text=Download backup")
    assert json.loads(open(download.value.path()).read())["format"] == "fulcrum-config"
    ui.page.set_input_files("#id_bundle", str(path))
    ui.page.click("text=Preview the restore")
    ui.page.wait_for_load_state("load")
    diff = ui.page.locator("#restore-diff")
    expect(diff.get_by_role("row", name="Added Service imap")).to_be_visible()
    expect(diff.get_by_role("row", name="Removed Service smtp")).to_be_visible()
    expect(diff.get_by_role("row", name="Removed Real server smtp/mx1")).to_be_visible()  # real servers listed too
    expect(diff.locator("tr", has_text="Service dns")).to_contain_text("scheduler wlc → rr")  # values, not names
    expect(diff.locator("tr", has_text="Real server dns/ns1")).to_contain_text("weight 100 → 75")
    expect(diff.get_by_role("row", name="Added Real server dns/ns3")).to_be_visible()
    assert VirtualService.objects.filter(label="smtp").exists()  # nothing changed yet
    ui.axe("preview")
    ui.shot("preview")
    ui.page.click("text=Restore this configuration")
    ui.page.wait_for_load_state("load")
    expect(ui.page.locator(".msg-success")).to_contain_text("Configuration restored")
    assert not VirtualService.objects.filter(label="smtp").exists()
    assert VirtualService.objects.get(label="dns").scheduler == "rr"
    assert VirtualService.objects.filter(label="imap").exists()
    ui.shot("restored")


PAGES = ["/", "/services/", "/services/add/", "/servers/", "/wizards/aovpn/", "/cluster/advanced/",
         "/cluster/floating-ips/", "/cluster/floating-ips/add/", "/cluster/ha/", "/local/", "/local/management/",
         "/local/management/add/", "/maintenance/apply/",
         "/maintenance/backup/", "/maintenance/users/", "/maintenance/users/add/", "/maintenance/tokens/",
         "/account/password/", "/config/", "/config/?tab=keepalived", "/config/?tab=live", "/reports/",
         "/logs/", "/logs/?tab=apply", "/logs/?tab=health"]


def test_every_page_renders_accessibly(ui, people, demo):
    from virtualservices.models import VirtualService

    svc = VirtualService.objects.get(label="web-https")
    rs = svc.real_servers.first()
    ui.login("alice")
    for path in PAGES + [f"/services/{svc.pk}/edit/", f"/services/{svc.pk}/checklist/",
                         f"/services/{svc.pk}/servers/add/", f"/servers/{rs.pk}/edit/", f"/servers/{rs.pk}/health/",
                         f"/services/{svc.pk}/delete/"]:
        response = ui.goto(path)
        assert response.status == 200, (path, response.status)
        if path == "/reports/":
            ui.page.wait_for_selector("#chart-conns .uplot")
        ui.axe(path)
        label = re.sub(r"[^a-z0-9]+", "-", re.sub(r"\d+", "id", path).strip("/").lower()) or "overview"
        ui.shot(label)
    # API tokens: shown once, then revocable.
    ui.goto("/maintenance/tokens/")
    ui.page.fill("#id_name", "ansible")
    ui.page.click("text=Create token")
    key = ui.page.locator("#new-key").inner_text()
    assert key.startswith("flc_")
    ui.shot("token-created")
    ui.goto("/maintenance/tokens/")
    expect(ui.page.locator("#new-key")).to_have_count(0)
    ui.page.click("button:has-text('Revoke')")
    ui.page.wait_for_load_state("load")
    expect(ui.page.locator("table.grid").first).to_contain_text("Revoked")
