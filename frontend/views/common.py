from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from accounts.roles import can


def require(request, capability: str):
    """Refuse server-side what the role may not do, whatever the page showed."""
    if not can(request.user, capability):
        raise PermissionDenied()  # the 403 page says what the role allows


def back_to(request, default: str) -> str:
    """Where a form or action came from (`next`, a path on this site only), else `default` (a URL name)."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return reverse(default)


def filtered(request, filterset_class, queryset):
    """The list filtered by the API's own FilterSet from the page's query (same parameter names); a value
    the FilterSet refuses (an unknown method, a malformed address) filters nothing."""
    return filterset_class(request.GET, queryset=queryset).qs


def paginate(request, items, default: int = 100, sizes=(50, 100, 250, 0)):
    """(page, per_page) with ?page= and ?per_page= (0 = all)."""
    try:
        per_page = int(request.GET.get("per_page", default))
    except ValueError:
        per_page = default
    if per_page not in sizes:
        per_page = default
    paginator = Paginator(items, per_page or max(len(items), 1))
    page = paginator.get_page(request.GET.get("page"))
    return page, per_page


def query_without(request, *names) -> str:
    params = request.GET.copy()
    for name in names:
        params.pop(name, None)
    return params.urlencode()


def saved(form):
    """form.save(), or None with the errors on the form when a rule checked again under the save's lock
    refuses (another request saved the same real server or service key a moment before)."""
    try:
        return form.save()
    except ValidationError as exc:
        for field, errors in exc.error_dict.items() if hasattr(exc, "error_dict") else [(None, exc.error_list)]:
            form.add_error(field if field in form.fields else None, errors)
        return None


def model_form_page(request, form, *, kind: str, back: str, intro: str, saved_note: str = ""):
    """Add/modify one object on the generic form page: POST valid → save, say so, back to `back`."""
    if request.method == "POST" and form.is_valid() and (obj := saved(form)) is not None:
        messages.success(request, f"{kind[:1].upper()}{kind[1:]} {obj} saved.{saved_note}")
        return redirect(back)
    obj = form.instance if form.instance.pk else None
    return render(request, "frontend/form.html", {
        "form": form, "title": f"Modify {kind} {obj}" if obj else f"Add a {kind}", "cancel": reverse(back),
        "intro": intro})


def confirm_delete(request, obj, kind: str, back: str, done: str, detail: str = "", delete=None):
    """GET: ask; POST: delete (with `delete(obj)` when the object needs more than obj.delete()),
    say so, and go back to the `back` page."""
    if request.method == "POST":
        (delete or (lambda o: o.delete()))(obj)
        messages.success(request, done)
        return redirect(back)
    return render(request, "frontend/confirm_delete.html",
                  {"object": obj, "kind": kind, "cancel": reverse(back), "detail": detail})


def refused_form(form_class, request, form, exc):
    """A pairing form again with the refusal (ha.pairing.PairingRefused) on it. When the other appliance's
    certificate must be confirmed, its fingerprint is filled in for the admin to compare, then confirm."""
    if not exc.fingerprint:
        form.add_error(None, str(exc))
        return form
    form = form_class({**request.POST.dict(), "fingerprint": exc.fingerprint})
    form.is_valid()
    form.add_error("fingerprint", str(exc))
    return form
