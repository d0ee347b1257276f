"""Server-side checks of the WebUI that need no browser: roles, throttling, idle timeout, sampler, queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.conftest import PASSWORD


@pytest.fixture
def svc(make_service):
    return make_service(servers=[{"label": "a", "address": "10.0.0.1"}, {"label": "b", "address": "10.0.0.2"}])


def _urls(svc):
    rs = svc.real_servers.first()
    return {
        "configure": [("get", "/services/add/"), ("get", f"/services/{svc.pk}/edit/"),
                      ("post", f"/services/{svc.pk}/delete/"), ("get", f"/services/{svc.pk}/servers/add/"),
                      ("get", f"/servers/{rs.pk}/edit/"), ("post", f"/servers/{rs.pk}/delete/"),
                      ("get", "/wizards/aovpn/"), ("post", "/cluster/advanced/"), ("get", "/cluster/floating-ips/add/"),
                      ("get", "/local/management/add/"), ("post", "/local/management/add/"),
                      ("get", "/maintenance/users/"), ("get", "/maintenance/users/add/"),
                      ("post", "/maintenance/backup/"), ("post", "/maintenance/backup/restore/")],
        "operate": [("post", f"/servers/{rs.pk}/drain/"), ("post", f"/servers/{rs.pk}/halt/"),
                    ("post", "/maintenance/apply/start/")],
    }


def test_readonly_is_refused_every_change(client, readonly, svc):
    client.force_login(readonly)
    for kind in ("configure", "operate"):
        for method, url in _urls(svc)[kind]:
            assert getattr(client, method)(url).status_code == 403, (method, url)
    assert set(svc.real_servers.values_list("admin_state", flat=True)) == {"online"}


def test_operator_may_drain_but_not_configure(client, operator, svc):
    client.force_login(operator)
    for method, url in _urls(svc)["configure"]:
        assert getattr(client, method)(url).status_code == 403, (method, url)
    rs = svc.real_servers.first()
    response = client.post(f"/servers/{rs.pk}/drain/", HTTP_HX_REQUEST="true")
    assert response.status_code == 204 and "fulcrum:refresh" in response["HX-Trigger"]
    rs.refresh_from_db()
    assert rs.admin_state == "drain"


def test_anonymous_gets_the_login_page_for_every_page(client, svc):
    from django.urls import get_resolver

    for pattern in get_resolver("frontend.urls").url_patterns:
        route = str(pattern.pattern)
        if route.startswith(("login", "logout")):
            continue
        url = "/" + route.replace("<int:pk>", str(svc.pk)).replace("<int:service_pk>", str(svc.pk)).replace(
            "<str:action>", "drain")
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"], url


def test_login_throttled_after_five_failures(client, admin):
    for _ in range(5):
        assert client.post("/login/", {"username": "alice", "password": "nope-nope-nope"}).status_code == 200
    response = client.post("/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    from axes.models import AccessAttempt

    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert client.post("/login/", {"username": "alice", "password": PASSWORD}).status_code == 302


def test_idle_session_ends_but_polling_does_not_keep_it_alive(client, admin, svc):
    client.force_login(admin)
    assert client.get("/").status_code == 200
    session = client.session
    session["last_seen"] = int(timezone.now().timestamp()) - 10
    session.save()
    assert client.get("/overview/live/", HTTP_X_FULCRUM_POLL="1").status_code == 200
    assert client.session["last_seen"] == session["last_seen"]  # a poll is not activity
    session = client.session
    session["last_seen"] = int(timezone.now().timestamp()) - 31 * 60
    session.save()
    response = client.get("/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_overview_live_partial(client, admin, svc):
    """The 2-second refresh: the table for #overview-live, the tiles and the pending chip out of band."""
    client.force_login(admin)
    rs = svc.real_servers.first()
    page = client.get("/overview/live/", HTTP_HX_REQUEST="true", HTTP_X_FULCRUM_POLL="1").content.decode()
    assert "<html" not in page and f'data-rs="{rs.pk}"' in page and f'data-vs="{svc.pk}"' in page
    assert 'id="overview-tiles" aria-label="Summary" hx-swap-oob="morph"' in page
    assert '<a id="pending-chip" hx-swap-oob="morph"' in page and " pending</a>" in page
    full = client.get("/").content.decode()
    assert 'id="overview-live"' in full and 'hx-swap-oob' not in full  # the page itself swaps nothing


def test_health_page_and_kernel_table_polls_get_only_their_part(client, admin, svc):
    """htmx's poll (HX-Target names the live block) gets the block's body; a plain GET the whole page."""
    client.force_login(admin)
    rs = svc.real_servers.first()
    poll = {"HTTP_HX_REQUEST": "true", "HTTP_X_FULCRUM_POLL": "1"}
    part = client.get(f"/servers/{rs.pk}/health/", HTTP_HX_TARGET="health-live", **poll).content.decode()
    whole = client.get(f"/servers/{rs.pk}/health/").content.decode()
    assert "<html" not in part and "<dt>State</dt>" in part
    assert "<html" in whole and 'id="health-live"' in whole
    table = client.get("/config/?tab=live", HTTP_HX_TARGET="kernel-live", **poll).content.decode()
    assert "<html" not in table and "ipvsadm" not in table  # no rendered sections: only the live table
    assert "<html" in client.get("/config/?tab=live").content.decode()


def test_overview_live_keeps_the_filter(client, admin, svc, make_service):
    client.force_login(admin)
    other = make_service(label="other", vip="198.51.100.9")
    page = client.get("/?q=other").content.decode()
    assert 'hx-get="/overview/live/?q=other' in page
    live = client.get("/overview/live/?q=other").content.decode()
    assert f'data-vs="{other.pk}"' in live and f'data-vs="{svc.pk}"' not in live


def test_overview_rows_link_where_urls_py_says(client, admin, svc):
    from django.urls import reverse

    client.force_login(admin)
    page = client.get("/").content.decode()
    rs = svc.real_servers.first()
    for name, kwargs in (("service-edit", {"pk": svc.pk}), ("service-checklist", {"pk": svc.pk}),
                         ("server-add", {"service_pk": svc.pk}), ("server-edit", {"pk": rs.pk}),
                         ("server-health", {"pk": rs.pk}), ("server-state", {"pk": rs.pk, "action": "drain"})):
        assert f'"{reverse(name, kwargs=kwargs)}"' in page, name


def test_the_list_pages_filter_with_the_apis_filtersets(client, admin, api, make_service):
    """One FilterSet per list: a page and its API answer the same rows for the same query."""
    web = make_service(label="web", vip="192.0.2.80", method="dr", description="shop front",
                       servers=[{"label": "w1", "address": "10.3.0.1"}, {"label": "w2", "address": "10.3.0.2",
                                                                         "admin_state": "drain"}])
    make_service(label="mail", vip="192.0.2.81", method="nat", servers=[{"label": "m1", "address": "10.4.0.1"}])
    client.force_login(admin)
    for query, labels in (("search=shop", ["web"]), ("method=nat", ["mail"]), ("search=192.0.2.8&method=dr", ["web"]),
                          ("label__ic=MA", ["mail"])):
        page = client.get(f"/services/?{query}").context["page"]
        assert [s.label for s in page.object_list] == labels, query
        assert [s["label"] for s in api.get(f"/api/v1/virtual-services/?{query}").json()["results"]] == labels
    for query, labels in (("search=10.3.0", ["w1", "w2"]), ("admin_state=drain", ["w2"]), ("search=mail", ["m1"]),
                          (f"service={web.pk}&admin_state=online", ["w1"])):
        page = client.get(f"/servers/?{query}").context["page"]
        assert sorted(rs.label for rs in page.object_list) == labels, query
        answer = api.get(f"/api/v1/real-servers/?{query}").json()["results"]
        assert sorted(rs["label"] for rs in answer) == labels
    assert 'name="admin_state"' in client.get("/servers/").content.decode()


@pytest.mark.parametrize("n", [3, 30])
def test_overview_query_count_constant(client, admin, make_service, django_assert_max_num_queries, n):
    for i in range(n):
        make_service(label=f"s{i}", vip=f"192.0.2.{i + 1}", servers=[{"address": f"10.1.{i}.1"}])
    client.force_login(admin)
    client.get("/")
    # +1 each since issue 12: the top bar says whether Auto apply is on.
    with django_assert_max_num_queries(15):
        assert client.get("/?per_page=0").status_code == 200
    with django_assert_max_num_queries(11):
        assert client.get("/overview/live/").status_code == 200
    with django_assert_max_num_queries(10):
        assert client.get("/services/").status_code == 200


def test_sampler_rates_counter_reset_and_history(db, make_service):
    from reports.models import ServiceSample, ServiceStats
    from reports.sampling import SPARK_POINTS, sample

    svc = make_service(servers=[{"address": "10.0.0.1"}])
    rs = svc.real_servers.get()
    t0 = timezone.now()

    def status(conns, inb, outb, active=5):
        return {"services": [{"label": svc.label, "active_conns": active, "inactive_conns": 2, "conns": conns,
                              "inbytes": inb, "outbytes": outb,
                              "real_servers": [{"id": rs.id, "active_conns": active, "inactive_conns": 2}]}]}

    assert sample(status(100, 1000, 5000), now=t0) == 1
    sample(status(160, 7000, 17000), now=t0 + timedelta(seconds=60))
    stats = ServiceStats.objects.get()
    assert (stats.cps, stats.in_bps, stats.out_bps) == (1.0, 100.0, 200.0)
    assert stats.servers == {str(rs.id): [5, 2]}
    sample(status(30, 600, 1200), now=t0 + timedelta(seconds=120))  # counters reset (service re-created)
    stats.refresh_from_db()
    assert (stats.cps, stats.in_bps) == (0.5, 10.0)
    sample(status(40, 700, 1300), now=t0 + timedelta(seconds=130))  # live only: no history row within a minute
    assert ServiceSample.objects.count() == 3
    for k in range(SPARK_POINTS + 5):
        sample(status(50 + k, 800, 1400, active=k), now=t0 + timedelta(minutes=3 + k))
    stats.refresh_from_db()
    assert len(stats.spark) == SPARK_POINTS and stats.spark[-1][0] == SPARK_POINTS + 4


def test_sampler_prunes_old_history_and_deleted_services(db, make_service):
    from reports.models import ServiceSample, ServiceStats
    from reports.sampling import RETENTION, sample

    keep, gone = make_service(), make_service()
    old = timezone.now() - RETENTION - timedelta(hours=1)
    sample({"services": [{"label": keep.label}, {"label": gone.label}]}, now=old)
    gone.delete()
    sample({"services": [{"label": keep.label}]})
    assert list(ServiceStats.objects.values_list("label", flat=True)) == [keep.label]
    assert ServiceSample.objects.filter(time__lt=timezone.now() - RETENTION).count() == 0


def test_sample_task_without_a_status_source_does_nothing(db, monkeypatch):
    from reports import tasks

    monkeypatch.setattr(tasks, "read_status", lambda: None)
    assert tasks.sample_stats() == 0


def test_restore_preview_changes_nothing_until_confirmed(client, admin, svc):
    import json

    from django.core.files.uploadedfile import SimpleUploadedFile

    from cluster.bundle import export_bundle
    from virtualservices.models import VirtualService

    bundle = export_bundle()
    bundle["virtual_services"] = []
    client.force_login(admin)
    upload = SimpleUploadedFile("b.json", json.dumps(bundle).encode(), content_type="application/json")
    response = client.post("/maintenance/backup/", {"bundle": upload})
    assert response.status_code == 200 and svc.label in response.content.decode()
    assert VirtualService.objects.count() == 1
    assert client.post("/maintenance/backup/restore/", {"key": "forged"}).status_code == 403
    key = response.context["key"]
    assert client.post("/maintenance/backup/restore/", {"key": key}).status_code == 302
    assert VirtualService.objects.count() == 0
    bad = SimpleUploadedFile("b.json", b'{"format": "nope"}', content_type="application/json")
    response = client.post("/maintenance/backup/", {"bundle": bad})
    assert "Not a Fulcrum configuration bundle" in response.content.decode()


def test_only_admins_download_a_backup(client, make_user):
    """The backup holds RADIUS secrets: the UI refuses other roles exactly as the API does."""
    for role, expected in (("operator", 403), ("readonly", 403), ("admin", 200)):
        user = make_user(f"bk-{role}", role)
        client.force_login(user)
        assert client.get("/maintenance/backup/download/").status_code == expected, role


def test_delete_pages_ask_then_delete(client, admin, make_user, make_service):
    from django.contrib.auth import get_user_model

    from cluster.models import FloatingIP
    from realservers.models import RealServer
    from virtualservices.models import VirtualService

    svc = make_service(servers=[{}])
    rs = svc.real_servers.get()
    fip = FloatingIP.objects.create(address="10.0.9.1", prefixlen=24, interface="eth1")
    other = make_user("to-delete", "readonly")
    client.force_login(admin)
    cases = (
        (f"/servers/{rs.pk}/delete/", lambda: not RealServer.objects.filter(pk=rs.pk).exists()),
        (f"/services/{svc.pk}/delete/", lambda: not VirtualService.objects.filter(pk=svc.pk).exists()),
        (f"/cluster/floating-ips/{fip.pk}/delete/", lambda: not FloatingIP.objects.filter(pk=fip.pk).exists()),
        (f"/maintenance/users/{other.pk}/delete/", lambda: not get_user_model().objects.filter(pk=other.pk).exists()),
    )
    for url, gone in cases:
        page = client.get(url)
        assert page.status_code == 200 and b"Delete" in page.content, url
        assert not gone(), url
        assert client.post(url).status_code == 302, url
        assert gone(), url


def test_ha_page_pairs_and_says_why_not(client, admin, readonly):
    """Pairing from the WebUI: the form checks its input, and a refusal is shown, not a 500."""
    client.force_login(admin)
    page = client.get("/cluster/ha/")
    assert page.status_code == 200 and b"Pair" in page.content
    bad = client.post("/cluster/ha/", {"action": "pair", "peer_address": "127.0.0.1", "peer_port": 1,
                                       "scheme": "http", "role": "master"})
    assert b"username and password, or a pairing token" in bad.content
    refused = client.post("/cluster/ha/", {"action": "pair", "peer_address": "127.0.0.1", "peer_port": 1,
                                           "scheme": "http", "role": "master", "token": "x"})
    assert refused.status_code == 200 and b"Pairing refused" in refused.content
    client.force_login(readonly)
    assert client.post("/cluster/ha/", {"action": "pair", "peer_address": "127.0.0.1", "peer_port": 1,
                                        "token": "x"}).status_code == 403


def test_management_access_page_keeps_the_admin_in_and_logs_changes(client, admin, readonly):
    """The lockdown page checks what the API checks: canonical networks, no duplicates, never a set
    that locks out the admin saving it; each change is in the change log with its user."""
    from audit.models import ChangeRecord
    from operations.models import ManagementNetwork

    me = {"REMOTE_ADDR": "10.20.0.5"}  # the admin's PC, not loopback (the console is never locked out)
    client.force_login(readonly)
    assert client.get("/local/management/", **me).status_code == 200
    assert client.post("/local/management/add/", {"network": "10.20.0.0/24"}, **me).status_code == 403
    client.force_login(admin)
    page = client.get("/local/management/", **me).content.decode()
    assert "10.20.0.5" in page and "no networks listed" in page

    # a network that does not hold the admin's address: refused on the field, nothing saved
    res = client.post("/local/management/add/", {"network": "192.0.2.0/24"}, **me)
    assert res.status_code == 200 and "would lock you out" in res.context["form"].errors["network"][0]
    assert not ManagementNetwork.objects.exists()
    res = client.post("/local/management/add/", {"network": "10.20.0.0/33"}, **me)
    assert "is not an IPv4/IPv6 address or network" in res.context["form"].errors["network"][0]

    # their own network (written loosely: stored canonical), then a second one
    assert client.post("/local/management/add/", {"network": "10.20.0.9/24", "description": "NOC"},
                       **me).status_code == 302
    own = ManagementNetwork.objects.get()
    assert own.network == "10.20.0.0/24"
    res = client.post("/local/management/add/", {"network": "10.20.0.1/24"}, **me)
    assert res.context["form"].errors["network"] == ["10.20.0.0/24 is already a management network."]
    assert client.post("/local/management/add/", {"network": "fd00:20::/64"}, **me).status_code == 302
    other = ManagementNetwork.objects.get(network="fd00:20::/64")

    # moving or deleting the admin's own network would lock them out: refused, kept
    res = client.post(f"/local/management/{own.pk}/edit/", {"network": "10.30.0.0/24"}, **me)
    assert "would lock you out" in res.context["form"].errors["network"][0]
    res = client.post(f"/local/management/{own.pk}/delete/", **me, follow=True)
    assert "would lock you out" in res.content.decode()
    assert ManagementNetwork.objects.filter(pk=own.pk, network="10.20.0.0/24").exists()
    assert client.post(f"/local/management/{other.pk}/delete/", **me).status_code == 302

    page = client.get("/local/management/", **me).content.decode()
    assert 'class="mono">10.20.0.0/24<' in page and 'class="mono">fd00:20::/64<' not in page
    assert "st-up\">allowed" in page
    logged = ChangeRecord.objects.filter(object_type="managementnetwork").values_list("action", "username")
    assert sorted(logged) == sorted([("create", "alice"), ("create", "alice"), ("delete", "alice")])
    # outside the networks now: the middleware turns the address away before any page
    assert client.get("/local/management/", REMOTE_ADDR="192.0.2.7").status_code == 403


def test_apply_progress_polls_until_the_run_ends(client, operator, svc):
    """A running apply's progress asks again (hx-trigger); the finished one stops, shows the result and
    sends the card's head, the history and the pending chip out of band, with a toast."""
    from cluster.models import ApplyRun

    client.force_login(operator)
    run = ApplyRun.objects.create(username="oscar", status=ApplyRun.RUNNING, progress_done=3, progress_total=12)
    running = client.get(f"/maintenance/apply/runs/{run.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 400ms"' in running and 'aria-valuenow="25"' in running
    assert "Applying: 3 of 12 operations" in running and "apply-history" not in running
    ApplyRun.objects.filter(pk=run.pk).update(status=ApplyRun.FAILED, error="ipvs said no")
    response = client.get(f"/maintenance/apply/runs/{run.pk}/", HTTP_HX_REQUEST="true")
    done = response.content.decode()
    assert "hx-trigger" not in done and "Apply failed; the kernel was rolled back." in done and "ipvs said no" in done
    assert '<div id="apply-history" hx-swap-oob="morph">' in done
    assert '<div id="apply-head" hx-swap-oob="morph">' in done
    assert "Apply failed." in response["HX-Trigger"]


def test_apply_start_answers_the_progress_or_goes_back_to_the_page(client, operator, svc, settings):
    """Apply now (an operator may): htmx gets the progress (here already finished: the task runs in the
    request), a plain form post goes back to the page."""
    from unittest import mock

    from cluster import apply as apply_mod
    from cluster.models import ApplyRun

    settings.CELERY_TASK_ALWAYS_EAGER = False
    client.force_login(operator)
    with mock.patch("cluster.tasks.apply_task.delay",
                    side_effect=lambda pk: apply_mod.execute(ApplyRun.objects.get(pk=pk))):
        response = client.post("/maintenance/apply/start/", HTTP_HX_REQUEST="true")
        page = response.content.decode()
        assert "Rendered only (render-only dataplane)" in page and 'aria-valuenow="100"' in page
        assert "Apply finished." in response["HX-Trigger"]
        assert ApplyRun.objects.get().username == "oscar"
        response = client.post("/maintenance/apply/start/")
    assert response.status_code == 302 and response["Location"] == "/maintenance/apply/"
