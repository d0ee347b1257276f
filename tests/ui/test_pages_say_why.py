"""Server-rendered pages that explain themselves: View Configuration's reasons, apply output as commands,
change diffs, a fresh install with nothing pending (no browser)."""

from __future__ import annotations

import pytest

from dataplane.compiler import weight_decision
from dataplane.config import HEALTH_DOWN, HEALTH_UP, ON_DOWN_QUIESCE, ON_DOWN_REMOVE, RealServerSpec


def test_each_missing_line_or_zero_weight_has_its_reason():
    up = RealServerSpec(1, "a", "10.0.0.1", None, health=HEALTH_UP)
    assert weight_decision(up, ON_DOWN_QUIESCE) == (100, "")
    down = RealServerSpec(1, "a", "10.0.0.1", None, health=HEALTH_DOWN)
    assert weight_decision(down, ON_DOWN_REMOVE)[0] is None
    assert "health check" in weight_decision(down, ON_DOWN_REMOVE)[1]
    assert weight_decision(down, ON_DOWN_QUIESCE)[0] == 0
    assert "drained" in weight_decision(RealServerSpec(1, "a", "10.0.0.1", None, admin_state="drain"), "")[1]
    assert "halted" in weight_decision(RealServerSpec(1, "a", "10.0.0.1", None, admin_state="halt"), "")[1]


@pytest.fixture
def farm(make_service):
    svc = make_service(label="web", servers=[{"label": "ok", "address": "10.0.0.1"},
                                             {"label": "tired", "address": "10.0.0.2", "admin_state": "drain"},
                                             {"label": "gone", "address": "10.0.0.3", "admin_state": "halt"},
                                             {"label": "sick", "address": "10.0.0.4"}], check_type="tcp",
                       on_down="remove")
    svc.real_servers.filter(label="sick").update(health="down")
    return svc


def test_view_configuration_notes_each_server_it_leaves_out(client, admin, farm, settings):
    settings.FULCRUM_DATAPLANE = "render-only"
    client.force_login(admin)
    body = client.get("/config/").content.decode()
    assert "# web: tired 10.0.0.2 — drained by an operator: weight 0" in body
    assert "# web: gone 10.0.0.3 — halted by an operator: not in the table" in body
    assert "# web: sick 10.0.0.4 — failing its health check: removed from the table" in body
    assert "# web: ok" not in body


def test_apply_runs_log_shows_commands_grouped(client, admin, farm, settings):
    from cluster.apply import apply_now

    settings.FULCRUM_DATAPLANE = "render-only"
    from cluster.mode import dataplane_mode

    dataplane_mode.cache_clear()
    try:
        run = apply_now(actor="test")
    finally:
        dataplane_mode.cache_clear()
    client.force_login(admin)
    body = client.get("/logs/?tab=apply").content.decode()
    assert "# ipvsadm: " in body and "ipvsadm -a -t 192.0.2.1:80 -r 10.0.0.1:80" in body
    assert "&amp;#" not in body and "IpvsService(" not in body
    assert run.commands() in run.report()


def test_a_fresh_install_has_nothing_pending(client, admin):
    from cluster.models import ClusterSettings

    ClusterSettings.load()
    client.force_login(admin)
    assert client.get("/").context["apply_state"]["pending"] == 0


def test_the_real_servers_list_drains_and_returns_there(client, operator, farm):
    client.force_login(operator)
    rs = farm.real_servers.get(label="ok")
    page = client.get("/servers/?search=10.0.0").content.decode()
    assert f'action="/servers/{rs.pk}/drain/"' in page
    response = client.post(f"/servers/{rs.pk}/drain/", {"next": "/servers/?search=10.0.0"})
    assert response.status_code == 302 and response["Location"] == "/servers/?search=10.0.0"
    rs.refresh_from_db()
    assert rs.admin_state == "drain"
    response = client.post(f"/servers/{rs.pk}/online/", {"next": "https://example.com/"})
    assert response["Location"] == "/"  # never off-site


def test_saving_a_real_server_returns_where_the_admin_came_from(client, admin, farm):
    client.force_login(admin)
    rs = farm.real_servers.get(label="ok")
    form = client.get(f"/servers/{rs.pk}/edit/?next=/servers/%3Fq%3D10").content.decode()
    assert 'name="next" value="/servers/?q=10"' in form
    fields = {"label": "ok", "address": "10.0.0.1", "weight": 75, "min_conns": 0, "max_conns": 0,
              "admin_state": "online", "next": "/servers/?q=10"}
    response = client.post(f"/servers/{rs.pk}/edit/", fields)
    assert response.status_code == 302 and response["Location"] == "/servers/?q=10", response.content[:2000]


def test_the_service_checklist_page_has_the_probes_and_numbered_copy_steps(client, admin, make_service):
    svc = make_service(method="dr", check_type="sstp", ports="443", servers=[{}])
    client.force_login(admin)
    page = client.get(f"/services/{svc.pk}/checklist/").content.decode()
    assert "Verified from the appliance" in page and 'cl-copy" data-copy=' in page and "<ol>" in page
    assert page.index('data-block="windows_powershell"') < page.index('data-block="linux"')


def _source_towards(address: str) -> str:
    """What `ip route get` says the source would be (independent of the code under test)."""
    import re
    import subprocess

    out = subprocess.run(["ip", "route", "get", address], capture_output=True, text=True).stdout
    found = re.search(r"\bsrc (\S+)", out)
    return found.group(1) if found and not out.startswith(("local", "unreachable")) else ""


def test_the_nps_checklist_fills_in_addresses_and_points_rras_at_the_nps_vip(client, admin):
    from cluster.aovpn import AovpnRequest, create_aovpn

    created = create_aovpn(AovpnRequest(vip="192.0.2.10", vpn_servers=["198.51.100.11"], nps_vip="192.0.2.11",
                                        nps_servers=["198.51.100.21"], radius_secret="s"))
    nps = next(s for s in created if s.label.endswith("NPS"))
    client.force_login(admin)
    page = client.get(f"/services/{nps.pk}/checklist/").content.decode()
    source = _source_towards("198.51.100.21")  # the address NPS sees every request from, with SNAT
    me = source or "the appliance's address facing the NPS servers (no route to them now)"
    assert f"Add the load balancer ({me}) as a RADIUS client on each NPS" in page
    assert "Set the NPS VIP 192.0.2.11 as the RADIUS server on each VPN server" in page
    assert "On 198.51.100.11 (IKEv2-1, SSTP-1): authentication and accounting go to 192.0.2.11" in page
    assert "Add-RemoteAccessRadius -ServerName 192.0.2.11 -Purpose Authentication" in page


def test_cli_and_api_show_the_same_command_text(api, farm, settings):
    import io

    from django.core.management import call_command

    from cluster.mode import dataplane_mode
    from cluster.models import ApplyRun

    settings.FULCRUM_DATAPLANE = "render-only"
    dataplane_mode.cache_clear()
    try:
        out = io.StringIO()
        call_command("apply", stdout=out)
    finally:
        dataplane_mode.cache_clear()
    run = ApplyRun.objects.get()
    text = out.getvalue()
    assert "operations in" in text and "# ipvsadm: " in text and "ipvsadm -A -t 192.0.2.1:80 -s wlc" in text
    body = api.get(f"/api/v1/apply/runs/{run.pk}/").json()
    assert body["commands"] == run.commands() and body["commands"] in text


def test_a_text_report_lists_at_most_50_operations_and_counts_the_rest():
    from cluster.models import ApplyRun

    run = ApplyRun(pk=9, status=ApplyRun.SUCCESS, dataplane="kernel", operation_count=60,
                   operations=[f"ipvsadm -D -f {n}" for n in range(1, 61)])
    report = run.report()
    assert "ipvsadm -D -f 50" in report and "ipvsadm -D -f 51" not in report
    assert report.splitlines()[-1] == "# … and 10 more operations not shown"
    assert "ipvsadm -D -f 60" in run.commands()
