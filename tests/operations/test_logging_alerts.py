"""Structured log lines (stdout, remote syslog over UDP) and alert e-mails on apply failure and drift."""

import json
import logging
import logging.config
import socket

import pytest
from django.core import mail

from appliance.logs import KeyValueFormatter, logging_config, parse_hostport
from cluster.models import ApplyRun, DriftCheck
from operations.conf import email_settings, https_settings


def record(msg="apply finished run=%s", *args, **extra):
    rec = logging.LogRecord("fulcrum.test", logging.WARNING, __file__, 1, msg, args or (3,), None)
    rec.__dict__.update(extra)
    return rec


def test_key_value_lines_quote_what_needs_quoting():
    line = KeyValueFormatter().format(record("apply %s failed", "#3", remote="10.0.0.9", why='a "b"'))
    assert line.startswith("ts=")
    assert ' level=WARNING logger=fulcrum.test msg="apply #3 failed" remote=10.0.0.9 why="a \\"b\\""' in line
    assert "\n" not in line


def test_stdout_json_lines(capsys):
    logging.config.dictConfig(logging_config({"FULCRUM_LOG_FORMAT": "json"}))
    try:
        logging.getLogger("fulcrum.test").warning("drift on %s", "lb1", extra={"differences": 2})
        line = capsys.readouterr().out.strip().splitlines()[-1]
        data = json.loads(line)
        assert data["msg"] == "drift on lb1" and data["level"] == "WARNING" and data["differences"] == 2
    finally:
        logging.config.dictConfig(logging_config({}))


def test_remote_syslog_over_udp():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    port = sock.getsockname()[1]
    config = logging_config({"FULCRUM_SYSLOG": f"127.0.0.1:{port}", "FULCRUM_SYSLOG_FACILITY": "local3"})
    logging.config.dictConfig(config)
    try:
        logging.getLogger("fulcrum.test").error("apply failed run=%s", 9)
        data = sock.recv(4096).decode()
    finally:
        logging.config.dictConfig(logging_config({}))
        sock.close()
    # <PRI> = facility local3 (19) * 8 + error (3) = 155
    assert data.startswith("<155>fulcrum[")
    assert 'level=ERROR logger=fulcrum.test msg="apply failed run=9"' in data


def test_hostport_forms():
    assert parse_hostport("logs.example:5514") == ("logs.example", 5514)
    assert parse_hostport("10.1.1.1") == ("10.1.1.1", 514)
    assert parse_hostport("[2001:db8::1]:1514") == ("2001:db8::1", 1514)


def test_smtp_settings_from_the_environment():
    assert "EMAIL_BACKEND" not in email_settings({})
    conf = email_settings({"FULCRUM_SMTP_HOST": "mail.example", "FULCRUM_SMTP_PORT": "587",
                           "FULCRUM_SMTP_USER": "u", "FULCRUM_SMTP_PASSWORD": "p", "FULCRUM_SMTP_STARTTLS": "1",
                           "FULCRUM_SMTP_FROM": "lb@example", "FULCRUM_ALERT_EMAILS": "a@example, b@example"})
    assert conf["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert (conf["EMAIL_HOST"], conf["EMAIL_PORT"], conf["EMAIL_USE_TLS"], conf["EMAIL_USE_SSL"]) == \
        ("mail.example", 587, True, False)
    assert conf["DEFAULT_FROM_EMAIL"] == "lb@example"
    assert conf["FULCRUM_ALERT_EMAILS"] == ["a@example", "b@example"]


def test_https_turns_on_hsts_and_secure_cookies():
    assert https_settings({}) == {}
    conf = https_settings({"FULCRUM_HTTPS": "1"})
    assert conf["SECURE_HSTS_SECONDS"] >= 31536000
    assert conf["SESSION_COOKIE_SECURE"] and conf["CSRF_COOKIE_SECURE"]


@pytest.fixture
def alert_mail(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.FULCRUM_ALERT_EMAILS = ["noc@example.net"]
    return mail.outbox


@pytest.mark.django_db(transaction=True)
def test_a_failed_apply_mails_the_report(alert_mail):
    run = ApplyRun.objects.create(username="alice")
    run.status = ApplyRun.SUCCESS
    run.save()
    assert alert_mail == []
    run = ApplyRun.objects.create(username="alice")
    run.status, run.error, run.dataplane, run.duration_ms = ApplyRun.FAILED, "kernel said no", "kernel", 12
    run.save()
    assert len(alert_mail) == 1
    assert alert_mail[0].subject == f"[Fulcrum] apply #{run.pk} failed and was rolled back"
    assert "kernel said no" in alert_mail[0].body and alert_mail[0].to == ["noc@example.net"]


@pytest.mark.django_db(transaction=True)
def test_drift_mails_once_when_it_begins(alert_mail):
    DriftCheck.objects.create(drift=False)
    DriftCheck.objects.create(drift=True, differences=["add ipvs service 192.0.2.1:80"])
    DriftCheck.objects.create(drift=True, differences=["add ipvs service 192.0.2.1:80"])
    assert len(alert_mail) == 1
    assert "add ipvs service 192.0.2.1:80" in alert_mail[0].body
    DriftCheck.objects.create(drift=False)
    DriftCheck.objects.create(drift=True, differences=["x"])
    assert len(alert_mail) == 2


@pytest.mark.django_db(transaction=True)
def test_no_recipients_no_mail_and_a_dead_server_breaks_nothing(settings):
    settings.FULCRUM_ALERT_EMAILS = []
    ApplyRun.objects.create(username="a", status=ApplyRun.FAILED)
    settings.FULCRUM_ALERT_EMAILS = ["noc@example.net"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 1
    ApplyRun.objects.create(username="a", status=ApplyRun.FAILED)  # port 9: refused, logged, not raised
