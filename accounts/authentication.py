"""API token authentication: `Authorization: Bearer flc_…` (or `Token flc_…`)."""

from django.utils import timezone
from rest_framework import authentication, exceptions

from audit.context import set_actor

from . import throttle
from .models import ApiToken


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keywords = ("bearer", "token")

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if len(header) != 2 or header[0].lower() not in self.keywords:
            return None
        if throttle.address_throttled(request):
            raise exceptions.Throttled(wait=throttle.wait_minutes() * 60,
                                       detail="Too many failed authentications from this address.")
        token = ApiToken.authenticate(header[1])
        if token is None or not token.user.is_active:
            throttle.record_failure(request, throttle.API_TOKEN)
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked API token.")
        # Throttle the write: last-used is informative, not worth a write per request.
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        set_actor(token.user, token.user.username)
        return token.user, token

    def authenticate_header(self, request):
        return 'Bearer realm="fulcrum"'
