"""Settings derived from the environment, imported by appliance/settings.py (no Django app imports).

SMTP for alert e-mails:
  FULCRUM_SMTP_HOST (set: SMTP backend), FULCRUM_SMTP_PORT (25), FULCRUM_SMTP_USER, FULCRUM_SMTP_PASSWORD,
  FULCRUM_SMTP_STARTTLS (0/1), FULCRUM_SMTP_SSL (0/1), FULCRUM_SMTP_TIMEOUT (10), FULCRUM_SMTP_FROM
  FULCRUM_ALERT_EMAILS: comma-separated recipients of apply-failure and drift alerts
HTTPS: FULCRUM_HTTPS=1 → HSTS, secure session and CSRF cookies
"""

from __future__ import annotations

import os


def _bool(env, name: str, default: bool = False) -> bool:
    return str(env.get(name, str(int(default)))).lower() in ("1", "true", "yes", "on")


def email_settings(env: dict | None = None) -> dict:
    env = os.environ if env is None else env
    out = {
        "FULCRUM_ALERT_EMAILS": [a.strip() for a in env.get("FULCRUM_ALERT_EMAILS", "").split(",") if a.strip()],
        "DEFAULT_FROM_EMAIL": env.get("FULCRUM_SMTP_FROM", "fulcrum@localhost"),
        "SERVER_EMAIL": env.get("FULCRUM_SMTP_FROM", "fulcrum@localhost"),
    }
    if env.get("FULCRUM_SMTP_HOST"):
        out.update(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST=env["FULCRUM_SMTP_HOST"],
            EMAIL_PORT=int(env.get("FULCRUM_SMTP_PORT", "25")),
            EMAIL_HOST_USER=env.get("FULCRUM_SMTP_USER", ""),
            EMAIL_HOST_PASSWORD=env.get("FULCRUM_SMTP_PASSWORD", ""),
            EMAIL_USE_TLS=_bool(env, "FULCRUM_SMTP_STARTTLS"),
            EMAIL_USE_SSL=_bool(env, "FULCRUM_SMTP_SSL"),
            EMAIL_TIMEOUT=int(env.get("FULCRUM_SMTP_TIMEOUT", "10")),
        )
    return out


def https_settings(env: dict | None = None) -> dict:
    env = os.environ if env is None else env
    if not _bool(env, "FULCRUM_HTTPS"):
        return {}
    return {
        "SECURE_HSTS_SECONDS": int(env.get("FULCRUM_HSTS_SECONDS", str(365 * 24 * 3600))),
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": False,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        # gunicorn terminates TLS itself (wsgi.url_scheme is https), so no proxy header is trusted.
    }
