"""System settings: validation naming the field, roles, the host's fields only where owned, SMTP and syslog
read by the rest of the appliance, test mail / test syslog line, and the host files rendered."""

from __future__ import annotations

import socket
from io import StringIO

import pytest
from django.core.management import call_command

from netconfig.models import SystemSettings
from tests.conftest import error_fields
from tests.network.smtpsink import SmtpSink

pytestmark = pytest.mark.django_db
URL = "/api/v1/system/settings/"


def patch(api, body, expect=200):
    """The answer's body; for a 400, its field errors ({field: [messages]}) read from the one error shape."""
    r = api.patch(URL, body, format="json")
    assert r.status_code == expect, r.content
    return error_fields(r) if expect == 400 else r.json()


@pytest.mark.parametrize("body, field, words", [
    ({"hostname": "lb_1"}, "hostname", "host name"),
    ({"dns_servers": ["192.0.2.1", "resolver"]}, "dns_servers", "'resolver' is not an IP address"),
    ({"dns_servers": ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"]}, "dns_servers", "3"),
    ({"timezone": "Mars/Olympus"}, "timezone", "not a time zone"),
    ({"ntp_servers": ["ntp .example.net"]}, "ntp_servers", "not a host name"),
    ({"alert_emails": ["ops@"]}, "alert_emails", "not an e-mail address"),
    ({"syslog_targets": ["192.0.2.50:99999"]}, "syslog_targets", "host:port"),
    ({"smtp_starttls": True, "smtp_ssl": True}, "smtp_ssl", "not both"),
])
def test_bad_settings_name_the_field(api, body, field, words):
    errors = patch(api, body, 400)
    assert field in errors and any(words in m for m in errors[field]), errors


def test_saving_host_fields_asks_the_root_writer(api, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    data = patch(api, {"hostname": "lb1.example.net", "dns_servers": ["192.0.2.53"], "search_domains": ["example.net"],
                       "timezone": "Europe/Berlin", "ntp_servers": ["0.pool.ntp.org"], "smtp_password": "s3cret-relay"})
    assert data["hostname"] == "lb1.example.net" and "smtp_password" not in data and data["smtp_password_set"]
    assert (tmp_path / "system-apply.request").exists()
    (tmp_path / "system-apply.request").unlink()
    patch(api, {"alert_emails": ["ops@example.net"]})  # not a host field: nothing for the root writer
    assert not (tmp_path / "system-apply.request").exists()
    assert SystemSettings.load().smtp_password == "s3cret-relay"  # kept when left out


def test_host_fields_are_read_only_where_not_owned(api, settings):
    settings.FULCRUM_MANAGE_NETWORK = "no"
    r = api.patch(URL, {"hostname": "lb2"}, format="json")
    assert r.status_code == 409 and "hostname: FULCRUM_MANAGE_NETWORK=no" in r.json()["detail"]
    patch(api, {"syslog_targets": ["192.0.2.50:514"]})  # the appliance's own settings stay editable


@pytest.mark.parametrize("role", ["operator", "readonly"])
def test_only_admins_change_them(client_for, role):
    c = client_for(role)
    assert c.get(URL).status_code == 200
    assert c.patch(URL, {"hostname": "x"}, format="json").status_code == 403
    assert c.post(URL + "test-mail/", {}, format="json").status_code == 403


def test_stored_smtp_relay_carries_alerts_and_the_test_mail(api):
    from netconfig.system import send_alert

    sink = SmtpSink()
    try:
        patch(api, {"smtp_host": "127.0.0.1", "smtp_port": sink.port, "smtp_from": "lb1@example.net",
                    "alert_emails": ["ops@example.net"]})
        r = api.post(URL + "test-mail/", {}, format="json")
        assert r.status_code == 200 and r.json()["sent_to"] == ["ops@example.net"]
    finally:
        sink.close()
    sink.thread.join(5)
    assert sink.messages[0]["rcpt"] == ["ops@example.net"]
    assert "lb1@example.net" in sink.messages[0]["from"] and "test mail" in sink.messages[0]["data"]
    sink = SmtpSink()
    try:
        SystemSettings.objects.filter(pk=1).update(smtp_port=sink.port)
        assert send_alert("apply #3 failed", "details")  # the one mailer: alerts use the stored relay too
    finally:
        sink.close()
    sink.thread.join(5)
    assert "apply #3 failed" in sink.messages[0]["data"]


def test_test_mail_says_what_is_missing_or_failing(api):
    r = api.post(URL + "test-mail/", {}, format="json")
    assert r.status_code == 400 and "No recipient" in r.json()["detail"]
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there
    patch(api, {"smtp_host": "127.0.0.1", "smtp_port": port})
    r = api.post(URL + "test-mail/", {"to": "ops@example.net"}, format="json")
    assert r.status_code == 400 and "Sending failed" in r.json()["detail"]


def test_test_syslog_line_and_the_handler_reads_stored_targets(api):
    from appliance.logs import RemoteSyslogHandler

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    port = sock.getsockname()[1]
    try:
        assert api.post(URL + "test-syslog/").status_code == 400  # no target yet
        patch(api, {"syslog_targets": [f"127.0.0.1:{port}"]})
        r = api.post(URL + "test-syslog/")
        assert r.status_code == 200 and r.json()["sent_to"] == [f"127.0.0.1:{port}"]
        assert "test syslog line from alice" in sock.recv(4096).decode()
        # A process's handler (its refresher thread calls load()) sends there, replacing the default.
        handler = RemoteSyslogHandler(default="127.0.0.1:9", loader="netconfig.system:stored_syslog_targets")
        handler.load()
        assert handler.stored == [("127.0.0.1", port)]
        handler.send_line("from the handler")
        assert sock.recv(4096).decode().endswith("from the handler")
    finally:
        sock.close()


def test_system_apply_renders_the_host_files(tmp_path):
    s = SystemSettings(pk=1, hostname="lb1", dns_servers=["192.0.2.53", "2001:db8::53"], search_domains=["example.net"],
                       timezone="Europe/Berlin", ntp_servers=["192.0.2.123", "ntp.example.net"])
    s.full_clean()
    s.save()
    out = StringIO()
    call_command("system_apply", root=str(tmp_path), stdout=out)
    assert (tmp_path / "etc/hostname").read_text() == "lb1\n"
    assert (tmp_path / "etc/hosts").read_text() == "127.0.0.1\tlocalhost\n127.0.1.1\tlb1\n"
    resolv = (tmp_path / "etc/resolv.conf").read_text()
    assert "nameserver 192.0.2.53\nnameserver 2001:db8::53\nsearch example.net\n" in resolv
    assert (tmp_path / "etc/chrony/sources.d/fulcrum.sources").read_text().endswith(
        "server 192.0.2.123 iburst\nserver ntp.example.net iburst\n")
    assert (tmp_path / "etc/localtime").readlink().as_posix() == "/usr/share/zoneinfo/Europe/Berlin"
    SystemSettings.objects.filter(pk=1).update(time_daemon="timesyncd")
    call_command("system_apply", root=str(tmp_path), stdout=out)
    assert "NTP=192.0.2.123 ntp.example.net" in (tmp_path / "etc/systemd/timesyncd.conf.d/fulcrum.conf").read_text()


def test_hosts_keeps_the_admins_lines_and_replaces_the_old_name():
    from netconfig.hostfiles import hosts_with_hostname

    debian = "127.0.0.1\tlocalhost\n127.0.1.1\tfresh-debian\n# ours\n192.0.2.7 backup\n127.0.1.1 stale\n"
    assert hosts_with_hostname(debian, "lb1.example.net") == (
        "127.0.0.1\tlocalhost\n127.0.1.1\tlb1.example.net\tlb1\n# ours\n192.0.2.7 backup\n")
