"""Roles for users, and API tokens stored hashed."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from .roles import READ_ONLY, ROLE_CHOICES, SCOPES

TOKEN_PREFIX = "flc_"


class Profile(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    role = models.CharField(max_length=10, choices=ROLE_CHOICES, default=READ_ONLY)

    def __str__(self):
        return f"{self.user.username} ({self.role})"


def _digest(secret: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough; it is never the plain key.
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def active(self):
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What this token is for, e.g. 'ansible'.")
    key_id = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    scopes = models.JSONField(default=list, help_text=f"What the token may do, of {', '.join(SCOPES)}; "
                                                      "its owner's role caps it at every request.")

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"{self.name} ({TOKEN_PREFIX}{self.key_id}…)"

    @classmethod
    def issue(cls, user, name: str, expires_at=None, scopes=SCOPES) -> tuple[ApiToken, str]:
        """Create a token; the returned plain key is shown once and never stored. Rules (scope caps, expiry in
        the future) are accounts.service.issue_token's; this is only the storage."""
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        token = cls.objects.create(user=user, name=name, key_id=key_id, key_hash=_digest(secret),
                                   expires_at=expires_at, scopes=list(scopes))
        return token, f"{TOKEN_PREFIX}{key_id}.{secret}"

    @classmethod
    def authenticate(cls, plain: str) -> ApiToken | None:
        if not plain.startswith(TOKEN_PREFIX) or "." not in plain:
            return None
        key_id, _, secret = plain[len(TOKEN_PREFIX):].partition(".")
        token = cls.objects.active().select_related("user").filter(key_id=key_id).first()
        if token is None or not hmac.compare_digest(token.key_hash, _digest(secret)):
            return None
        return token

    def allows(self, scope: str) -> bool:
        return scope in self.scopes

    def revoke(self):
        self.revoked_at = timezone.now()
        self.save(update_fields=["revoked_at"])
