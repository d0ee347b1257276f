"""GET /metrics: Prometheus text format for any logged-in user or API token (any role)."""

from __future__ import annotations

from django.http import HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from rest_framework.exceptions import AuthenticationFailed, Throttled

from accounts.authentication import ApiTokenAuthentication

from . import metrics

UNAUTHORIZED = 'Bearer realm="fulcrum"'


def _authorized(request) -> bool:
    if request.user.is_authenticated:
        return True
    try:
        found = ApiTokenAuthentication().authenticate(request)
    except (AuthenticationFailed, Throttled):  # a throttled address gets no more tries here either
        return False
    return found is not None


@require_GET
def metrics_view(request):
    if not _authorized(request):
        response = HttpResponse("An API token (Authorization: Bearer flc_…) or a login is required.\n",
                                status=401, content_type="text/plain; charset=utf-8")
        response["WWW-Authenticate"] = UNAUTHORIZED
        return response
    return HttpResponse(metrics.render(), content_type=CONTENT_TYPE_PLAIN_0_0_4)  # what every Prometheus reads
