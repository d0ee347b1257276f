"""Pairing over HTTPS (issue 13): the peer's certificate fingerprint is shown for the admin to confirm, then
pinned; a peer presenting another certificate is refused. Real TLS on loopback, certificates made by openssl."""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ha import pairing, sync, tls
from ha.models import Peer

pytestmark = pytest.mark.django_db


def make_cert(directory, name):
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                    f"/CN={name}", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    shown = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-fingerprint", "-sha256"],
                           check=True, capture_output=True, text=True).stdout
    return cert, key, tls.normalise(shown.split("=", 1)[1])


class FakePeer:
    """An HTTPS server on loopback answering every POST like a peer that accepts; it keeps the bodies."""

    def __init__(self, cert, key):
        self.bodies = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                outer.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                answer = json.dumps({"node": "lb2", "role": "backup"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def peers(tmp_path, settings):
    mine = make_cert(tmp_path, "lb1")
    settings.FULCRUM_TLS_CERT = mine[0]
    a, b = make_cert(tmp_path, "lb2"), make_cert(tmp_path, "impostor")
    servers = {"real": FakePeer(a[0], a[1]), "impostor": FakePeer(b[0], b[1])}
    yield {"mine": mine[2], "real": (servers["real"], a[2]), "impostor": (servers["impostor"], b[2])}
    for s in servers.values():
        s.close()


def test_fingerprint_is_what_openssl_shows(peers):
    server, shown = peers["real"]
    assert tls.server_fingerprint("127.0.0.1", server.port) == shown
    assert tls.normalise(shown.lower().replace(":", "")) == shown and tls.normalise("12:34") == ""


def test_pairing_asks_to_confirm_then_pins(peers):
    server, shown = peers["real"]
    creds = {"peer_address": "127.0.0.1", "peer_port": server.port, "username": "admin", "password": "pw-pw-pw-pw"}
    with pytest.raises(pairing.PairingRefused) as first:
        pairing.pair(**creds)
    assert first.value.status == 409 and first.value.fingerprint == shown and shown in str(first.value)
    assert not server.bodies and not Peer.objects.exists()  # no credentials sent before the confirmation
    with pytest.raises(pairing.PairingRefused, match="does not match"):
        pairing.pair(**creds, fingerprint=peers["impostor"][1])
    peer = pairing.pair(**creds, fingerprint=shown.lower())
    assert peer.scheme == "https" and peer.cert_fingerprint == shown
    assert server.bodies[0]["fingerprint"] == peers["mine"]  # the peer pins us in turn
    # later messages go only to that certificate
    assert sync.post(peer, "/api/v1/ha/peer/status/", {})["node"] == "lb2"
    peer.port = peers["impostor"][0].port
    with pytest.raises(sync.PeerError, match="not the confirmed"):
        sync.post(peer, "/api/v1/ha/peer/status/", {})
    assert not peers["impostor"][0].bodies


def test_api_answers_the_fingerprint_to_confirm(api, peers):
    server, shown = peers["real"]
    resp = api.post("/api/v1/ha/pair/", {"peer_address": "127.0.0.1", "peer_port": server.port,
                                         "username": "admin", "password": "pw-pw-pw-pw"}, format="json")
    assert resp.status_code == 409 and resp.json()["fingerprint"] == shown


def test_the_cli_pairs_over_https_by_default_after_the_fingerprint_is_confirmed(peers):
    from django.core.management import CommandError, call_command

    server, shown = peers["real"]
    args = ["hapair", "pair", "127.0.0.1", "--port", str(server.port), "--user", "admin", "--password", "pw-pw-pw-pw"]
    with pytest.raises(CommandError, match="must be confirmed") as refused:
        call_command(*args)
    assert shown in str(refused.value) and not server.bodies  # nothing sent before the confirmation
    call_command(*args, "--fingerprint", shown)
    peer = Peer.current()
    assert peer.scheme == "https" and peer.cert_fingerprint == shown and server.bodies[0]["port"] == 443


def test_the_peer_side_pins_the_offered_fingerprint(anon, admin):
    from tests.conftest import PASSWORD

    offer = {"username": "alice", "password": PASSWORD, "secret": "ab" * 32, "your_role": "backup", "port": 443,
             "scheme": "https"}
    assert anon.post("/api/v1/ha/peer/accept/", offer, format="json").status_code == 400  # no fingerprint
    pin = "SHA256:" + ":".join(["0F"] * 32)
    resp = anon.post("/api/v1/ha/peer/accept/", {**offer, "fingerprint": pin.replace(":", "")}, format="json")
    assert resp.status_code == 201 and Peer.current().cert_fingerprint == pin


def test_webui_defaults_to_https_shows_the_fingerprint_and_makes_pairing_tokens(client, admin, peers):
    from ha.models import PairingToken

    client.force_login(admin)
    page = client.get("/cluster/ha/")
    form = page.context["form"]
    assert form["scheme"].value() == "https" and form["peer_port"].value() == 443
    server, shown = peers["real"]
    resp = client.post("/cluster/ha/", {"action": "pair", "peer_address": "127.0.0.1", "peer_port": server.port,
                                        "scheme": "https", "role": "master", "my_port": 443,
                                        "username": "admin", "password": "pw-pw-pw-pw"})
    assert resp.context["form"]["fingerprint"].value() == shown and shown in resp.content.decode()
    assert not Peer.objects.exists() and not server.bodies
    resp = client.post("/cluster/ha/", {"action": "token"})
    token = resp.context["pairing_token"]
    assert token and 'data-copy="pairing-token"' in resp.content.decode() and PairingToken.redeem(token)
