"""Maintenance: apply, backup & restore, users, API tokens, password."""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, update_session_auth_hash
from django.contrib.auth.forms import PasswordChangeForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST
from django_htmx.http import trigger_client_event

from accounts import service as accounts
from accounts.models import ApiToken
from accounts.roles import APPLY, CONFIGURE, role_of
from appliance.gate import parse_json_bytes
from audit.models import ChangeRecord
from audit.recording import record
from cluster.bundle import DELETE_ALL_CONFIRMATION, export_bundle, import_bundle, preview
from cluster.models import ApplyRun
from cluster.run_liveness import QueueUnavailable
from cluster.tasks import start_apply

from ..applyinfo import apply_progress, request_apply_summary
from ..forms import RestoreForm, TokenForm, UserForm
from .common import confirm_delete, require


def _apply_context(request, run: ApplyRun | None) -> dict:
    summary = request_apply_summary(request)
    since = summary["last_ok"].change_id if summary["last_ok"] else 0
    return {
        "apply": summary, "run": run, "progress": apply_progress(run),
        "runs": ApplyRun.objects.only("id", "status", "username", "reason", "queued_at", "finished_at",
                                      "duration_ms", "operation_count", "dataplane", "error")[:15],
        "changes": ChangeRecord.objects.filter(object_type__in=("virtualservice", "realserver", "floatingip",
                                                                "clustersettings", "config"), id__gt=since)[:50],
    }


def apply_page(request):
    running = request_apply_summary(request)["running"]
    run = ApplyRun.objects.get(pk=running.pk) if running else None
    return render(request, "frontend/apply.html", _apply_context(request, run))


@require_POST
def apply_start(request):
    """Apply now: htmx swaps in the progress, which then polls itself (apply_run_progress) until the end."""
    require(request, APPLY)
    try:
        run = start_apply(request.user, request.user.username)
        run.refresh_from_db()  # a quick worker (or the in-process thread) may have moved it already
    except QueueUnavailable:  # Redis is down: the run is already marked failed with the reason
        run = ApplyRun.objects.order_by("-id").first()
    if not request.htmx:
        return redirect("apply")
    return _progress(request, run)


def apply_run_progress(request, pk):
    return _progress(request, get_object_or_404(ApplyRun, pk=pk))


def _progress(request, run: ApplyRun):
    """The progress, and out of band the card's head; once finished also the changes, the history and the
    pending chip, and a toast."""
    context = _apply_context(request, run) | {"oob": True}
    response = render(request, "frontend/_apply_progress.html", context)
    if context["progress"]["finished"]:
        ok = run.status == ApplyRun.SUCCESS
        trigger_client_event(response, "fulcrum:toast", {"text": "Apply finished." if ok else "Apply failed."})
    return response


# ------------------------------------------------------------------ backup & restore
def _restore_dir() -> Path:
    path = Path(settings.DATA_DIR) / "restore"
    path.mkdir(exist_ok=True, mode=0o700)
    return path


def backup(request):
    form = RestoreForm()
    if request.method == "POST":
        require(request, CONFIGURE)
        form = RestoreForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["bundle"]
            try:
                bundle = parse_json_bytes(upload.read())
                diff = preview(bundle)
            except ValueError as exc:
                form.add_error("bundle", f"Not a JSON file: {exc}.")
            except ValidationError as exc:
                errors = getattr(exc, "message_dict", {"bundle": exc.messages})
                for where, texts in list(errors.items())[:20]:
                    form.add_error("bundle", f"{where}: {' '.join(texts)}")
            else:
                key = secrets.token_hex(16)
                fd, _ = tempfile.mkstemp(dir=_restore_dir(), prefix=f"{key}-", suffix=".json")
                with os.fdopen(fd, "w") as fh:
                    json.dump(bundle, fh)
                request.session["restore_key"] = key
                return render(request, "frontend/restore_preview.html", {
                    "diff": diff, "name": upload.name, "key": key,
                    "parts": [("Real server", diff["real_servers"]), ("Floating IP", diff["floating_ips"])],
                    "anything": any(diff[k] for k in ("added", "removed", "changed", "cluster")) or any(
                        diff[p][k] for p in ("real_servers", "floating_ips") for k in ("added", "removed", "changed")),
                    "counts": {"services": len(bundle.get("virtual_services", [])),
                               "servers": sum(len(s.get("real_servers", []))
                                              for s in bundle.get("virtual_services", [])),
                               "floating": len(bundle.get("floating_ips", []))}})
    return render(request, "frontend/backup.html", {"form": form})


def backup_download(request):
    require(request, CONFIGURE)  # a backup holds secrets (RADIUS): admins only, as in the API
    body = json.dumps(export_bundle(), indent=2)
    name = f"fulcrum-config-{timezone.now():%Y%m%d-%H%M%S}.json"
    response = HttpResponse(body, content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@require_POST
def restore_confirm(request):
    require(request, CONFIGURE)
    key = request.POST.get("key", "")
    if not key or key != request.session.get("restore_key"):
        raise PermissionDenied("This restore preview is not yours or has expired; upload the file again.")
    files = list(_restore_dir().glob(f"{key}-*.json"))
    if not files:
        messages.error(request, "The uploaded file is gone; upload it again.")
        return redirect("backup")
    try:
        # Confirmed after a preview that listed every deletion: emptying the configuration was asked for.
        summary = import_bundle(parse_json_bytes(files[0].read_bytes()), confirm=DELETE_ALL_CONFIRMATION)
    except ValidationError as exc:
        messages.error(request, f"Restore refused, nothing changed: {'; '.join(exc.messages[:5])}")
        return redirect("backup")
    finally:
        for f in files:
            f.unlink(missing_ok=True)
        request.session.pop("restore_key", None)
    messages.success(request, f"Configuration restored: {summary['virtual_services']} virtual services, "
                              f"{summary['real_servers']} real servers, {summary['floating_ips']} floating IPs. "
                              "Apply to put it in the kernel.")
    return redirect("apply")


# ------------------------------------------------------------------ users
def users(request):
    require(request, CONFIGURE)
    people = get_user_model().objects.select_related("profile").order_by("username")
    for u in people:
        u.ui_role = role_of(u)
    return render(request, "frontend/users.html", {"people": people})


def user_edit(request, pk=None):
    require(request, CONFIGURE)
    User = get_user_model()
    user = get_object_or_404(User.objects.select_related("profile"), pk=pk) if pk else None
    initial = {"username": user.username, "email": user.email, "role": role_of(user),
               "is_active": user.is_active} if user else {"role": "readonly", "is_active": True}
    form = UserForm(request.POST or None, instance=user, initial=initial)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            if user is None:
                user = accounts.create_user(username=d["username"], email=d["email"], password=d["password"] or None,
                                            role=d["role"], is_active=d["is_active"])
            else:
                user = accounts.update_user(request.user, user, role=d["role"], is_active=d["is_active"],
                                            email=d["email"], password=d["password"] or None)
        except accounts.AccountRuleError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            return render(request, "frontend/form.html", _user_ctx(form, user))
        messages.success(request, f"User '{user.username}' saved.")
        return redirect("users")
    return render(request, "frontend/form.html", _user_ctx(form, user))


def _user_ctx(form, user):
    from django.urls import reverse

    return {"form": form, "title": f"Modify user {user.username}" if user else "Add a user",
            "cancel": reverse("users")}


def user_delete(request, pk):
    require(request, CONFIGURE)
    user = get_object_or_404(get_user_model(), pk=pk)

    def delete(u):
        try:
            accounts.delete_user(request.user, u)
        except accounts.AccountRuleError as exc:
            raise PermissionDenied(exc.message) from None

    return confirm_delete(request, user, "user", "users",
                          f"User '{user.username}' deleted; their API tokens no longer work.", delete=delete)


# ------------------------------------------------------------------ API tokens
def tokens(request):
    form = TokenForm(request.POST or None, user=request.user)
    new_key = None
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            _, new_key = accounts.issue_token(request.user, name=d["name"], owner=d.get("owner"),
                                              scopes=d["scopes"], expires_at=d["expires_at"])
            form = TokenForm(user=request.user)
        except accounts.AccountRuleError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
    visible = accounts.visible_tokens(request.user)
    return render(request, "frontend/tokens.html", {"form": form, "new_key": new_key,
                                                    "mine": visible.filter(user=request.user),
                                                    "others": visible.exclude(user=request.user),
                                                    "now": timezone.now()})


@require_POST
def token_revoke(request, pk):
    token = get_object_or_404(ApiToken.objects.select_related("user"), pk=pk)
    try:
        if accounts.revoke_token(request.user, token):
            messages.success(request, f"Token '{token.name}' revoked.")
    except accounts.AccountRuleError as exc:
        raise PermissionDenied(exc.message) from None
    return redirect("tokens")


def password(request):
    form = PasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        update_session_auth_hash(request, user)
        record(ChangeRecord.ACTION, user, object_type="user", summary="password changed")
        messages.success(request, "Password changed.")
        return redirect("overview")
    return render(request, "frontend/form.html", {"form": form, "title": "Change your password",
                                                  "submit": "Change password"})
