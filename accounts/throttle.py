"""Throttling of password and key guesses, on django-axes.

Two limits, both counted from axes' AccessAttempt rows (one row per normalised username and
client address):
- a username is locked out FROM ONE ADDRESS after settings.AXES_FAILURE_LIMIT failures, so
  nobody can lock a named admin out from somewhere else;
- an address is throttled after ADDRESS_FAILURE_LIMIT failures over all usernames and keys
  (WebUI login, API tokens, HA pairing), so spraying usernames or keys does not help either.

Usernames are normalised (NFKC, stripped, casefolded) before they are counted: " victim",
"victim " and a full-width "ｖｉｃｔｉｍ" are one user for the lockout.
"""

from __future__ import annotations

import unicodedata

from axes.handlers.proxy import AxesProxyHandler
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.db.models import Sum
from django.utils import timezone

ADDRESS_FAILURE_LIMIT = 20

# Pseudo-usernames for failures that carry no username; Django's username validator refuses "<" and ">",
# so they can never collide with a real account.
API_TOKEN = "<api-token>"
PAIRING_TOKEN = "<pairing-token>"


def normalise_username(raw) -> str:
    return unicodedata.normalize("NFKC", str(raw or "")).strip().casefold()[:150]


def axes_username(request, credentials) -> str:
    """AXES_USERNAME_CALLABLE: the normalised username from the credentials or the POSTed form."""
    raw = (credentials or {}).get("username")
    if raw is None and request is not None:
        raw = getattr(request, "POST", {}).get("username")
    return normalise_username(raw)


def client_address(request) -> str:
    """AXES_CLIENT_IP_CALLABLE: the peer of the TCP connection (no forwarded headers are trusted)."""
    return getattr(request, "META", {}).get("REMOTE_ADDR") or ""


def keep_view_response(request, original_response, credentials=None):
    """AXES_LOCKOUT_CALLABLE: each entry point words its own lockout answer (the HA pairing one must look
    exactly like a wrong password), so axes' middleware leaves the view's response alone."""
    return original_response


def _django_request(request):
    return getattr(request, "_request", request)  # a DRF Request wraps the HttpRequest axes annotates


def _cooloff_start():
    return timezone.now() - settings.AXES_COOLOFF_TIME


def address_throttled(request) -> bool:
    address = client_address(_django_request(request))
    total = (AccessAttempt.objects.filter(ip_address=address, attempt_time__gte=_cooloff_start())
             .aggregate(n=Sum("failures_since_start"))["n"] or 0)
    return total >= ADDRESS_FAILURE_LIMIT


def locked_out(request, username: str) -> bool:
    """True when this username may not try from this address now, or the address is throttled."""
    request = _django_request(request)
    AxesProxyHandler.update_request(request)
    return address_throttled(request) or AxesProxyHandler.is_locked(request, {"username": username})


def record_failure(request, username: str) -> None:
    """Count a failed attempt that did not go through django.contrib.auth.authenticate (token keys)."""
    request = _django_request(request)
    AxesProxyHandler.update_request(request)
    user_login_failed.send(sender=__name__, credentials={"username": username}, request=request)


def wait_minutes() -> int:
    return int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
