"""Optimistic concurrency: no lost updates between clients racing on one object, If-Match → 412.

The races use real concurrent HTTP requests against a live threaded server (`live_url`, in
tests/api/conftest.py), each request on its own database connection, so the database's own locking
is what is tested.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.conftest import error_fields

ROUNDS = 40
V1 = "/api/v1"


def _session(user) -> requests.Session:
    from accounts.models import ApiToken

    _, key = ApiToken.issue(user, "race")
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    return session


@pytest.fixture
def racers(live_url, make_user, make_service):
    """Two clients with their own tokens (an admin's and a second admin's), and an operator's."""
    first, second, operator = make_user("ann", "admin"), make_user("bob", "admin"), make_user("oli", "operator")
    svc = make_service(servers=[{"label": "web1", "address": "198.51.100.10"}])
    sessions = {"a": _session(first), "b": _session(second), "operator": _session(operator)}
    yield {"url": live_url, **sessions, "service": svc, "server": svc.real_servers.get()}
    for session in sessions.values():
        session.close()


def race(*calls):
    """Run the calls at the same moment, each on its own thread; their responses, in order."""
    start = threading.Barrier(len(calls))

    def run(call):
        start.wait(timeout=10)
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return [f.result(timeout=30) for f in [pool.submit(run, call) for call in calls]]


def _ok(response, code=200):
    assert response.status_code == code, (response.status_code, response.text[:300])
    return response.json()


# ---------------------------------------------------------------- the races
def test_two_clients_patching_different_fields_of_a_real_server_lose_nothing(racers):
    from realservers.models import RealServer

    url = f"{racers['url']}{V1}/real-servers/{racers['server'].pk}/"
    for n in range(1, ROUNDS + 1):
        first, second = race(lambda n=n: racers["a"].patch(url, json={"weight": 1000 + n}),
                             lambda n=n: racers["b"].patch(url, json={"max_conns": 2000 + n}))
        _ok(first), _ok(second)
        rs = RealServer.objects.get(pk=racers["server"].pk)
        assert (rs.weight, rs.max_conns) == (1000 + n, 2000 + n), f"lost update in round {n}"
    assert rs.version == 1 + 2 * ROUNDS


def test_two_clients_patching_different_fields_of_a_service_lose_nothing(racers):
    from virtualservices.models import VirtualService

    url = f"{racers['url']}{V1}/virtual-services/{racers['service'].pk}/"
    for n in range(1, ROUNDS + 1):
        first, second = race(lambda n=n: racers["a"].patch(url, json={"description": f"round {n}"}),
                             lambda n=n: racers["b"].patch(url, json={"alert_email": f"ops{n}@example.com"}))
        _ok(first), _ok(second)
        svc = VirtualService.objects.get(pk=racers["service"].pk)
        assert (svc.description, svc.alert_email) == (f"round {n}", f"ops{n}@example.com"), f"round {n}"


def test_a_weight_patch_racing_a_drain_never_undoes_the_drain(racers):
    from realservers.models import RealServer

    url = f"{racers['url']}{V1}/real-servers/{racers['server'].pk}/"
    for n in range(1, ROUNDS + 1):
        _ok(racers["operator"].post(f"{url}online/"))
        patched, drained = race(lambda n=n: racers["a"].patch(url, json={"weight": n}),
                                lambda: racers["operator"].post(f"{url}drain/"))
        _ok(patched), _ok(drained)
        rs = RealServer.objects.get(pk=racers["server"].pk)
        assert (rs.admin_state, rs.weight) == ("drain", n), f"round {n}"


def test_racing_writes_naming_the_same_version_one_wins_one_gets_412(racers):
    from realservers.models import RealServer

    url = f"{racers['url']}{V1}/real-servers/{racers['server'].pk}/"
    for n in range(1, ROUNDS + 1):
        read = {"If-Match": racers["a"].get(url).headers["ETag"]}
        first, second = race(
            lambda n=n, read=read: racers["a"].patch(url, json={"weight": n}, headers=read),
            lambda n=n, read=read: racers["b"].patch(url, json={"max_conns": n}, headers=read))
        assert sorted([first.status_code, second.status_code]) == [200, 412], f"round {n}"
        winner = first if first.status_code == 200 else second
        rs = RealServer.objects.get(pk=racers["server"].pk)
        assert winner.headers["ETag"] == f'"{rs.version}"'
        # Only the winner's field changed; the loser's stayed as it was.
        assert (rs.weight == n) == (winner is first) and (rs.max_conns == n) == (winner is second)


# ---------------------------------------------------------------- ETag / If-Match, one client
@pytest.mark.django_db
def test_get_answers_the_etag_and_a_stale_if_match_is_refused(api, make_service):
    from realservers.models import RealServer

    rs = make_service(servers=[{}]).real_servers.get()
    url = f"{V1}/real-servers/{rs.pk}/"
    read = api.get(url)
    assert read["ETag"] == '"1"' and read.json()["version"] == 1
    written = api.patch(url, {"weight": 7}, format="json", HTTP_IF_MATCH=read["ETag"])
    assert written.status_code == 200 and written["ETag"] == '"2"'
    stale = api.patch(url, {"weight": 9}, format="json", HTTP_IF_MATCH=read["ETag"])
    assert stale.status_code == 412 and stale.json()
    assert RealServer.objects.get(pk=rs.pk).weight == 7
    assert api.patch(url, {"weight": 9}, format="json", HTTP_IF_MATCH='"2", "5"').status_code == 200
    assert api.patch(url, {"weight": 10}, format="json", HTTP_IF_MATCH="*").status_code == 200
    assert api.patch(url, {"weight": 11}, format="json", HTTP_IF_MATCH='"not-ours"').status_code == 412
    assert api.delete(url, HTTP_IF_MATCH='"1"').status_code == 412 and RealServer.objects.filter(pk=rs.pk).exists()
    assert api.delete(url, HTTP_IF_MATCH='"4"').status_code == 204


@pytest.mark.django_db
def test_an_unchanged_write_keeps_the_version_and_logs_nothing(api, make_service):
    from audit.models import ChangeRecord

    svc = make_service()
    url = f"{V1}/virtual-services/{svc.pk}/"
    logged = ChangeRecord.objects.count()
    same = api.patch(url, {"label": svc.label, "ports": svc.ports}, format="json")
    assert same.status_code == 200 and same["ETag"] == '"1"'
    assert ChangeRecord.objects.count() == logged
    changed = api.patch(url, {"description": "front door"}, format="json")
    assert changed["ETag"] == '"2"'
    rec = ChangeRecord.objects.filter(object_type="virtualservice").first()
    assert rec.summary == "changed description"


@pytest.mark.django_db
def test_a_configuration_edit_never_writes_runtime_state(api, make_service):
    from realservers.actions import set_state
    from realservers.models import RealServer

    rs = make_service(servers=[{}]).real_servers.get()
    url = f"{V1}/real-servers/{rs.pk}/"
    read = api.get(url).json()  # read while online
    set_state([RealServer.objects.get(pk=rs.pk)], "drain")
    # A full PUT of what was read (state "online") changes the weight, and refuses to undo the drain.
    refused = api.put(url, {**{k: read[k] for k in ("service", "label", "address", "port", "min_conns",
                                                    "max_conns", "admin_state")}, "weight": 3}, format="json")
    assert refused.status_code == 400 and "admin_state" in error_fields(refused)
    assert api.patch(url, {"weight": 3}, format="json").status_code == 200
    assert RealServer.objects.values_list("admin_state", "weight").get(pk=rs.pk) == ("drain", 3)


@pytest.mark.django_db
def test_singleton_and_floating_ips_carry_etags(api):
    read = api.get(f"{V1}/cluster/")
    assert read["ETag"] == f'"{read.json()["version"]}"'
    stale = api.patch(f"{V1}/cluster/", {"udp_timeout": 60}, format="json", HTTP_IF_MATCH='"999"')
    assert stale.status_code == 412
    fip = api.post(f"{V1}/floating-ips/", {"address": "192.0.2.254", "interface": "eth1"}, format="json")
    assert fip.status_code == 201 and fip["ETag"] == '"1"'


@pytest.mark.django_db
def test_a_webui_edit_moves_the_version_so_an_api_client_holding_the_old_etag_gets_412(api, client, admin,
                                                                                         make_service):
    from realservers.actions import set_state
    from realservers.models import RealServer

    rs = make_service(servers=[{"label": "web1", "address": "192.0.2.11"}]).real_servers.get()
    url = f"{V1}/real-servers/{rs.pk}/"
    read = api.get(url)
    client.force_login(admin)
    form = {"label": "web1", "address": "192.0.2.11", "weight": 42, "min_conns": 0, "max_conns": 0,
            "admin_state": "online"}
    assert client.post(f"/servers/{rs.pk}/edit/", form).status_code == 302
    assert RealServer.objects.get(pk=rs.pk).weight == 42
    stale = api.patch(url, {"max_conns": 5}, format="json", HTTP_IF_MATCH=read["ETag"])
    assert stale.status_code == 412 and RealServer.objects.get(pk=rs.pk).max_conns == 0
    fresh = api.get(url)
    assert fresh["ETag"] == '"2"'
    # the same form again changes nothing and keeps the version; runtime state never moves it
    assert client.post(f"/servers/{rs.pk}/edit/", form).status_code == 302
    set_state([RealServer.objects.get(pk=rs.pk)], "drain")
    assert api.get(url)["ETag"] == '"2"'


def test_racing_duplicate_posts_create_one_object_and_answer_409(racers):
    from virtualservices.models import VirtualService

    url = f"{racers['url']}{V1}/virtual-services/"
    for n in range(1, ROUNDS + 1):
        body = {"label": f"dup{n}", "vip": "203.0.113.10", "ports": str(1000 + n), "protocol": "tcp",
                "method": "nat"}
        first, second = race(lambda body=body: racers["a"].post(url, json=body),
                             lambda body=body: racers["b"].post(url, json=body))
        assert sorted([first.status_code, second.status_code]) == [201, 409], (n, first.text, second.text)
        loser = first if first.status_code == 409 else second
        assert loser.json()["errors"] and loser.json()["type"] == "client_error"
        assert VirtualService.objects.filter(label=f"dup{n}").count() == 1
