"""System Overview: every service with its real servers, live state, connections, online/drain/halt."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from accounts.roles import CONFIGURE, OPERATE, can
from realservers.actions import ACTIONS, act, kernel_answer_text
from realservers.models import RealServer
from virtualservices.choices import METHODS

from .. import overview_data
from ..applyinfo import apply_summary
from ..overview_states import RS_STATES, VS_STATES
from ..rowhtml import render_rows
from .common import back_to, is_htmx, paginate, query_without, require


def _load(request, summary):
    return overview_data.load(
        applied_at=summary["applied_at"], query=request.GET.get("q", "").strip(),
        state_filter=request.GET.get("state", ""), method=request.GET.get("method", ""))


def overview(request):
    summary = apply_summary()
    data = _load(request, summary)
    page, per_page = paginate(request, data.rows)
    overview_data.attach_stats(page.object_list)
    overview_data.attach_health(page.object_list)
    context = {
        "rows_html": mark_safe(render_rows(page.object_list, can(request.user, CONFIGURE),  # noqa: S308
                                           can(request.user, OPERATE))),
        "data": data, "page": page, "per_page": per_page, "rows": page.object_list,
        "sig": overview_data.signature(page.object_list),
        "q": request.GET.get("q", ""), "state": request.GET.get("state", ""),
        "method": request.GET.get("method", ""), "filters": overview_data.FILTERS, "methods": METHODS,
        "page_sizes": overview_data.PAGE_SIZES, "base_query": query_without(request, "page"),
        "size_query": query_without(request, "page", "per_page"),
        "rs_states": RS_STATES, "vs_states": VS_STATES, "apply": summary,
    }
    template = "frontend/overview_table.html" if request.GET.get("fragment") else "frontend/overview.html"
    return render(request, template, context)


def overview_live(request):
    """The state of the services on the page the browser shows, for the 2-second refresh."""
    summary = apply_summary()
    data = _load(request, summary)
    page, _ = paginate(request, data.rows)
    overview_data.attach_stats(page.object_list)
    overview_data.attach_health(page.object_list)
    payload = overview_data.live_payload(page.object_list, data.summary, summary["pending"], summary["running"])
    return JsonResponse(payload)


@require_POST
def server_state(request, pk, action):
    require(request, OPERATE)
    if action not in ACTIONS:
        raise PermissionDenied("Unknown action.")
    rs = get_object_or_404(RealServer.objects.select_related("service"), pk=pk)
    _, kernel = act([rs], ACTIONS[action])
    text = kernel_answer_text(f"Real server '{rs}'", action, kernel)
    ok = kernel["status"] == "done"
    if is_htmx(request):
        response = HttpResponse(status=204)
        response["HX-Trigger"] = json.dumps({"fulcrum:refresh": {}, "fulcrum:toast": {"text": text}})
        return response
    (messages.success if ok else messages.error)(request, text)
    return redirect(back_to(request, "overview"))
