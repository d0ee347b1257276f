"""gunicorn for the systemd install: HTTPS with the certificate made at install (replace the files to
use your own), FULCRUM_LISTEN (default [::]:443), FULCRUM_WEB_WORKERS (default 3)."""

import os

_tls = os.environ.get("FULCRUM_TLS_DIR", "/etc/fulcrum/tls")
bind = [os.environ.get("FULCRUM_LISTEN", "[::]:443")]
workers = int(os.environ.get("FULCRUM_WEB_WORKERS", "3"))
certfile = os.environ.get("FULCRUM_TLS_CERT", f"{_tls}/cert.pem")
keyfile = os.environ.get("FULCRUM_TLS_KEY", f"{_tls}/key.pem")
accesslog = "-"
access_log_format = 'remote=%(h)s method=%(m)s path="%(U)s" status=%(s)s bytes=%(B)s ms=%(M)s'
forwarded_allow_ips = ""  # no proxy in front: REMOTE_ADDR is the client (the lockdown relies on it)
