"""What the rest of the appliance reads from the stored system settings (environment as the default)."""

from __future__ import annotations

import logging
import os
import time

from django.conf import settings
from django.core.mail import get_connection, send_mail
from django.db import connection

from appliance.logs import RemoteSyslogHandler, SyslogFormatter, parse_hostport, remote_syslog_handler

from .models import SystemSettings
from .ownership import network_owner

log = logging.getLogger(__name__)

HOST_FIELDS = ("hostname", "dns_servers", "search_domains", "timezone", "ntp_servers", "time_daemon")


def stored_syslog_targets() -> list[str]:
    """Read only: a log line never creates the settings row."""
    row = SystemSettings.objects.filter(pk=1).values_list("syslog_targets", flat=True).first()
    return list(row or [])


def syslog_targets() -> list[str]:
    """For appliance.logs's refresher thread: the stored targets, and that thread's connection closed."""
    try:
        return stored_syslog_targets()
    finally:
        connection.close()


def mail_connection():
    """The stored SMTP relay; without one, the environment's (settings.EMAIL_*)."""
    s = SystemSettings.load()
    if not s.smtp_host:
        return get_connection()
    return get_connection("django.core.mail.backends.smtp.EmailBackend", host=s.smtp_host, port=s.smtp_port,
                          username=s.smtp_user, password=s.smtp_password, use_tls=s.smtp_starttls,
                          use_ssl=s.smtp_ssl, timeout=10)


def mail_sender() -> str:
    return SystemSettings.load().smtp_from or settings.DEFAULT_FROM_EMAIL


def alert_recipients() -> list[str]:
    return list(SystemSettings.load().alert_emails) or list(getattr(settings, "FULCRUM_ALERT_EMAILS", []) or [])


def send_alert(subject: str, body: str, to: list[str] | None = None, *, quiet: bool = True) -> bool:
    """The one mailer: "[Fulcrum] subject" to ``to`` (default: the alert recipients) through the stored relay,
    else the environment's. False when there is no recipient or, ``quiet``, the relay failed (logged): a mail
    server being down never breaks an apply or a health transition. ``quiet=False`` raises (the test mail)."""
    to = alert_recipients() if to is None else to
    if not to:
        return False
    try:
        send_mail(f"[Fulcrum] {subject}", body, mail_sender(), to, fail_silently=False, connection=mail_connection())
    except Exception as e:
        if not quiet:
            raise
        log.warning("alert mail failed subject=%r error=%s", subject, e)
        return False
    log.info("alert mailed subject=%r to=%s", subject, ",".join(to))
    return True


def request_host_apply() -> None:
    """Ask the root writer (fulcrum-system.path → manage.py system_apply) to write the host's files now."""
    with open(os.path.join(settings.DATA_DIR, "system-apply.request"), "w") as fh:
        fh.write(f"{time.time()}\n")


def send_test_mail(to: str = "") -> list[str]:
    recipients = [to] if to else alert_recipients()
    if not recipients:
        raise ValueError("No recipient: enter one, or set the alert recipients first.")
    send_alert("test mail", "This is a test mail from Fulcrum's System settings.", recipients, quiet=False)
    return recipients


def send_test_syslog(username: str) -> list[str]:
    """One line to the remote syslog targets; the running handler learns the stored ones at once."""
    handler = remote_syslog_handler() or RemoteSyslogHandler(default=settings.FULCRUM_SYSLOG)
    handler.stored = [parse_hostport(t) for t in stored_syslog_targets()] or None
    if not (handler.stored or handler.default):
        raise ValueError("No remote syslog target is set.")
    record = logging.LogRecord("fulcrum.test", logging.INFO, __file__, 0, "test syslog line from %s", (username,),
                               None)
    return handler.send_line(SyslogFormatter().format(record))


class HostNotOwned(Exception):
    pass


def save_system_settings(current: SystemSettings, values: dict, save) -> list[str]:
    """Run ``save()``; a change of the host's own fields (hostname, DNS, time) only where the appliance owns
    the host, and then the root writer is asked to apply them. Returns the host fields that changed."""
    changed = [f for f in HOST_FIELDS if f in values and values[f] != getattr(current, f)]
    owned, reason = network_owner()
    if changed and not owned:
        raise HostNotOwned(f"{', '.join(changed)}: {reason}")
    save()
    if changed:
        request_host_apply()
    return changed
