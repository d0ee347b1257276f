"""Pairing and configuration sync against a real second appliance (a runserver process with its own
SQLite file, over HTTP on 127.0.0.1): refusals, sync after apply, peer down → out of sync with
backoff, peer back → caught up by the heartbeat, unpairing."""

from __future__ import annotations

import pytest

from cluster.apply import apply_now
from cluster.models import ApplyRun
from ha import replication, sync
from ha.models import Event, Outbox, Peer
from tests.ha.conftest import PEER_ADMIN, PEER_PASSWORD, free_port

pytestmark = pytest.mark.django_db
V1 = "/api/v1"


@pytest.fixture
def quiet(monkeypatch):
    """Record, instead of running, what the pairing and apply hooks would start in the background."""
    calls = {"apply": 0, "sync": 0}
    monkeypatch.setattr("ha.api.views.start_apply", lambda *a, **k: calls.__setitem__("apply", calls["apply"] + 1))
    def sync_queued():
        calls["sync"] += 1

    monkeypatch.setattr(replication, "start_sync", sync_queued)
    return calls


def pair_body(app, **extra):
    return {"peer_address": "127.0.0.1", "peer_port": app.port, "username": PEER_ADMIN, "password": PEER_PASSWORD,
            "node_name": "lb1", "scheme": "http", "my_port": 8000, **extra}


def apply_here(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = apply_now(actor="test")
    assert run.status == ApplyRun.SUCCESS, run.error
    return run


def test_pair_sync_outage_catch_up_unpair(api, peer_app, quiet, make_service, django_capture_on_commit_callbacks):
    # refused: wrong credentials, with the peer's reason
    resp = api.post(f"{V1}/ha/pair/", pair_body(peer_app, password="wrong-password"), format="json")
    assert resp.status_code == 409 and "credentials" in resp.json()["detail"]
    assert not Peer.objects.exists()

    make_service(servers=[{}, {}], label="web", vip="192.0.2.80", method="nat")
    resp = api.post(f"{V1}/ha/pair/", pair_body(peer_app), format="json")
    assert resp.status_code == 201, resp.content
    me = resp.json()
    assert me["paired"] and me["peer"]["role"] == "master" and me["vip_holder"] == "keepalived"
    assert quiet["apply"] == 1  # the apply that hands the addresses to keepalived
    there = peer_app.get(f"{V1}/ha/")
    assert there["peer"]["role"] == "backup" and there["peer"]["address"] == "127.0.0.1"
    assert there["peer"]["peer_name"] == "lb1"
    # in a pair the apply no longer holds the addresses: keepalived does
    from cluster.compile import cluster_spec

    assert cluster_spec().vrrp_holds_addresses

    # an apply on the master puts its bundle in the outbox and queues a sync
    apply_here(django_capture_on_commit_callbacks)
    assert quiet["sync"] == 1
    version = Outbox.objects.get().version
    assert Peer.current().sync_state == Peer.OUT_OF_SYNC and Peer.current().local_version == version
    result = sync.push_config()
    assert result["version"] == version and result["apply"] == "success"
    peer = Peer.current()
    assert peer.in_sync and peer.sync_state == Peer.IN_SYNC and peer.reachable
    services = peer_app.get(f"{V1}/virtual-services/")["results"]
    assert [(s["label"], len(s["real_servers"])) for s in services] == [("web", 2)]
    last = peer_app.get(f"{V1}/apply/")["last"]
    assert last["status"] == "success" and last["reason"] == sync.SYNC_REASON
    assert peer_app.get(f"{V1}/ha/")["in_sync"] is True
    assert sync.push_config()["skipped"] == "the peer has it"

    # the backup goes down: the master keeps working and says "out of sync", retrying with backoff
    peer_app.stop()
    make_service(label="dns", vip="192.0.2.53", ports="53", protocol="udp")
    apply_here(django_capture_on_commit_callbacks)
    pauses = []
    assert replication.sync_with_backoff(backoff=(0.5, 1, 2), sleep=pauses.append) is False
    assert pauses == [0.5, 1, 2]
    status = api.get(f"{V1}/ha/").json()
    assert status["in_sync"] is False and status["peer"]["sync_state"] == "out_of_sync"
    assert "cannot be reached" in status["peer"]["last_sync_error"] and status["peer"]["reachable"] is False
    assert status["peer"]["local_version"] > status["peer"]["peer_version"]

    # it returns: the heartbeat sees it behind and catches it up, unaided
    peer_app.start()
    Peer.objects.filter(pk=1).update(port=peer_app.port)
    beat = sync.heartbeat()
    assert beat["reachable"] and beat["sync"]["apply"] == "success"
    assert Peer.current().in_sync
    assert sorted(s["label"] for s in peer_app.get(f"{V1}/virtual-services/")["results"]) == ["dns", "web"]
    kinds = list(Event.objects.values_list("kind", flat=True))
    assert kinds.count("sync") >= 3

    # "sync now" forces a push (queued)
    assert api.post(f"{V1}/ha/sync/").status_code == 202 and quiet["sync"] == 3

    # the peer refuses a second pairing: it is paired (and configured)
    Peer.objects.all().delete()
    resp = api.post(f"{V1}/ha/pair/", pair_body(peer_app), format="json")
    assert resp.status_code == 409 and "already paired" in resp.json()["detail"]
    Peer.objects.create(address="127.0.0.1", port=peer_app.port, role="master", secret="00" * 32)
    assert api.post(f"{V1}/ha/pair/", pair_body(peer_app), format="json").status_code == 409


def test_unconfigured_peer_only_and_token_pairing_and_unpair(api, peer_app, quiet):
    # a configured peer refuses, saying why
    peer_app.request("POST", f"{V1}/virtual-services/", {"label": "x", "vip": "192.0.2.1", "ports": "80"})
    resp = api.post(f"{V1}/ha/pair/", pair_body(peer_app), format="json")
    assert resp.status_code == 409 and "not unconfigured" in resp.json()["detail"]
    assert "1 virtual service" in resp.json()["detail"]
    peer_app.request("DELETE", f"{V1}/virtual-services/{peer_app.get(f'{V1}/virtual-services/')['results'][0]['id']}/")

    # a one-time token made on the peer instead of credentials
    token = peer_app.request("POST", f"{V1}/ha/pairing-token/")["token"]
    body = {"peer_address": "127.0.0.1", "peer_port": peer_app.port, "token": token, "role": "backup",
            "scheme": "http", "my_port": 8000}
    resp = api.post(f"{V1}/ha/pair/", body, format="json")
    assert resp.status_code == 201, resp.content
    assert resp.json()["peer"]["role"] == "backup" and peer_app.get(f"{V1}/ha/")["peer"]["role"] == "master"

    # unpair: both sides forget the pair, and this side's addresses go back to the apply
    resp = api.delete(f"{V1}/ha/pair/")
    assert resp.status_code == 200 and "the peer unpaired too" in resp.json()["detail"]
    assert not Peer.objects.exists() and peer_app.get(f"{V1}/ha/")["paired"] is False
    assert api.delete(f"{V1}/ha/pair/").status_code == 400

    # the token was single-use
    resp = api.post(f"{V1}/ha/pair/", body, format="json")
    assert resp.status_code == 409 and "token" in resp.json()["detail"]


def test_unreachable_peer_and_bad_requests(api, client_for, quiet):
    resp = api.post(f"{V1}/ha/pair/", {"peer_address": "127.0.0.1", "peer_port": free_port(),
                                       "username": "a", "password": "b"}, format="json")
    assert resp.status_code == 502 and "cannot be reached" in resp.json()["detail"]
    assert api.post(f"{V1}/ha/pair/", {"peer_address": "127.0.0.1"}, format="json").status_code == 400
    assert api.post(f"{V1}/ha/pair/", {"peer_address": "nope", "token": "t"}, format="json").status_code == 400
    assert api.post(f"{V1}/ha/sync/").status_code == 400
    assert api.patch(f"{V1}/ha/", {"preempt": True}, format="json").status_code == 400
    # roles: read-only may look, not pair; operators may "sync now" but not pair
    assert client_for("readonly").get(f"{V1}/ha/").status_code == 200
    assert client_for("readonly").post(f"{V1}/ha/pair/", {}, format="json").status_code == 403
    assert client_for("operator").post(f"{V1}/ha/pair/", {}, format="json").status_code == 403
    assert client_for("operator").post(f"{V1}/ha/sync/").status_code == 400  # allowed, but not paired


def test_vrrp_settings_and_links_re_render(api, quiet, settings):
    from ha import keepalived

    Peer.objects.create(address="10.8.0.3", role="master", secret="00" * 32, node_name="lb1")
    resp = api.patch(f"{V1}/ha/", {"advert_int": 0.2, "preempt": True}, format="json")
    assert resp.status_code == 200 and resp.json()["peer"]["advert_int"] == 0.2
    assert api.post(f"{V1}/ha/links/", {"interface": "eth1", "peer_address": "10.9.0.3"},
                    format="json").status_code == 201
    text = keepalived.render()
    assert "advert_int 0.2" in text and "state MASTER" in text and "unicast_peer {\n        10.9.0.3" in text
    assert f'notify "/usr/bin/flock {keepalived.workdir()}/hanotify.lock ' in text
    assert f"notifyenv.py {keepalived.workdir()}/notify.env " in text and "manage.py hanotify" in text
    assert api.patch(f"{V1}/ha/", {"advert_int": 0}, format="json").status_code == 400


def test_hanotify_records_the_role(db):
    from django.core.management import call_command

    Peer.objects.create(address="10.8.0.3", role="backup", secret="00" * 32)
    call_command("hanotify", "GROUP", "FULCRUM", "MASTER", "100")
    peer = Peer.current()
    assert peer.vrrp_state == "MASTER" and peer.vrrp_changed_at
    from ha import keepalived

    assert keepalived.status()["vrrp_state"] == "MASTER"
    assert Event.objects.get(kind=Event.ROLE).message == "group FULCRUM is now MASTER (priority 100)"


def test_a_notification_that_loses_the_race_for_the_lock_is_ignored(tmp_path):
    """On a flapping link keepalived spawns MASTER then BACKUP; flock may let BACKUP's hanotify run first.
    The state recorded must be the newer one (BACKUP), whatever order they ran in. Real processes behind
    the real flock of the rendered notify command."""
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "FULCRUM_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "appliance.settings"}
    env.pop("DATABASE_URL", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], env=env, cwd=root, check=True, timeout=120)
    (tmp_path / "keepalived").mkdir()
    lock = str(tmp_path / "keepalived" / "hanotify.lock")
    hanotify = [sys.executable, str(root / "manage.py"), "hanotify", "GROUP", "FULCRUM"]
    run = {"env": env, "cwd": root, "stdout": subprocess.PIPE, "text": True}
    # the older notification (MASTER) reaches the lock only after the newer one (BACKUP) ran
    older = subprocess.Popen(["/bin/sh", "-c", 'sleep 1; exec /usr/bin/flock "$0" "$@"', lock, *hanotify,
                              "MASTER"], **run)
    time.sleep(0.1)
    newer = subprocess.Popen(["/usr/bin/flock", lock, *hanotify, "BACKUP"], **run)
    assert newer.communicate(timeout=60)[0].splitlines()[-1] == "FULCRUM BACKUP"
    assert older.communicate(timeout=60)[0].splitlines()[-1] == "FULCRUM MASTER (stale, ignored)"
    assert (tmp_path / "keepalived" / "state").read_text().split()[0] == "BACKUP"
    # and a later transition is recorded again
    subprocess.run(["/usr/bin/flock", lock, *hanotify, "MASTER"], **run, check=True, timeout=60)
    assert (tmp_path / "keepalived" / "state").read_text().split()[0] == "MASTER"


def test_the_notify_line_carries_no_secret_its_environment_is_a_0600_file(db, settings, tmp_path):
    """The notify line is shown to every role (View Configuration): DATABASE_URL (with the PostgreSQL
    password under docker-compose) must not be on it. hanotify gets it from notify.env, 0600 in a 0700
    directory, loaded by the wrapper keepalived runs."""
    import stat
    import subprocess
    import sys

    from ha import keepalived

    secret_url = "postgres://fulcrum:Pw-0f-the-DB-9s3cr3t@db.example.test:5432/fulcrum"
    settings.DATABASE_URL = secret_url
    settings.DATA_DIR = tmp_path
    Peer.objects.create(address="10.8.0.3", role="master", secret="ab" * 32, node_name="lb1")
    text = keepalived.render()
    assert "Pw-0f-the-DB" not in text and "DATABASE_URL" not in text and "ab" * 32 not in text
    keepalived.write_config(text)
    env_file = keepalived.notify_env_path()
    passed = env_file.read_text()
    assert f"DATABASE_URL={secret_url}\n" in passed
    # the command loads the same settings and, with them, the same Redis keys and channels
    assert f"FULCRUM_REDIS_PREFIX={settings.FULCRUM_REDIS_PREFIX}\n" in passed
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(keepalived.conf_path().stat().st_mode) == 0o600
    assert stat.S_IMODE(keepalived.workdir().stat().st_mode) == 0o700
    # the wrapper keepalived runs (with an empty environment) hands the file's settings to the command
    wrapper = [a for a in keepalived.notify_argv() if a.endswith("notifyenv.py")][0]
    out = subprocess.run([sys.executable, wrapper, str(env_file), "-c", "import os; print(os.environ['DATABASE_URL'])"],
                         env={}, capture_output=True, text=True, check=True, timeout=30)
    assert out.stdout.strip() == secret_url
