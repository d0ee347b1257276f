"""Keep every /api/ answer JSON, also where DRF's exception handler does not reach.

Django itself answers unknown URLs (HTML 404), a missing trailing slash (HTML 301), errors raised
outside a DRF view, and some views build their own error bodies. Under /api/ this middleware turns
each of those into the one error shape of appliance.exceptions, and serves a URL missing only its
trailing slash as if it had it (a redirect would turn a client's POST into a GET).
"""

from __future__ import annotations

import json
import logging

from django.http import JsonResponse
from django.urls import is_valid_path
from rest_framework import exceptions

from .exceptions import body_for, is_error_body

API_PREFIX = "/api/"
KEPT_HEADERS = ("WWW-Authenticate", "Retry-After", "Allow", "ETag")
CODES = {400: "invalid", 401: "not_authenticated", 403: "permission_denied", 404: "not_found",
         405: "method_not_allowed", 406: "not_acceptable", 409: "conflict", 412: "precondition_failed",
         413: "request_too_large", 415: "unsupported_media_type", 429: "throttled"}
REASONS = {404: "Not found: no such API resource.", 500: "Server Error (500)"}

log = logging.getLogger(__name__)


def _json(response):
    if "json" not in response.get("Content-Type", ""):
        return None
    try:
        return json.loads(response.content)
    except ValueError:
        return None


def exception_for(status_code: int, data) -> exceptions.APIException:
    """A DRF exception carrying a view's own error body (or the status' reason) with its code."""
    if status_code == 400 and isinstance(data, dict) and "detail" not in data:
        return exceptions.ValidationError(data)
    detail = data.get("detail") if isinstance(data, dict) and "detail" in data else data
    exc = exceptions.APIException(detail or REASONS.get(status_code, f"HTTP {status_code}"),
                                  code=CODES.get(status_code, "error"))
    exc.status_code = status_code
    return exc


class ApiErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        path = request.path_info
        if not path.endswith("/") and not is_valid_path(path) and is_valid_path(f"{path}/"):
            request.path_info, request.path = f"{path}/", f"{request.path}/"
        response = self.get_response(request)
        if response.status_code < 400:
            return response
        data = _json(response)
        if is_error_body(data):
            return response
        body = body_for(exception_for(response.status_code, data))
        if isinstance(data, dict) and "detail" in data:
            # Facts a view adds beside its message (a certificate fingerprint to confirm, the kernel's
            # answer to a drain) stay: clients act on them.
            body.update({k: v for k, v in data.items() if k not in body})
        fixed = JsonResponse(body, status=response.status_code)
        for header in KEPT_HEADERS:
            if response.has_header(header):
                fixed[header] = response[header]
        return fixed

    def process_exception(self, request, exception):
        if not request.path_info.startswith(API_PREFIX):
            return None
        log.exception("unhandled error answering %s", request.path_info)
        return JsonResponse(body_for(exception_for(500, None)), status=500)
