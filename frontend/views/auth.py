"""Login, throttled by accounts.throttle (django-axes): a locked username+address, or a throttled address,
gets the same 429 page whether the password is right or not."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.utils import timezone

from accounts import throttle


class LoginView(auth_views.LoginView):
    template_name = "frontend/login.html"
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        if throttle.locked_out(request, request.POST.get("username", "")):
            form = self.get_form()
            form.errors.clear()
            form.add_error(None, f"Too many failed logins. Wait {throttle.wait_minutes()} minutes "
                                 "and try again, or ask an admin.")
            response = self.render_to_response(self.get_context_data(form=form))
            response.status_code = 429
            return response
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        self.request.session["last_seen"] = int(timezone.now().timestamp())
        return super().form_valid(form)
