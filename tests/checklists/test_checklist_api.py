"""The checklist's results (model), the API, roles, the re-check task and the after-apply hook."""

from __future__ import annotations

import pytest

from checklists import runner, tasks
from checklists.models import CheckResult, CheckRun
from checklists.probes import engine as E

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(monkeypatch):
    """Celery without a broker: record what would be sent to the worker."""
    sent = []
    monkeypatch.setattr(tasks.run_checklist_task, "delay", lambda run_id: sent.append(run_id))
    return sent


def url(svc):
    return f"/api/v1/virtual-services/{svc.pk}/checklist"


def fake_probe(findings):
    def probe(targets, autonat_interface):
        probe.targets, probe.autonat = targets, autonat_interface
        return findings(targets)
    return probe


def dr_findings(targets):
    out = []
    for t in targets:
        out.append(E.Finding(t.id, None, E.ARP_VIP, E.FAIL, "Real servers answered ARP who-has: 02:aa = rs1",
                             {"macs": ["02:aa"]}))
        for rs in t.real_servers:
            bad = rs.label == "rs1"
            out.append(E.Finding(t.id, rs.id, E.SUBNET, E.PASS, "on back", {"appliance_address": "10.0.0.254"}))
            out.append(E.Finding(t.id, rs.id, E.ARP, E.FAIL if bad else E.PASS,
                                 f"{rs.label} (MAC 02:aa) answered" if bad else "no answer"))
            out.append(E.Finding(t.id, rs.id, E.ACCEPT, E.PASS, "SYN-ACK"))
    return out


def test_never_run_is_not_run_for_every_check_with_steps_and_fixes(api, make_service):
    svc = make_service(servers=[{}, {}], method="dr", vip="192.0.2.77")
    data = api.get(url(svc)).json()
    assert data["status"] == "not_run" and data["last_run"] is None and not data["running"]
    probed = [i for i in data["items"] if i["key"] == E.ARP_VIP]
    assert [i["status"] for i in probed] == ["not_run"]
    assert [[i["key"] for i in rs["items"]] for rs in data["real_servers"]] == [[E.SUBNET, E.ARP, E.ACCEPT]] * 2
    # one list: the probed checks, what the configuration shows, and the admin's steps (todo)
    known = {i["key"]: i for i in data["items"]}
    assert known["real_servers"]["status"] == "pass" and known["arp_problem"]["status"] == "todo"
    assert known["arp_problem"]["steps"] and known["listen_port"]["status"] == "todo"
    assert known["apply"]["status"] == "todo" and known["arp_problem"]["evidence"] == ""
    todo = sum(i["status"] == "todo" for i in data["items"])
    assert data["counts"] == {"pass": 1, "fail": 0, "warn": 0, "not_run": 7, "todo": todo}
    arp = data["real_servers"][0]["items"][1]
    assert arp["title"] == "rs1 does not answer ARP for 192.0.2.77" and "arp_ignore=1" in arp["fix"]
    assert set(data["steps"]) == {"linux", "linux_nmcli", "linux_netplan", "linux_ifupdown", "windows_powershell",
                                  "windows_netsh"}
    linux = "\n".join(s["commands"] for s in data["steps"]["linux"]["steps"])
    assert "ip addr add 192.0.2.77/32 dev lo" in linux
    assert api.get(url(svc) + "/").status_code == 200  # with or without the trailing slash


def test_a_run_stores_results_per_service_and_real_server_and_the_api_shows_them(api, make_service, monkeypatch):
    svc = make_service(servers=[{}, {"admin_state": "halt"}], method="dr")
    other = make_service(servers=[{}], method="snat")
    probe = fake_probe(dr_findings)
    monkeypatch.setattr(runner, "probe", probe)
    run = runner.execute(CheckRun.objects.create(service=svc))
    assert run.status == CheckRun.DONE and run.result_count == 4
    assert [t.id for t in probe.targets] == [svc.pk]  # one service asked for: only it is probed
    assert [rs.label for rs in probe.targets[0].real_servers] == ["rs1"]  # halted servers are not probed
    assert CheckResult.objects.filter(service=other).count() == 0
    data = api.get(url(svc)).json()
    assert data["status"] == "fail" and data["last_run"]["status"] == "done"
    rs1, rs2 = data["real_servers"]
    assert rs1["status"] == "fail" and rs1["items"][1]["evidence"] == "rs1 (MAC 02:aa) answered"
    assert rs1["items"][1]["checked_at"] and not rs1["items"][1]["stale"]
    assert rs2["status"] == "not_run"
    assert {i["key"]: i for i in data["items"]}[E.ARP_VIP]["facts"] == {"macs": ["02:aa"]}
    # a second run replaces, never piles up
    runner.execute(CheckRun.objects.create(service=svc))
    assert CheckResult.objects.filter(service=svc).count() == 4


def test_a_result_is_stale_once_the_real_server_changes(api, make_service, monkeypatch):
    svc = make_service(servers=[{}], method="dr")
    monkeypatch.setattr(runner, "probe", fake_probe(dr_findings))
    runner.execute(CheckRun.objects.create())
    rs = svc.real_servers.get()
    rs.weight = 5
    rs.save()
    assert all(i["stale"] for i in api.get(url(svc)).json()["real_servers"][0]["items"])


def test_a_crashing_probe_ends_the_run_failed_with_the_reason(make_service, monkeypatch):
    make_service(servers=[{}], method="nat")

    def boom(targets, autonat_interface):
        raise OSError("no such device")

    monkeypatch.setattr(runner, "probe", boom)
    run = runner.execute(CheckRun.objects.create())
    assert run.status == CheckRun.FAILED and "no such device" in run.error and run.finished_at


def test_nat_checklist_names_the_gateway_and_autonat(api, make_service, monkeypatch):
    from cluster.models import ClusterSettings, FloatingIP

    FloatingIP.objects.create(address="10.0.0.250", prefixlen=24, interface="back")
    svc = make_service(servers=[{}], method="nat")
    data = api.get(url(svc)).json()
    assert [i["key"] for i in data["items"] if i["status"] == "not_run"] == [E.FORWARDING]
    gateway = {i["key"]: i for i in data["items"]}["gateway"]
    assert gateway["status"] == "todo" and "Use a floating IP as gateway: 10.0.0.250" in gateway["fix"]
    items = {i["key"]: i for i in data["real_servers"][0]["items"]}
    assert "Make 10.0.0.250 rs1's default gateway" in items[E.GATEWAY]["fix"]
    assert "set the Autonat interface" in items[E.AUTONAT]["fix"]
    assert "ip route replace default via 10.0.0.250" in data["steps"]["linux"]["steps"][0]["commands"]
    settings = ClusterSettings.load()
    settings.autonat_interface = "wan"
    settings.save()
    monkeypatch.setattr(runner, "probe", fake_probe(lambda ts: []))
    runner.execute(CheckRun.objects.create())
    assert runner.probe.autonat == "wan"


def test_ikev2_on_snat_is_warned_and_on_dr_passes(api, make_service):
    snat = make_service(servers=[{}], method="snat", ports="500,4500", protocol="udp")
    item = {i["key"]: i for i in api.get(url(snat)).json()["items"]}["ikev2_method"]
    assert item["status"] == "warn" and "Windows limits IPsec" in item["evidence"] and "DR or NAT" in item["fix"]
    dr = make_service(servers=[{}], method="dr", ports="500,4500", protocol="udp", persistent=True)
    item = {i["key"]: i for i in api.get(url(dr)).json()["items"]}["ikev2_method"]
    assert item["status"] == "pass"


@pytest.mark.parametrize("role,code", [("admin", 202), ("operator", 202), ("readonly", 403)])
def test_recheck_needs_the_operate_capability(client_for, make_service, queued, role, code):
    svc = make_service(servers=[{}], method="dr")
    res = client_for(role).post(url(svc))
    assert res.status_code == code
    if code == 202:
        body = res.json()
        assert body["run"]["status"] == "queued" and body["run"]["service"] == svc.pk
        assert body["checklist"]["running"] is True and queued == [body["run"]["id"]]
    else:
        assert queued == []
    assert client_for(role).get(url(svc)).status_code == 200  # everyone signed in may read


def test_recheck_by_session_needs_csrf_and_anonymous_is_refused(client_for, anon, make_service, queued):
    svc = make_service(servers=[{}], method="dr")
    assert anon.get(url(svc)).status_code in (401, 403)
    assert anon.post(url(svc)).status_code in (401, 403)
    assert client_for("operator", auth="session").post(url(svc)).status_code == 202
    assert client_for("admin").get("/api/v1/virtual-services/999999/checklist").status_code == 404


def test_queued_runs_are_coalesced(make_service, queued):
    svc = make_service(servers=[{}], method="dr")
    first = tasks.start_recheck(reason="apply")
    assert tasks.start_recheck(reason="apply") == first
    assert tasks.start_recheck(svc) == first  # the queued run for all services covers this one
    assert len(queued) == 1


def test_a_successful_apply_queues_a_recheck_and_a_failed_one_does_not(make_service, queued, settings, tmp_path,
                                                                       monkeypatch, django_capture_on_commit_callbacks):
    from cluster import apply as apply_mod
    from cluster.models import ApplyRun

    settings.DATA_DIR = tmp_path
    monkeypatch.setattr(apply_mod, "dataplane_mode", lambda: "render-only")
    apply_mod.forget_verified_view()
    make_service(servers=[{}], method="dr")
    with django_capture_on_commit_callbacks(execute=True):
        run = apply_mod.apply_now(actor="tester")
    apply_mod.forget_verified_view()
    assert run.status == ApplyRun.SUCCESS
    check = CheckRun.objects.get()
    assert (check.reason, check.username, check.service) == ("apply", "tester", None) and queued == [check.pk]
    failed = ApplyRun.objects.create(username="x")
    with django_capture_on_commit_callbacks(execute=True):
        failed.status = ApplyRun.FAILED
        failed.save()
    assert CheckRun.objects.count() == 1


def test_the_task_runs_a_queued_run_once(make_service, monkeypatch):
    make_service(servers=[{}], method="dr")
    monkeypatch.setattr(runner, "probe", fake_probe(dr_findings))
    run = CheckRun.objects.create()
    assert tasks.run_checklist_task(run.pk) == "done"
    assert tasks.run_checklist_task(run.pk) == "skipped"


def test_the_partials_render_results_steps_and_copy_buttons(rf, make_service, users, monkeypatch):
    from django.template import Context, Template

    svc = make_service(servers=[{}], method="dr", vip="192.0.2.88")
    monkeypatch.setattr(runner, "probe", fake_probe(dr_findings))
    runner.execute(CheckRun.objects.create())
    request = rf.get("/")
    page = Template("{% load checklists %}{% service_checklist svc %}")
    for role, button in (("operator", True), ("readonly", False)):
        request.user = users[role]
        html = page.render(Context({"svc": svc, "request": request, "csrf_token": "tok"}))
        assert "rs1 (MAC 02:aa) answered" in html and "cl-fail" in html
        assert "ip addr add 192.0.2.88/32 dev lo" in html and "weakhostsend=enabled" in html
        assert html.count('class="button sm cl-copy"') >= 10
        assert ("cl-recheck" in html) is button
        assert html.count("checklists/checklists.js") == 1
    steps = Template("{% load checklists %}{% checklist_steps svc %}").render(Context({"svc": svc}))
    assert "New-NetIPAddress" in steps and "checklists/checklists.js" in steps


def test_an_unknown_gateway_is_a_placeholder_explained_never_prose_in_a_copy_block(api, make_service):
    svc = make_service(servers=[{}], method="nat")
    data = api.get(url(svc)).json()
    commands = "\n".join(s["commands"] for b in data["steps"].values() for s in b["steps"])
    assert "via GATEWAY" in commands and "appliance's address" not in commands
    assert data["steps_note"].startswith("Replace GATEWAY with")


def test_aovpn_services_put_windows_first(api, make_service):
    sstp = make_service(method="dr", check_type="sstp", ports="443", servers=[{}])
    web = make_service(method="dr", check_type="tcp", servers=[{}])
    assert list(api.get(url(sstp)).json()["steps"])[0] == "windows_powershell"
    assert list(api.get(url(web)).json()["steps"])[0] == "linux"


def test_a_forwarding_failure_on_a_render_only_appliance_says_no_apply_sets_it():
    failed = E.Finding(1, None, E.FORWARDING, E.FAIL, "net.ipv4.ip_forward = 0: …")
    passed = E.Finding(1, None, E.FORWARDING, E.PASS, "net.ipv4.ip_forward = 1 on the appliance.")
    noted = runner.with_dataplane_note([failed, passed], "render-only")
    assert "render-only dataplane" in noted[0].evidence and noted[1] == passed
    assert runner.with_dataplane_note([failed], "kernel") == [failed]


def test_tun_and_nps_services_get_their_numbered_steps(api, make_service):
    tun = make_service(method="tun", servers=[{}], vip="192.0.2.90")
    data = api.get(url(tun)).json()
    assert list(data["steps"]) == ["linux"]
    assert data["steps"]["linux"]["purpose"] == "the IP-in-IP tunnel for 192.0.2.90"
    assert "ip addr add 192.0.2.90/32 dev tunl0" in data["steps"]["linux"]["steps"][0]["commands"]
    nps = make_service(method="snat", check_type="radius", ports="1812", protocol="udp", servers=[{}],
                       vip="192.0.2.91", check_secret="s")
    data = api.get(url(nps)).json()
    assert list(data["steps"]) == ["windows_rras"]
    server = {i["key"]: i for i in data["items"]}["radius_server"]
    assert server["status"] == "todo" and server["steps"] == ["windows_rras"]
    assert "Add-RemoteAccessRadius -ServerName 192.0.2.91" in data["steps"]["windows_rras"]["steps"][0]["commands"]


def test_the_page_rechecks_through_htmx_and_polls_only_while_running(client, users, make_service, queued):
    svc = make_service(servers=[{}], method="dr")
    live = f"/services/{svc.pk}/checklist/live/"
    client.force_login(users["readonly"])
    page = client.get(f"/services/{svc.pk}/checklist/").content.decode()
    assert 'hx-trigger="every 2s"' not in page and "cl-recheck" not in page
    assert client.post(live).status_code == 403 and queued == []
    client.force_login(users["operator"])
    assert f'hx-post="{live}"' in client.get(f"/services/{svc.pk}/checklist/").content.decode()
    partial = client.post(live).content.decode()
    assert len(queued) == 1
    assert f'hx-get="{live}" hx-trigger="every 2s"' in partial and "Probes running" in partial
    CheckRun.objects.update(status=CheckRun.DONE)
    assert 'hx-trigger="every 2s"' not in client.get(live).content.decode()  # finished: the polling stops
