"""Password and key guessing (issue 13): WebUI login, API tokens and HA pairing share one throttle
(django-axes, accounts/throttle.py) keyed on the normalised username and the client address."""

from __future__ import annotations

import pytest

from accounts import throttle
from ha.models import Event
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
ACCEPT = "/api/v1/ha/peer/accept/"
HOME, AWAY = {"REMOTE_ADDR": "192.0.2.10"}, {"REMOTE_ADDR": "198.51.100.7"}


def login(client, username, password, **meta):
    return client.post("/login/", {"username": username, "password": password}, **meta).status_code


@pytest.mark.parametrize("raw", [" alice", "alice ", "ａｌｉｃｅ", "ALICE", "Alice\u3000"])
def test_username_variants_are_one_user_for_the_lockout(client, admin, raw):
    assert throttle.normalise_username(raw) == "alice"
    for _ in range(5):
        assert login(client, raw, "wrong-wrong-wrong", **HOME) == 200
    # every spelling, and the right password, now get the same 429 from this address
    for spelling in ("alice", " alice", "ａｌｉｃｅ"):
        assert login(client, spelling, PASSWORD, **HOME) == 429
        assert login(client, spelling, "wrong-wrong-wrong", **HOME) == 429


def test_nobody_can_lock_an_admin_out_from_another_address(client, admin):
    for _ in range(8):
        login(client, "alice", "wrong-wrong-wrong", **AWAY)
    assert login(client, "alice", PASSWORD, **AWAY) == 429
    assert login(client, "alice", PASSWORD, **HOME) == 302


def test_spraying_usernames_from_one_address_is_throttled(client, admin):
    for n in range(throttle.ADDRESS_FAILURE_LIMIT):
        assert login(client, f"user{n}", "wrong-wrong-wrong", **AWAY) == 200
    assert login(client, "alice", PASSWORD, **AWAY) == 429
    assert login(client, "alice", PASSWORD, **HOME) == 302


def test_failed_token_auth_is_throttled_per_address(admin):
    from rest_framework.test import APIClient

    from accounts.models import ApiToken

    good = ApiToken.issue(admin, "ok")[1]
    away = APIClient(**AWAY)
    for n in range(throttle.ADDRESS_FAILURE_LIMIT):
        away.credentials(HTTP_AUTHORIZATION=f"Bearer flc_{n:012x}.guess")
        assert away.get("/api/v1/virtual-services/").status_code == 401
    away.credentials(HTTP_AUTHORIZATION=f"Bearer {good}")
    assert away.get("/api/v1/virtual-services/").status_code == 429
    home = APIClient(**HOME)
    home.credentials(HTTP_AUTHORIZATION=f"Bearer {good}")
    assert home.get("/api/v1/virtual-services/").status_code == 200


def offer(username="alice", password="wrong-wrong-wrong", **extra):
    return {"username": username, "password": password, "secret": "ab" * 32, "your_role": "backup",
            "node": "lb1", "port": 443, "scheme": "https", "fingerprint": "SHA256:" + ":".join(["AB"] * 32), **extra}


def pair(anon, body, meta=AWAY):
    return anon.post(ACCEPT, body, format="json", **meta)


def test_pairing_is_no_password_oracle(anon, admin, make_service):
    # configured: the same answer whatever the password
    make_service(label="web", vip="192.0.2.80")
    right, wrong = pair(anon, offer(password=PASSWORD)), pair(anon, offer())
    assert right.status_code == wrong.status_code == 409 and right.json() == wrong.json()


def test_twenty_wrong_pairing_attempts_get_identical_answers_then_a_throttle(anon, admin):
    answers = {(r.status_code, r.content) for r in (pair(anon, offer()) for _ in range(throttle.ADDRESS_FAILURE_LIMIT))}
    assert len(answers) == 1 and next(iter(answers))[0] == 403
    # the username is locked out from this address after five: a right password still reads as wrong ...
    # ... and after twenty failures the address is throttled
    assert pair(anon, offer(password=PASSWORD)).status_code == 429
    # anonymous refusals do not write a row each
    assert Event.objects.filter(kind=Event.REFUSED).count() == 1
    assert Event.objects.get(kind=Event.REFUSED).repeats == throttle.ADDRESS_FAILURE_LIMIT


def test_a_locked_out_user_is_refused_like_a_wrong_password(anon, admin):
    for _ in range(5):
        wrong = pair(anon, offer())
    locked_right = pair(anon, offer(password=PASSWORD))
    assert locked_right.status_code == wrong.status_code == 403 and locked_right.json() == wrong.json()
    # from another address the admin's credentials still pair
    assert pair(anon, offer(password=PASSWORD), HOME).status_code == 201


def test_pairing_token_guesses_count_too(anon, admin):
    for _ in range(throttle.ADDRESS_FAILURE_LIMIT):
        assert pair(anon, offer(username="", password="", token="guess")).status_code == 403
    assert pair(anon, offer(password=PASSWORD)).status_code == 429


def test_non_admin_right_password_reads_as_wrong(anon, readonly):
    right, wrong = pair(anon, offer("rita", PASSWORD)), pair(anon, offer("rita"))
    assert right.status_code == wrong.status_code == 403 and right.json() == wrong.json()
