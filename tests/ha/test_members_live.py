"""Active-active members against two real appliances (runserver processes with their own SQLite files,
over HTTP on 127.0.0.1): joining with the pairing safety, a configuration change pushed signed to every
member and applied there, a member down (out of sync, backoff) then caught up, "sync now", roles, bad
input named by field, leaving."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from cluster.apply import apply_now
from cluster.models import ACTIVE_ACTIVE, ApplyRun, ClusterSettings
from ha import member_sync, sync
from ha.models import EditedMember, Member, MemberOutbox
from realservers.models import RealServer
from tests.ha.conftest import PEER_ADMIN, PEER_PASSWORD, free_port, started_copy

pytestmark = pytest.mark.django_db
MEMBERS = "/api/v1/cluster/members/"


@pytest.fixture
def second_app(tmp_path, peer_template):
    app = started_copy(peer_template, tmp_path / "second")
    yield app
    app.stop()


@pytest.fixture
def queued(monkeypatch):
    """Record, instead of running in threads, the pushes the hooks would start (the test runs them)."""
    calls = []
    monkeypatch.setattr(member_sync, "start_sync", lambda pks=None: calls.append(pks))
    return calls


@pytest.fixture
def active_active(db):
    settings = ClusterSettings.load()
    settings.mode = ACTIVE_ACTIVE
    settings.full_clean()
    settings.save()


def join_body(app, **extra):
    return {"address": "127.0.0.1", "port": app.port, "username": PEER_ADMIN, "password": PEER_PASSWORD,
            "scheme": "http", "my_port": 8000, **extra}


def apply_here(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = apply_now(actor="test")
    assert run.status == ApplyRun.SUCCESS, run.error
    return run


def labels(app) -> list[str]:
    return sorted(s["label"] for s in app.get("/api/v1/virtual-services/")["results"])


def test_join_sync_member_down_caught_up_sync_now_leave(api, client_for, peer_app, second_app, queued,
                                                        active_active, make_service,
                                                        django_capture_on_commit_callbacks):
    # the pairing safety: wrong credentials are refused with the member's reason, nothing is stored
    resp = api.post(MEMBERS, join_body(peer_app, password="wrong-password"), format="json")
    assert resp.status_code == 409 and "credentials" in resp.json()["detail"]
    assert not Member.objects.exists()

    make_service(servers=[{}, {}], label="web", vip="192.0.2.80", method="dr", scheduler="mh")
    a = api.post(MEMBERS, join_body(peer_app), format="json")
    assert a.status_code == 201, a.content
    b = api.post(MEMBERS, join_body(second_app), format="json")
    assert b.status_code == 201, b.content
    a, b = a.json(), b.json()
    assert queued == [[a["id"]], [b["id"]]]  # each takes the last applied configuration at once
    there = peer_app.get(f"{MEMBERS}edited-by/")
    assert there["member"] is True and there["edited_by"]["address"] == "127.0.0.1"
    assert api.get(f"{MEMBERS}edited-by/").json() == {"member": False, "edited_by": None}
    # the same member twice, named on the field
    resp = api.post(MEMBERS, join_body(peer_app), format="json")
    assert resp.status_code == 400 and resp.json()["errors"][0]["attr"] == "address"
    assert "member already" in resp.json()["detail"]

    # an apply here is pushed, signed, to every member; each applies it through its own writer
    apply_here(django_capture_on_commit_callbacks)
    assert queued[-1] is None  # all members
    version = MemberOutbox.objects.get().version
    assert set(Member.objects.values_list("sync_state", flat=True)) == {Member.OUT_OF_SYNC}
    for pk in (a["id"], b["id"]):
        assert member_sync.push(pk)["apply"] == "success"
    listed = api.get(MEMBERS).json()
    assert [(m["in_sync"], m["version"], m["sync_state"]) for m in listed] == [(True, version, "in_sync")] * 2
    for app in (peer_app, second_app):
        assert labels(app) == ["web"]
        last = app.get("/api/v1/apply/")["last"]
        assert last["status"] == "success" and last["reason"] == member_sync.MEMBER_SYNC_REASON
        assert app.get(f"{MEMBERS}edited-by/")["edited_by"]["local_version"] == version
    assert member_sync.push(a["id"])["skipped"] == "the member has it"

    # the second member goes down: the first still gets the change; the second is out of sync, backing off
    second_app.stop()
    make_service(label="dns", vip="192.0.2.53", ports="53", protocol="udp", method="dr", scheduler="mh")
    apply_here(django_capture_on_commit_callbacks)
    assert member_sync.push(a["id"])["apply"] == "success"
    with pytest.raises(sync.PeerError):
        member_sync.push(b["id"])
    down = api.get(f"{MEMBERS}{b['id']}/").json()
    assert down["sync_state"] == "out_of_sync" and down["in_sync"] is False and down["reachable"] is False
    assert "cannot be reached" in down["last_sync_error"] and down["failures"] == 1
    assert down["next_attempt_at"] and down["version"] < MemberOutbox.objects.get().version
    assert "waiting" in member_sync.check(b["id"])  # no retry before its backoff is over
    assert member_sync.backoff(1) < member_sync.backoff(4) <= member_sync.backoff(99)
    assert api.get(f"{MEMBERS}{a['id']}/").json()["in_sync"] is True

    # it returns: the member check, once the backoff is over, catches it up unaided
    second_app.start()
    Member.objects.filter(pk=b["id"]).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert member_sync.check(b["id"])["apply"] == "success"
    assert labels(second_app) == ["dns", "web"] and labels(peer_app) == ["dns", "web"]
    assert all(m["in_sync"] for m in api.get(MEMBERS).json())
    assert member_sync.check(a["id"]) == {"reachable": True, "version": MemberOutbox.objects.get().version,
                                          "behind": False}

    # drain on the edited member reaches every member at once, without an apply here
    web1 = RealServer.objects.filter(service__label="web").order_by("label").first()
    before = MemberOutbox.objects.get().version
    assert api.post(f"/api/v1/real-servers/{web1.pk}/drain/").status_code == 200
    assert queued[-1] is None and MemberOutbox.objects.get().version > before
    for pk in (a["id"], b["id"]):
        assert member_sync.push(pk)["apply"] == "success"
    for app in (peer_app, second_app):
        there = app.get(f"/api/v1/real-servers/?service_label=web&label={web1.label}")["results"]
        assert [rs["admin_state"] for rs in there] == ["drain"], app
    assert api.post(f"/api/v1/real-servers/{web1.pk}/online/").status_code == 200
    for pk in (a["id"], b["id"]):
        assert member_sync.push(pk)["apply"] == "success"

    # a member restored from an older state says so when asked, and is caught up in the same check
    peer_app.manage("shell", "-c", "from ha.models import EditedMember; EditedMember.objects.update(local_version=1)")
    caught = member_sync.check(a["id"])
    assert caught["behind"] is True and caught["sync"]["apply"] == "success"
    assert peer_app.get(f"{MEMBERS}edited-by/")["edited_by"]["local_version"] == MemberOutbox.objects.get().version

    # "sync now": operators may, read-only may not (but may read)
    assert client_for("readonly").get(MEMBERS).status_code == 200
    assert client_for("readonly").post(f"{MEMBERS}{a['id']}/sync/").status_code == 403
    resp = client_for("operator").post(f"{MEMBERS}{a['id']}/sync/")
    assert resp.status_code == 202 and resp.json()["version"] == 0 and queued[-1] == [a["id"]]
    assert member_sync.push(a["id"])["apply"] == "unchanged"  # it has it: nothing is applied again
    assert client_for("operator").post(f"{MEMBERS}sync/").status_code == 202 and len(queued[-1]) == 2
    assert [member_sync.push(pk)["apply"] for pk in queued[-1]] == ["unchanged", "unchanged"]
    # joining and removing are the admin's
    assert client_for("operator").post(MEMBERS, join_body(peer_app), format="json").status_code == 403
    assert client_for("operator").delete(f"{MEMBERS}{a['id']}/").status_code == 403

    # a member refuses what its edited member did not sign, and refuses to edit members itself
    assert peer_app.request_status("POST", f"{MEMBERS}peer/config/", {"version": 1, "bundle": {}}) == 403
    assert peer_app.request_status("POST", MEMBERS, join_body(second_app)) == 409

    # an in-sync member that stops answering is asked less and less often
    peer_app.stop()
    assert member_sync.check(a["id"])["reachable"] is False
    assert "waiting" in member_sync.check(a["id"])
    assert Member.objects.get(pk=a["id"]).failures == 1
    peer_app.start()
    Member.objects.filter(pk=a["id"]).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert member_sync.check(a["id"])["reachable"] is True and Member.objects.get(pk=a["id"]).failures == 0

    # leaving active-active mode with members listed: nothing is pushed (it would put the VIPs on every
    # member's interface), and the list says why
    settings = ClusterSettings.load()
    settings.mode = "failover"
    settings.save()
    apply_here(django_capture_on_commit_callbacks)
    errors = {m["last_sync_error"] for m in api.get(MEMBERS).json()}
    assert len(errors) == 1 and errors.pop().startswith("not sent: this appliance left active-active mode")

    # leaving: the member is told and stands alone (it keeps its configuration)
    resp = api.delete(f"{MEMBERS}{b['id']}/")
    assert resp.status_code == 200 and "stands alone" in resp.json()["detail"]
    assert second_app.get(f"{MEMBERS}edited-by/")["member"] is False and labels(second_app) == ["dns", "web"]
    assert [m["id"] for m in api.get(MEMBERS).json()] == [a["id"]]
    assert not EditedMember.objects.exists()


def test_bad_input_named_by_field_and_mode_and_size(api, client_for, queued, db):
    # not in active-active mode: refused before anything is sent
    resp = api.post(MEMBERS, {"address": "127.0.0.1", "port": free_port(), "username": "a", "password": "b",
                              "scheme": "http"}, format="json")
    assert resp.status_code == 400 and resp.json()["errors"][0]["attr"] == "address"
    assert "active-active" in resp.json()["detail"]
    for body, field in (({"address": "nope", "username": "a", "password": "b"}, "address"),
                        ({"address": "192.0.2.7", "port": 0, "username": "a", "password": "b"}, "port"),
                        ({"address": "192.0.2.7"}, "password"),
                        ({"address": "192.0.2.7", "scheme": "ftp", "token": "t"}, "scheme")):
        resp = api.post(MEMBERS, body, format="json")
        assert resp.status_code == 400 and resp.json()["errors"][0]["attr"] == field, (body, resp.content)
    assert client_for("readonly").post(MEMBERS, {}, format="json").status_code == 403
    assert api.post(f"{MEMBERS}sync/").status_code == 400  # no members
    assert api.delete(f"{MEMBERS}999/").status_code == 404


def test_at_most_sixteen_members_and_no_unspecified_address(api, queued, active_active):
    for n in range(15):
        Member.objects.create(address=f"198.51.100.{n + 1}", port=443, secret="00" * 32)
    resp = api.post(MEMBERS, {"address": "198.51.100.99", "username": "a", "password": "b", "scheme": "http"},
                    format="json")
    assert resp.status_code == 400 and "at most 16 members" in resp.json()["detail"]
    Member.objects.all().delete()
    resp = api.post(MEMBERS, {"address": "0.0.0.0", "username": "a", "password": "b", "scheme": "http"},
                    format="json")
    assert resp.status_code == 400 and resp.json()["errors"][0]["attr"] == "address"
    # over HTTPS the member's certificate must be confirmed: an unreachable one is a 502, nothing stored
    resp = api.post(MEMBERS, {"address": "127.0.0.1", "port": free_port(), "username": "a", "password": "b"},
                    format="json")
    assert resp.status_code == 502 and not Member.objects.exists()


def form_post(client, data: dict):
    return client.post("/cluster/bgp/members/", data, format="multipart")  # a browser's form, not JSON


def test_webui_members_section_roles_and_errors(client_for, peer_app, queued, active_active,
                                                django_capture_on_commit_callbacks):
    admin, operator, readonly = (client_for(r, auth="session") for r in ("admin", "operator", "readonly"))
    page = admin.get("/cluster/bgp/").content.decode()
    assert "No members: this appliance is edited here" in page and "Join member" in page
    # bad input is named on its field, the page says why, nothing is stored
    resp = form_post(admin, {"action": "join", "address": "nope", "port": 443,
                                                "scheme": "http", "username": "a", "password": "b"})
    assert resp.status_code == 400 and 'id="id_address_error"' in resp.content.decode()
    resp = form_post(admin, {"action": "join", "address": "127.0.0.1", "port": peer_app.port,
                                                "scheme": "http", "username": PEER_ADMIN, "password": "wrong"})
    assert resp.status_code == 400 and "credentials" in resp.content.decode() and not Member.objects.exists()
    # joined from the WebUI; the table shows its sync state, refreshed by the live fragment
    resp = form_post(admin, {"action": "join", "address": "127.0.0.1", "port": peer_app.port,
                                                "scheme": "http", "username": PEER_ADMIN,
                                                "password": PEER_PASSWORD, "my_port": 8000})
    assert resp.status_code == 302, resp.content.decode()[-3000:]
    member = Member.objects.get()
    apply_here(django_capture_on_commit_callbacks)
    assert "Out of sync" in readonly.get("/cluster/bgp/members/live/").content.decode()
    member_sync.push(member.pk)
    live = readonly.get("/cluster/bgp/members/live/").content.decode()
    assert "In sync" in live and str(MemberOutbox.objects.get().version) in live
    # read-only sees, but neither syncs nor joins; the operator syncs but does not remove
    assert "Join member" not in readonly.get("/cluster/bgp/").content.decode()
    assert form_post(readonly, {"action": "sync", "member": member.pk}).status_code == 403
    assert form_post(operator, {"action": "remove", "member": member.pk}).status_code == 403
    assert form_post(operator, {"action": "sync", "member": member.pk}).status_code == 302
    assert queued[-1] == [member.pk] and Member.objects.get().version == 0
    assert form_post(admin, {"action": "remove", "member": member.pk}).status_code == 302
    assert not Member.objects.exists()


def test_leaving_active_active_is_refused_while_members_are_listed(api, queued, active_active):
    Member.objects.create(address="198.51.100.7", port=443, secret="00" * 32)
    resp = api.patch("/api/v1/cluster/", {"mode": "failover"}, format="json")
    assert resp.status_code == 400 and resp.json()["errors"][0]["attr"] == "mode"
    assert "1 active-active member is still listed here: remove them first" in resp.json()["errors"][0]["detail"]
    assert ClusterSettings.load().mode == ACTIVE_ACTIVE  # nothing saved
    Member.objects.all().delete()
    assert api.patch("/api/v1/cluster/", {"mode": "failover"}, format="json").status_code == 200
