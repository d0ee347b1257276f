"""Every page needs a login (the API answers 401/403 itself); idle sessions end.

Idle timeout: FULCRUM_IDLE_MINUTES (default 30) without a request a person made. The overview's
2-second refresh sends `X-Fulcrum-Poll: 1` and does not count as activity, so an open tab does not
keep a session alive forever.
"""

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import JsonResponse

OPEN_PREFIXES = ("/login/", "/static/", "/metrics")  # /metrics checks its token or login itself


class LoginRequiredMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        is_api = path.startswith("/api/")
        # The API too: an idle browser session must not go on working (or mint tokens) through /api/.
        if request.user.is_authenticated and hasattr(request, "session"):
            now = int(time.time())
            last = request.session.get("last_seen")
            if last is not None and now - last > settings.FULCRUM_IDLE_MINUTES * 60:
                logout(request)
                messages.info(request, "Your session ended after a period of inactivity. Log in again.")
            elif request.headers.get("X-Fulcrum-Poll") != "1" and (last is None or now - last > 30):
                request.session["last_seen"] = now
        if not request.user.is_authenticated and not is_api and not path.startswith(OPEN_PREFIXES):
            if request.headers.get("X-Fulcrum-Poll") == "1":
                return JsonResponse({"login": settings.LOGIN_URL}, status=401)
            return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
        return self.get_response(request)
