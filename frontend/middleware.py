"""Every page needs a login; the API answers 401/403 itself (token or session)."""

from django.conf import settings
from django.contrib.auth.views import redirect_to_login

OPEN_PREFIXES = ("/login/", "/static/")


class LoginRequiredMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        if (not request.user.is_authenticated and not path.startswith("/api/")
                and not path.startswith(OPEN_PREFIXES)):
            return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
        return self.get_response(request)
