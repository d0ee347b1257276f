"""HTTPS between the two appliances, pinned to the peer's certificate fingerprint.

Appliances use self-signed certificates, so no CA can vouch for the peer. Instead the admin who
pairs confirms the peer's SHA-256 fingerprint (shown by the pairing form/API, compared with what the
peer's console or browser shows); from then on every request to the peer is refused unless the
certificate it presents has exactly that fingerprint.
"""

from __future__ import annotations

import hashlib
import http.client
import re
import socket
import ssl
import urllib.request
from pathlib import Path


class FingerprintMismatch(ssl.SSLError):
    pass


def fingerprint(der: bytes) -> str:
    """SHA256:AB:CD:… (the form browsers and `openssl x509 -fingerprint -sha256` show)."""
    digest = hashlib.sha256(der).hexdigest().upper()
    return "SHA256:" + ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def normalise(value: str) -> str:
    """Accept the fingerprint as typed: with or without "SHA256:", colons, spaces, any case."""
    body = re.sub(r"^\s*SHA-?256(\s*FINGERPRINT)?\s*[:=]?", "", value.upper())
    hexed = "".join(c for c in body if c in "0123456789ABCDEF")
    if len(hexed) != 64:
        return ""
    return "SHA256:" + ":".join(hexed[i:i + 2] for i in range(0, 64, 2))


def _unverified_context() -> ssl.SSLContext:
    # No CA check: the pin below is the check.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def server_fingerprint(host: str, port: int, timeout: float = 10.0) -> str:
    """The fingerprint of the certificate the server at host:port presents. OSError when unreachable."""
    with socket.create_connection((host, port), timeout=timeout) as raw:
        with _unverified_context().wrap_socket(raw, server_hostname=host) as tls:
            return fingerprint(tls.getpeercert(binary_form=True))


def own_fingerprint() -> str:
    """This appliance's certificate (settings.FULCRUM_TLS_CERT, as gunicorn serves it), or "" when it serves
    no TLS itself."""
    from django.conf import settings

    try:
        return fingerprint(ssl.PEM_cert_to_DER_cert(Path(settings.FULCRUM_TLS_CERT).read_text()))
    except (OSError, ValueError):
        return ""


class _PinnedConnection(http.client.HTTPSConnection):
    pin = ""

    def connect(self):
        super().connect()
        got = fingerprint(self.sock.getpeercert(binary_form=True))
        if got != self.pin:
            self.sock.close()
            raise FingerprintMismatch(f"the peer's certificate is {got}, not the confirmed {self.pin}")


class _PinnedHandler(urllib.request.HTTPSHandler):
    def __init__(self, pin: str):
        super().__init__(context=_unverified_context())
        self.pin = pin

    def https_open(self, req):
        pin = self.pin

        class Connection(_PinnedConnection):
            pass

        Connection.pin = pin
        return self.do_open(Connection, req, context=self._context)


def pinned_opener(pin: str) -> urllib.request.OpenerDirector:
    """An opener for https:// URLs that accepts only a certificate with fingerprint `pin` (no proxies)."""
    return urllib.request.build_opener(urllib.request.ProxyHandler({}), _PinnedHandler(pin))
