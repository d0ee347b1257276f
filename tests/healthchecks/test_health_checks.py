"""Every check type against a real server implementation that passes and one that fails."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from healthchecks.checks import CheckSpec, run_check, run_check_sync
from healthchecks.checks import ikev2 as ike
from healthchecks.checks import radius as rad
from tests.healthchecks import servers

ROOT = Path(__file__).resolve().parents[2]


def check(kind: str, address: str = "127.0.0.1", port: int | None = None, **kw):
    kw.setdefault("timeout", 1.0)
    return run_check_sync(CheckSpec(kind, address, port, **kw))


def check_in_ns(ns: str, kind: str, address: str, *args: str) -> tuple[bool, str]:
    """Run one check inside a network namespace (python -m healthchecks.checks)."""
    out = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-m", "healthchecks.checks", kind, address,
                          *args], capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert out.returncode in (0, 1), out.stderr
    return out.returncode == 0, out.stdout.strip()


# --------------------------------------------------------------------------- none / down / TCP


def test_none_is_always_up_and_down_always_down():
    assert check("none", "192.0.2.1").ok
    r = check("down", "127.0.0.1", 1)
    assert not r.ok and r.reason == "always down"


def test_tcp_connect_passes_then_refused_after_the_server_stops():
    srv = servers.Listener("127.0.0.11")
    try:
        r = check("tcp", "127.0.0.11", srv.port)
        assert r.ok, r.reason
        srv.stop()
        r = check("tcp", "127.0.0.11", srv.port)
        assert not r.ok and r.reason == "connection refused"
    finally:
        srv.stop()


def test_tcp_connect_timeout_names_the_phase_and_the_time():
    # A listener whose accept queue is full drops new SYNs: the handshake never completes.
    lsock = socket.socket()
    lsock.bind(("127.0.0.12", 0))
    lsock.listen(0)
    port = lsock.getsockname()[1]
    fillers = []
    try:
        for _ in range(3):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(("127.0.0.12", port))
            fillers.append(c)
        r = check("tcp", "127.0.0.12", port, timeout=0.5)
        assert not r.ok
        assert r.reason == "connect timeout after 0.5 s"
        assert 0.45 < r.seconds < 0.8
    finally:
        for c in fillers:
            c.close()
        lsock.close()


def test_tcp_ipv6_loopback():
    srv = servers.Listener("::1")
    try:
        assert check("tcp", "::1", srv.port).ok
    finally:
        srv.stop()


# --------------------------------------------------------------------------- HTTP, HTTPS, SSTP


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    cert = servers.self_signed_cert(tmp_path_factory.mktemp("tls"))
    plain = servers.WebServer("127.0.0.13")
    tls = servers.WebServer("127.0.0.13", tls=cert)
    yield plain, tls
    plain.close()
    tls.close()


def test_http_status_and_body_pattern(web):
    plain, _ = web
    assert check("http", "127.0.0.13", plain.port).ok
    r = check("http", "127.0.0.13", plain.port, response="hello from")
    assert r.ok and "body matches" in r.reason
    r = check("http", "127.0.0.13", plain.port, response=r"hel+o \w+ fulcrum")  # a regular expression
    assert r.ok
    r = check("http", "127.0.0.13", plain.port, response="goodbye")
    assert not r.ok and "does not contain 'goodbye'" in r.reason
    r = check("http", "127.0.0.13", plain.port, request="/nothing-here")
    assert not r.ok and r.reason == "HTTP status 404, expected 2xx/3xx"
    assert check("http", "127.0.0.13", plain.port, request="/nothing-here", status=404).ok
    assert check("http", "127.0.0.13", plain.port, method="HEAD").ok


def test_a_backtracking_pattern_against_a_hostile_body_does_not_stall_other_checks(web):
    """(x+x+)+y takes exponential time in a backtracking engine; with RE2 the check finishes at once and a
    check of another server running beside it in the same event loop is not held up."""
    plain, _ = web

    async def both():
        hostile = run_check(CheckSpec("http", "127.0.0.13", plain.port, request="/redos", response="(x+x+)+y",
                                      timeout=5.0))
        other = run_check(CheckSpec("http", "127.0.0.13", plain.port, response="hello", timeout=5.0))
        return await asyncio.gather(hostile, other)

    started = time.monotonic()
    hostile, other = asyncio.run(both())
    assert time.monotonic() - started < 2.0
    assert not hostile.ok and "does not contain" in hostile.reason
    assert other.ok and other.seconds < 1.0


def test_http_virtual_host_header(web):
    plain, _ = web
    assert not check("http", "127.0.0.13", plain.port, request="/vhost").ok
    assert check("http", "127.0.0.13", plain.port, request="/vhost", vhost="vpn.example.com").ok


def test_http_response_timeout(web):
    plain, _ = web
    r = check("http", "127.0.0.13", plain.port, request="/slow", timeout=0.5)
    assert not r.ok and r.reason == "response timeout after 0.5 s"


def test_https_with_a_self_signed_certificate_verification_off_by_default(web):
    _, tls = web
    r = check("https", "127.0.0.13", tls.port, response="hello")
    assert r.ok, r.reason
    r = check("https", "127.0.0.13", tls.port, verify_tls=True)
    assert not r.ok and "certificate verify failed" in r.reason.lower()


def test_tls_verification_is_a_setting_of_the_service_api_to_daemon(web, api, make_service):
    """check_verify_tls, set through the API, reaches the check healthcheckd builds for each real server."""
    from healthchecks.daemon import check_spec
    from virtualservices.models import VirtualService

    _, tls = web
    svc = make_service([{"address": "127.0.0.13", "port": tls.port}], check_type="https")
    rs = svc.real_servers.get()
    assert run_check_sync(check_spec(svc, rs, "")).ok  # off by default: the self-signed certificate is fine
    res = api.patch(f"/api/v1/virtual-services/{svc.pk}/", {"check_verify_tls": True}, format="json")
    assert res.status_code == 200 and res.json()["check_verify_tls"] is True
    svc = VirtualService.objects.get(pk=svc.pk)
    result = run_check_sync(check_spec(svc, rs, ""))
    assert not result.ok and "certificate verify failed" in result.reason.lower()


def test_https_against_a_plain_http_port_fails(web):
    plain, _ = web
    r = check("https", "127.0.0.13", plain.port)
    assert not r.ok


def test_sstp_preset_expects_401_on_the_sstp_url(web):
    _, tls = web
    r = check("sstp", "127.0.0.13", tls.port)
    assert r.ok and r.reason == "HTTP 401", r.reason
    srv = servers.WebServer("127.0.0.14", tls=None)  # an HTTP server without SSTP: TLS fails
    try:
        assert not check("sstp", "127.0.0.14", srv.port).ok
    finally:
        srv.close()
    # The expected answer is configurable: here "/" answers 200, which is not SSTP's 401.
    r = check("sstp", "127.0.0.13", tls.port, request="/")
    assert not r.ok and r.reason == "HTTP status 200, expected 401"


def test_http_refused_when_the_server_is_gone():
    port = servers.free_port("127.0.0.15")
    r = check("http", "127.0.0.15", port)
    assert not r.ok and r.reason == "connection refused"


# --------------------------------------------------------------------------- UDP, ICMP


def test_udp_reply_expected_text_and_port_unreachable():
    echo = servers.UdpEcho("127.0.0.16", reply=b"PONG fulcrum\n")
    try:
        assert check("udp", "127.0.0.16", echo.port, request="PING").ok
        assert check("udp", "127.0.0.16", echo.port, request="PING", response="PONG").ok
        r = check("udp", "127.0.0.16", echo.port, request="PING", response="HELLO")
        assert not r.ok and "does not contain 'HELLO'" in r.reason
    finally:
        echo.close()
    r = check("udp", "127.0.0.16", echo.port, request="PING")
    assert not r.ok and r.reason == "port unreachable"


def test_udp_silence_is_a_reply_timeout():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.16", 0))  # bound, never answers
    try:
        r = check("udp", "127.0.0.16", s.getsockname()[1], timeout=0.3)
        assert not r.ok and r.reason == "reply timeout after 0.3 s"
    finally:
        s.close()


def test_icmp_echo_on_loopback_v4_and_v6():
    assert check("icmp", "127.0.0.1").ok
    assert check("icmp", "127.0.0.17").ok
    assert check("icmp", "::1").ok


def test_icmp_no_reply_is_a_timeout():
    # A private namespace whose kernel ignores echo requests: a real host that does not answer.
    with servers.netns(f"fulcrum-hc-icmp-{os.getpid()}") as ns:
        ok, out = check_in_ns(ns, "icmp", "127.0.0.1")
        assert ok, out
        subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.icmp_echo_ignore_all=1"], check=True)
        ok, out = check_in_ns(ns, "icmp", "127.0.0.1", "timeout=0.3")
        assert not ok and "echo reply timeout after 0.3 s" in out, out


# --------------------------------------------------------------------------- DNS (dnsmasq)


def test_dns_against_dnsmasq(tmp_path):
    with servers.dnsmasq(tmp_path, "127.0.0.18") as port:
        r = check("dns", "127.0.0.18", port, request="healthy.fulcrum.test")
        assert r.ok and "1 answer" in r.reason, r.reason
        assert check("dns", "127.0.0.18", port, request="healthy.fulcrum.test A", response="192.0.2.7").ok
        r = check("dns", "127.0.0.18", port, request="healthy.fulcrum.test", response="192.0.2.8")
        assert not r.ok and "expected 192.0.2.8" in r.reason
        # No upstream: any other name is refused, which is not a healthy DNS server for it.
        r = check("dns", "127.0.0.18", port, request="example.org")
        assert not r.ok and r.reason == "DNS answer REFUSED for example.org"
    r = check("dns", "127.0.0.18", port, request="healthy.fulcrum.test")
    assert not r.ok and r.reason == "port unreachable"


# --------------------------------------------------------------------------- RADIUS (FreeRADIUS)


def test_radius_against_freeradius_reject_accept_and_wrong_secret(tmp_path):
    with servers.freeradius(tmp_path, "127.0.0.19", "s3cret-radius") as (port, _):
        r = check("radius", "127.0.0.19", port, secret="s3cret-radius")
        assert r.ok and r.reason == "Access-Reject", r.reason  # unknown user: rejected, but alive
        r = check("radius", "127.0.0.19", port, secret="not-the-secret", timeout=0.5)
        assert not r.ok and r.reason == "reply timeout after 0.5 s"  # FreeRADIUS drops it
    r = check("radius", "127.0.0.19", port, secret="s3cret-radius")
    assert not r.ok and r.reason == "port unreachable"


def test_radius_accept_when_the_user_is_known(tmp_path):
    with servers.freeradius(tmp_path, "127.0.0.20", "s3cret-radius", accept_user=True) as (port, _):
        r = check("radius", "127.0.0.20", port, secret="s3cret-radius")
        assert r.ok and r.reason == "Access-Accept", r.reason


def test_radius_reply_authenticity_is_verified():
    secret, ident, auth = b"k", 7, os.urandom(16)
    body = bytes([rad.ACCESS_REJECT, ident]) + (20).to_bytes(2, "big")
    import hashlib

    good = body + hashlib.md5(body + auth + secret).digest()
    assert rad.verify_reply(good, secret, ident, auth) == rad.ACCESS_REJECT
    forged = body + hashlib.md5(body + auth + b"other").digest()
    with pytest.raises(rad.CheckFailed, match="not authentic"):
        rad.verify_reply(forged, secret, ident, auth)


def test_radius_without_a_secret_fails_clearly():
    r = check("radius", "127.0.0.1", 1812)
    assert not r.ok and r.reason == "no RADIUS shared secret configured"


# --------------------------------------------------------------------------- IKEv2 (strongSwan charon)


def test_ike_sa_init_is_well_formed():
    msg = ike.ike_sa_init(b"12345678")
    assert len(msg) == int.from_bytes(msg[24:28], "big")
    assert msg[16] == ike.PAYLOAD_SA and msg[17] == 0x20 and msg[18] == ike.IKE_SA_INIT and msg[19] == 0x08


def test_ikev2_against_strongswan_charon(tmp_path):
    with servers.netns(f"fulcrum-hc-ike-{os.getpid()}") as ns:
        ok, out = check_in_ns(ns, "ikev2", "127.0.0.1", "timeout=0.5")
        assert not ok and "port unreachable" in out, out  # nothing on UDP 500 yet
        with servers.charon(tmp_path, ns):
            ok, out = check_in_ns(ns, "ikev2", "127.0.0.1")
            assert ok and "IKE_SA_INIT answered" in out, out
            ok, out = check_in_ns(ns, "ikev2", "127.0.0.1", "4500")  # NAT-T port, non-ESP marker
            assert ok and "IKE_SA_INIT answered" in out, out
        log = (tmp_path / "charon.log").read_text()
        assert "parsed IKE_SA_INIT request 0 [ SA KE No ]" in log  # charon understood every payload
        ok, out = check_in_ns(ns, "ikev2", "127.0.0.1", "timeout=0.5")
        assert not ok, out


def test_ikev2_silence_is_a_timeout():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.21", 0))
    try:
        r = check("ikev2", "127.0.0.21", s.getsockname()[1], timeout=0.3)
        assert not r.ok and r.reason == "reply timeout after 0.3 s"
    finally:
        s.close()


# --------------------------------------------------------------------------- external scripts


@pytest.fixture
def scripts(tmp_path):
    d = tmp_path / "checks"
    d.mkdir()
    for name, body in {
        "ok.sh": 'echo "fine: $1 $2 $3 $4"\nexit 0\n',
        "fail.sh": 'echo "database down on $3"\nexit 2\n',
        "slow.sh": "sleep 30\n",
        "args.sh": '[ "$#" = 4 ] && [ "$1" = "192.0.2.10" ] && [ "$2" = "443" ] && [ "$3" = "127.0.0.1" ] '
                   '&& [ "$4" = "8443" ]\n',
    }.items():
        p = d / name
        p.write_text("#!/bin/sh\n" + body)
        p.chmod(0o755)
    (d / "noexec.sh").write_text("#!/bin/sh\nexit 0\n")
    return d


def ext(scripts, name, timeout=2.0):
    return check("external", "127.0.0.1", 8443, script=name, script_dir=str(scripts), vip="192.0.2.10",
                 vip_port=443, timeout=timeout)


def test_external_script_exit_status_and_arguments(scripts):
    r = ext(scripts, "ok.sh")
    assert r.ok and r.reason == "fine: 192.0.2.10 443 127.0.0.1 8443"
    assert ext(scripts, "args.sh").ok
    r = ext(scripts, "fail.sh")
    assert not r.ok and r.reason == "script fail.sh exited 2: database down on 127.0.0.1"


def test_external_script_timeout_kills_it(scripts):
    r = ext(scripts, "slow.sh", timeout=0.3)
    assert not r.ok and r.reason == "script timeout after 0.3 s"
    out = subprocess.run(["pgrep", "-f", str(scripts / "slow.sh")], capture_output=True, text=True)
    assert out.stdout.strip() == ""


def test_external_script_only_from_the_directory_and_executable(scripts):
    assert ext(scripts, "../checks/ok.sh").reason == "invalid script name '../checks/ok.sh'"
    assert "not found" in ext(scripts, "missing.sh").reason
    assert ext(scripts, "noexec.sh").reason == "script noexec.sh is not executable"
