"""Login with throttling: after 5 failures in 15 minutes for a username or a client address, wait."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import views as auth_views
from django.utils import timezone

from ..models import FailedLogin

MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)


def client_address(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def locked_out(username: str, address: str | None) -> bool:
    since = timezone.now() - WINDOW
    recent = FailedLogin.objects.filter(time__gte=since)
    if username and recent.filter(username=username).count() >= MAX_FAILURES:
        return True
    return bool(address) and recent.filter(address=address).count() >= MAX_FAILURES * 4


class LoginView(auth_views.LoginView):
    template_name = "frontend/login.html"
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        username = request.POST.get("username", "")[:150]
        address = client_address(request)
        if locked_out(username, address):
            form = self.get_form()
            form.errors.clear()
            form.add_error(None, f"Too many failed logins. Wait {int(WINDOW.total_seconds() // 60)} minutes "
                                 "and try again, or ask an admin.")
            response = self.render_to_response(self.get_context_data(form=form))
            response.status_code = 429
            return response
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        FailedLogin.objects.create(username=self.request.POST.get("username", "")[:150],
                                   address=client_address(self.request))
        FailedLogin.objects.filter(time__lt=timezone.now() - WINDOW * 4).delete()
        return super().form_invalid(form)

    def form_valid(self, form):
        FailedLogin.objects.filter(username=form.get_user().get_username()).delete()
        self.request.session["last_seen"] = int(timezone.now().timestamp())
        return super().form_valid(form)
