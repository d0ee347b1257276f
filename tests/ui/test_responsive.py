"""The WebUI at a phone, a laptop and a desktop width: every page without sideways scrolling or cut-off
columns, a menu button on narrow screens, the overview's actions in reach, axe-core clean; and the
walkthrough's points (NPS VIP, checklists, apply output, reasons, diffs, advice) at each width."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.ui.test_browser import PAGES

pytestmark = [pytest.mark.ui, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {"phone": (390, 844), "laptop": (1366, 768), "desktop": (1920, 1080)}

# Fits the page: no sideways scroll of the page itself; for wide screens, no table needs its own
# horizontal scrollbar (a cut-off Delete/Revoke/MAC column).
FITS = """(wide) => {
  const doc = document.documentElement;
  const out = [];
  if (doc.scrollWidth > window.innerWidth + 1) out.push('page ' + doc.scrollWidth + ' > ' + window.innerWidth);
  if (wide) for (const w of document.querySelectorAll('.table-wrap')) {
    if (w.offsetParent && w.scrollWidth > w.clientWidth + 1)
      out.push('table ' + (w.querySelector('caption') || {}).textContent + ' ' + w.scrollWidth + ' > ' + w.clientWidth);
  }
  return out;
}"""


def _setup_walkthrough(demo):
    """What the pages below show: a weight edit, an SNAT IKEv2 service, an apply (and its re-check)."""
    import time

    from checklists.models import CheckRun
    from cluster.apply import apply_now
    from realservers.models import RealServer
    from tests.ui.demo import make_service

    web1 = RealServer.objects.get(service__label="web-https", label="web1")
    web1.weight = 75
    web1.save()
    make_service(label="ike-snat", vip="203.0.113.70", ports="500,4500", protocol="udp", method="snat",
                 check_type="none", servers=[("ike1", "10.6.0.11", {})])
    apply_now(actor="test")
    deadline = time.monotonic() + 15  # the after-apply re-check runs in a thread; SQLite allows one writer
    while CheckRun.objects.filter(status__in=[CheckRun.QUEUED, CheckRun.RUNNING]).exists():
        assert time.monotonic() < deadline, "the after-apply checklist run did not finish"
        time.sleep(0.2)


@pytest.mark.parametrize("width,height", list(VIEWPORTS.values()), ids=list(VIEWPORTS))
def test_every_page_fits_and_says_why(ui, people, demo, width, height):
    from virtualservices.models import VirtualService

    _setup_walkthrough(demo)
    narrow, wide = width < 900, width >= 1366
    ui.page.set_viewport_size({"width": width, "height": height})
    ui.name = f"{ui.name.split('[')[0]}-{width}"
    ui.login("alice")

    # Layout: the menu button below 900 px, no dark sidebar band behind the heading.
    toggle = ui.page.locator(".menu-toggle")
    if narrow:
        expect(toggle).to_be_visible()
        expect(ui.page.locator("#main-menu")).to_be_hidden()
        toggle.click()
        expect(ui.page.locator("#main-menu")).to_be_visible()
        expect(toggle).to_have_attribute("aria-expanded", "true")
        ui.shot("menu-open")
        toggle.click()
        assert ui.page.evaluate("() => getComputedStyle(document.querySelector('.shell')).backgroundImage") == "none"
    else:
        expect(toggle).to_be_hidden()
        expect(ui.page.locator("#main-menu")).to_be_visible()

    # The overview: the Drain/Halt buttons of a real server are on screen beside its name.
    ui.goto("/")
    seg = ui.page.locator("tr.rs .seg").first
    box, name = seg.bounding_box(), ui.page.locator("tr.rs td.indent").first.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, box
    assert name["x"] >= 0 and name["x"] + name["width"] <= width, name
    ui.shot("overview")

    misfits = {}
    pages = PAGES if width != 1920 else ["/", "/services/", "/servers/", "/maintenance/tokens/", "/local/",
                                         "/maintenance/users/", "/logs/"]
    for path in pages:
        assert ui.goto(path).status == 200, path
        bad = ui.page.evaluate(FITS, wide)
        if bad:
            misfits[path] = bad
        ui.axe(path)
    assert not misfits, misfits

    # 1. The NPS VIP: with IKEv2 on DR the wizard refuses NPS on the VPN VIP and says why.
    ui.goto("/wizards/aovpn/")
    ui.page.fill("#id_vip", "203.0.113.50")
    ui.page.fill("#id_vpn_servers", "10.8.0.11")
    ui.page.fill("#id_nps_servers", "10.8.0.21")
    ui.page.fill("#id_radius_secret", "radius-secret-1")
    ui.page.click("button[value=review]")
    expect(ui.page.locator("#id_nps_vip_error")).to_contain_text("separate internal VIP")
    ui.axe("nps vip refused")
    ui.shot("nps-vip-refused")

    # 2. The checklist of an AOVPN service: Windows first and open, numbered Copy steps, verified probes.
    sstp = VirtualService.objects.get(label="AOVPN-IKEv2")
    ui.goto(f"/services/{sstp.pk}/checklist/")
    first = ui.page.locator("details.cl-block").first
    expect(first).to_have_attribute("data-block", "windows_powershell")
    expect(first).to_have_attribute("open", "")
    expect(first.locator("button.cl-copy").first).to_be_visible()
    expect(ui.page.get_by_text("Verified from the appliance")).to_be_visible()
    nps = VirtualService.objects.get(label="AOVPN-NPS")
    ui.goto(f"/services/{nps.pk}/checklist/")
    expect(ui.page.get_by_text("Set the NPS VIP 203.0.113.11 as the RADIUS server on each VPN server")).to_be_visible()
    ui.axe("nps checklist")
    ui.shot("nps-checklist")

    # 3. Apply runs read like ipvsadm/iptables, grouped and counted; no raw entity.
    ui.goto("/logs/?tab=apply")
    ui.page.locator("details summary").first.click()
    commands = ui.page.locator("pre.commands").first
    expect(commands).to_contain_text("# ipvsadm: ")
    expect(commands).to_contain_text("ipvsadm -A -t 203.0.113.20:443 -s wlc")
    assert "&#" not in ui.page.locator("main").inner_text()
    ui.axe("apply runs")
    ui.shot("apply-runs")

    # 4. View Configuration says why a server has no -a line or weight 0.
    ui.goto("/config/")
    expect(ui.page.locator("main")).to_contain_text("web4 10.2.0.14 — drained by an operator: weight 0")
    expect(ui.page.locator("main")).to_contain_text("web3 10.2.0.13 — failing its health check")
    ui.shot("view-config")

    # 7. The change log names values: weight 100 → 75.
    ui.goto("/logs/")
    expect(ui.page.locator("tr", has_text="web1").first).to_contain_text("weight 100 → 75")
    ui.shot("change-log")

    # 8. Advice on the services list; Drain on the Real Servers list returns there.
    ui.goto("/services/")
    expect(ui.page.locator("tr", has_text="ike-snat")).to_contain_text("Advice: IKEv2 (UDP 500/4500) on SNAT")
    ui.goto("/servers/?search=10.2.0.11")
    ui.page.locator("tr", has_text="10.2.0.11").locator("button.b-drain").click()
    ui.page.wait_for_load_state("load")
    assert re.search(r"/servers/\?search=10\.2\.0\.11$", ui.page.url), ui.page.url
    expect(ui.page.locator("tr", has_text="10.2.0.11").locator("button.b-drain")).to_be_disabled()
    ui.axe("servers after drain")
    ui.shot("servers-drained")
